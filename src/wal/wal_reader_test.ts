import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import fc from "fast-check";
import { FormatError } from "../errors.ts";
import { Random } from "../../tests/support/random.ts";
import { dumpDatabase, integrityCheck, openWalDatabase } from "../../tests/support/sqlite.ts";
import { patternPage, WalBuilder } from "../../tests/support/wal_builder.ts";
import { bytesReadAt, scanWal, WalReader } from "./wal_reader.ts";

function reader(bytes: Uint8Array, readChunkBytes?: number) {
  return WalReader.open(bytesReadAt(bytes), { readChunkBytes });
}

/** Three transactions over pages 1..4 at `pageSize`; returns the builder for further damage. */
function threeTransactions(pageSize: number, bigEndianChecksum = false): WalBuilder {
  return new WalBuilder({ pageSize, bigEndianChecksum })
    .transaction([{ pgno: 1, page: patternPage(pageSize, 1) }], 1)
    .transaction(
      [2, 3, 1].map((pgno) => ({ pgno, page: patternPage(pageSize, pgno, 1) })),
      3,
    )
    .transaction([{ pgno: 4, page: patternPage(pageSize, 4, 2) }], 4);
}

Deno.test("WalReader reads every committed frame of a real SQLite WAL and rebuilds the database", async () => {
  for (const pageSize of [1024, 4096, 65536]) {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/app.db`;
      const db = openWalDatabase(path, pageSize);
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, blob BLOB)");
      const insert = db.prepare("INSERT INTO t (body, blob) VALUES (?, ?)");
      const random = new Random(pageSize);
      for (let i = 0; i < 40; i++) insert.run(`row ${i}`, random.bytes(random.int(0, 3000)));
      db.exec("UPDATE t SET body = body || '!' WHERE id % 3 = 0; DELETE FROM t WHERE id % 7 = 0");
      const expected = dumpDatabase(db);
      const pageCount = (db.prepare("PRAGMA page_count").get() as { page_count: number })
        .page_count;
      const wal = await Deno.readFile(`${path}-wal`);
      const main = await Deno.readFile(path);
      db.close();

      const scan = await scanWal(await reader(wal, 3 * pageSize));
      assert.equal(scan.stop.reason, "end");
      assert.equal(scan.commit.offset, wal.length);
      assert.equal(scan.commit.pageCount, pageCount);
      assert.equal(scan.uncommittedFrameCount, 0);

      const rebuilt = new Uint8Array(pageCount * pageSize);
      rebuilt.set(main.subarray(0, Math.min(main.length, rebuilt.length)));
      for (const [pgno, offset] of scan.pages) {
        rebuilt.set(wal.subarray(offset + 24, offset + 24 + pageSize), (pgno - 1) * pageSize);
      }
      await Deno.writeFile(`${dir}/rebuilt.db`, rebuilt);
      const copy = new DatabaseSync(`${dir}/rebuilt.db`);
      assert.equal(integrityCheck(copy), "ok");
      assert.deepEqual(dumpDatabase(copy), expected);
      copy.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("WalReader verifies the chain in both checksum byte orders at every page size", async () => {
  for (const bigEndian of [false, true]) {
    for (let pageSize = 512; pageSize <= 65536; pageSize *= 2) {
      const wal = threeTransactions(pageSize, bigEndian).bytes();
      const scan = await scanWal(await reader(wal));
      assert.equal(scan.stop.reason, "end", `${pageSize} ${bigEndian}`);
      assert.equal(scan.commit.frameCount, 5);
      assert.equal(scan.commit.pageCount, 4);
      assert.deepEqual([...scan.pages.keys()].sort(), [1, 2, 3, 4]);
    }
  }
});

Deno.test("WalReader maps each page to its newest committed frame", async () => {
  const builder = threeTransactions(512);
  const scan = await scanWal(await reader(builder.bytes()));
  assert.equal(scan.pages.get(1), builder.frameOffset(3));
  assert.equal(scan.pages.get(4), builder.frameOffset(4));
});

Deno.test("WalReader stops at a torn tail and keeps the last commit", async () => {
  const builder = threeTransactions(1024);
  const wal = builder.bytes();
  const torn = wal.subarray(0, builder.frameOffset(4) + 100);
  const scan = await scanWal(await reader(torn));
  assert.deepEqual(scan.stop, { reason: "torn", offset: builder.frameOffset(4) });
  assert.equal(scan.commit.offset, builder.frameOffset(4));
  assert.equal(scan.commit.pageCount, 3);
  assert.equal(scan.pages.has(4), false);
});

Deno.test("WalReader stops at a frame with a foreign salt left from an earlier generation", async () => {
  const builder = threeTransactions(512)
    .frame({ pgno: 5, page: patternPage(512, 5), commit: 5 }, { salt1: 1, salt2: 2 });
  const scan = await scanWal(await reader(builder.bytes()));
  assert.deepEqual(scan.stop, { reason: "salt", offset: builder.frameOffset(5) });
  assert.equal(scan.commit.pageCount, 4);
});

Deno.test("WalReader stops at a checksum break and never ships the damaged transaction", async () => {
  const builder = threeTransactions(512);
  const wal = builder.bytes();
  wal[builder.frameOffset(2) + 24 + 100] ^= 0x40;
  const scan = await scanWal(await reader(wal));
  assert.deepEqual(scan.stop, { reason: "checksum", offset: builder.frameOffset(2) });
  assert.equal(scan.commit.offset, builder.frameOffset(1));
  assert.equal(scan.commit.pageCount, 1);
  assert.deepEqual([...scan.pages.keys()], [1]);
});

Deno.test("WalReader stops at a frame whose page number is zero", async () => {
  const builder = threeTransactions(512).frame({ pgno: 0, page: new Uint8Array(512), commit: 1 });
  const scan = await scanWal(await reader(builder.bytes()));
  assert.equal(scan.stop.reason, "invalid");
  assert.equal(scan.commit.frameCount, 5);
});

Deno.test("scanWal counts but never maps frames after the last commit", async () => {
  const builder = threeTransactions(512)
    .frame({ pgno: 9, page: patternPage(512, 9), commit: 0 })
    .frame({ pgno: 9, page: patternPage(512, 9, 1), commit: 0 });
  const scan = await scanWal(await reader(builder.bytes()));
  assert.equal(scan.stop.reason, "end");
  assert.equal(scan.uncommittedFrameCount, 2);
  assert.equal(scan.pages.has(9), false);
  assert.equal(scan.commit.offset, builder.frameOffset(5));
});

Deno.test("WalReader resumed from a saved position continues the same checksum chain", async () => {
  const builder = threeTransactions(4096);
  const wal = builder.bytes();
  const first = await reader(wal.subarray(0, builder.frameOffset(4)));
  await scanWal(first);
  const resumed = new WalReader(bytesReadAt(wal), first.header, { from: first.commit });
  const scan = await scanWal(resumed);
  assert.equal(scan.stop.reason, "end");
  assert.deepEqual([...scan.pages.keys()], [4]);
  assert.equal(scan.commit.frameCount, 1);

  const wrong = { ...first.commit, checksum1: first.commit.checksum1 ^ 1 };
  const broken = await scanWal(new WalReader(bytesReadAt(wal), first.header, { from: wrong }));
  assert.equal(broken.stop.reason, "checksum");
  assert.throws(
    () => new WalReader(bytesReadAt(wal), first.header, { from: { ...wrong, offset: 33 } }),
    /not a frame boundary/,
  );
});

Deno.test("WalReader.open rejects a missing header with a FormatError", async () => {
  await assert.rejects(() => reader(new Uint8Array(0)), FormatError);
});

Deno.test("a flipped byte anywhere is detected: the header fails or reading stops at or before its frame", async () => {
  const builder = threeTransactions(512);
  const wal = builder.bytes();
  await fc.assert(
    fc.asyncProperty(fc.nat(wal.length - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
      const damaged = wal.slice();
      damaged[at] ^= xor;
      let opened: WalReader;
      try {
        opened = await reader(damaged, 1024);
      } catch (e) {
        assert.ok(e instanceof FormatError);
        assert.ok(at < 32, `header error for a flip at ${at}`);
        return;
      }
      const scan = await scanWal(opened);
      assert.notEqual(scan.stop.reason, "end");
      assert.ok(scan.stop.offset <= at, `stopped at ${scan.stop.offset}, flip at ${at}`);
      assert.ok(scan.commit.offset <= at);
    }),
    { numRuns: 300 },
  );
});

Deno.test("a WAL truncated anywhere yields exactly the commits that fit", async () => {
  const builder = threeTransactions(512);
  const wal = builder.bytes();
  const commitEnds = [1, 4, 5].map((n) => builder.frameOffset(n));
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 32, max: wal.length }), async (length) => {
      const scan = await scanWal(await reader(wal.subarray(0, length)));
      const expected = Math.max(32, ...commitEnds.filter((end) => end <= length));
      assert.equal(scan.commit.offset, expected);
      assert.ok(scan.stop.reason === "end" || scan.stop.reason === "torn");
    }),
    { numRuns: 200 },
  );
});

Deno.test("a scan that finds nothing new reads a single frame, not a whole chunk", async () => {
  const builder = threeTransactions(4096);
  const source = bytesReadAt(builder.bytes());
  const requested: number[] = [];
  const counting = {
    readAt(buffer: Uint8Array, offset: number) {
      requested.push(buffer.length);
      return source.readAt(buffer, offset);
    },
  };
  const header = (await WalReader.open(source)).header;
  const end = (await scanWal(new WalReader(source, header))).commit;
  const scan = await scanWal(new WalReader(counting, header, { from: end }));
  assert.equal(scan.commit.frameCount, 0);
  assert.deepEqual(requested, [24 + 4096]);
});
