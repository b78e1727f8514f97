import assert from "node:assert/strict";
import fc from "fast-check";
import { DatabaseChecksum } from "../checksum/database_checksum.ts";
import { FormatError } from "../errors.ts";
import { Random } from "../../tests/support/random.ts";
import { chunksOf } from "./byte_reader.ts";
import { decodeLtx, LtxDecoder } from "./ltx_decoder.ts";
import { LtxEncoder, type PageEncoding } from "./ltx_encoder.ts";
import {
  formatLtxFilename,
  HEADER_FLAG_NO_CHECKSUM,
  type LtxHeader,
  newLtxHeader,
  parseLtxFilename,
} from "./ltx_header.ts";

interface Page {
  pgno: number;
  data: Uint8Array;
}

function encode(header: LtxHeader, pages: Page[], pageEncoding?: PageEncoding, post?: bigint) {
  const encoder = new LtxEncoder(header, { pageEncoding });
  const parts: Uint8Array[] = [encoder.encodeHeader().slice()];
  for (const page of pages) parts.push(encoder.encodePage(page.pgno, page.data).slice());
  const { bytes, result } = encoder.finish(post);
  parts.push(bytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  assert.equal(result.sizeBytes, out.length);
  return { bytes: out, result };
}

/** A page that compresses like real data: runs, text-ish bytes and some noise. */
function realisticPage(random: Random, pageSize: number): Uint8Array {
  const page = new Uint8Array(pageSize);
  for (let at = 0; at < pageSize;) {
    const run = random.int(1, 64);
    const kind = random.int(0, 2);
    const byte = random.int(0, 255);
    for (let i = 0; i < run && at < pageSize; i++, at++) {
      page[at] = kind === 0 ? 0 : kind === 1 ? byte : random.int(0, 255);
    }
  }
  return page;
}

function randomPages(random: Random, pageSize: number, commit: number, snapshot: boolean): Page[] {
  const pgnos = snapshot
    ? Array.from({ length: commit }, (_, i) => i + 1)
    : [...new Set(Array.from({ length: random.int(1, commit) }, () => random.int(1, commit)))]
      .sort((a, b) => a - b);
  return pgnos.map((pgno) => ({ pgno, data: realisticPage(random, pageSize) }));
}

Deno.test("LTX round-trips random page sets at every page size in both page encodings", async () => {
  const random = new Random(7);
  for (let pageSize = 512; pageSize <= 65536; pageSize *= 2) {
    for (const pageEncoding of ["frame", "block"] as const) {
      for (const snapshot of [true, false]) {
        const commit = random.int(1, 12);
        const pages = randomPages(random, pageSize, commit, snapshot);
        const header = newLtxHeader({
          pageSize,
          commit,
          minTxid: snapshot ? 1 : 5,
          maxTxid: 9,
          timestampMs: 1_700_000_000_123,
        });
        const { bytes, result } = encode(header, pages, pageEncoding);
        const decoded = await decodeLtx(bytes);
        const label = `${pageSize} ${pageEncoding} ${snapshot}`;
        assert.deepEqual(decoded.header, header, label);
        assert.deepEqual(decoded.pages, pages, label);
        assert.equal(decoded.trailer.fileChecksum, result.fileChecksum, label);
        assert.equal(decoded.trailer.postApplyChecksum, 0n);
        assert.equal(decoded.pageCount, pages.length);
      }
    }
  }
});

Deno.test("LTX pages are written as Litestream's LZ4 frames: flags 0, FLG 0x64, BD 0x40, HC 0xa7", () => {
  const header = newLtxHeader({ pageSize: 4096, commit: 1, minTxid: 1, maxTxid: 1 });
  const encoder = new LtxEncoder(header);
  encoder.encodeHeader();
  const frame = encoder.encodePage(1, new Uint8Array(4096).fill(65));
  assert.deepEqual([...frame.subarray(0, 13)], [
    0,
    0,
    0,
    1,
    0,
    0,
    0x04,
    0x22,
    0x4d,
    0x18,
    0x64,
    0x40,
    0xa7,
  ]);
  // End mark then the xxh32 content checksum close the frame.
  assert.deepEqual([...frame.subarray(frame.length - 8, frame.length - 4)], [0, 0, 0, 0]);
});

Deno.test("re-encoding a decoded LTX file reproduces it byte for byte", async () => {
  const random = new Random(11);
  for (const pageEncoding of ["frame", "block"] as const) {
    const pages = randomPages(random, 4096, 20, false);
    const header = newLtxHeader({ pageSize: 4096, commit: 20, minTxid: 3, maxTxid: 4 });
    const first = encode(header, pages, pageEncoding);
    const decoded = await decodeLtx(first.bytes);
    const second = encode(decoded.header, decoded.pages, pageEncoding);
    assert.deepEqual(second.bytes, first.bytes);
    assert.equal(second.result.fileChecksum, first.result.fileChecksum);
  }
});

Deno.test("LTX with rolling checksums computes and verifies a snapshot's post-apply checksum", async () => {
  const random = new Random(3);
  const pages = randomPages(random, 512, 6, true);
  const header = newLtxHeader({ pageSize: 512, commit: 6, minTxid: 1, maxTxid: 4, flags: 0 });
  const { bytes, result } = encode(header, pages);
  const expected = new DatabaseChecksum();
  for (const page of pages) expected.toggle(page.pgno, page.data);
  assert.equal(result.databaseChecksum, expected.value);
  const decoded = await decodeLtx(bytes);
  assert.equal(decoded.trailer.postApplyChecksum, expected.value);
  assert.equal(decoded.databaseChecksum, expected.value);
  assert.throws(() => encode(header, pages, "frame", expected.value ^ 1n), /does not match/);
});

Deno.test("LTX block-era output matches superfly/ltx's golden file checksums", () => {
  // superfly/ltx TestEncoder_PageIndexGolden: 512-byte pages of `seed + i % 7`, block pages.
  const goldenPage = (seed: number) => {
    const page = new Uint8Array(512);
    for (let i = 0; i < 512; i++) page[i] = (seed + (i % 7)) & 0xff;
    return page;
  };
  const flag = 0x8000000000000000n;
  const delta = encode(
    newLtxHeader({
      flags: 0,
      pageSize: 512,
      commit: 16,
      minTxid: 2,
      maxTxid: 3,
      timestampMs: 1000,
      preApplyChecksum: flag | 1n,
    }),
    [2, 5, 9, 16].map((pgno) => ({ pgno, data: goldenPage(pgno) })),
    "block",
    flag | 2n,
  );
  assert.equal(delta.result.fileChecksum, 0xe27f4c18f0da2c10n);

  // The Go test gives its snapshot the made-up post-apply checksum flag|3, which a real
  // encoder must refuse; only with verification off can the golden file be rebuilt.
  const snapshot = (verifySnapshotChecksum?: boolean) => {
    const encoder = new LtxEncoder(
      newLtxHeader({
        flags: 0,
        pageSize: 512,
        commit: 6,
        minTxid: 1,
        maxTxid: 4,
        timestampMs: 1000,
      }),
      { pageEncoding: "block", verifySnapshotChecksum },
    );
    encoder.encodeHeader();
    for (let pgno = 1; pgno <= 6; pgno++) encoder.encodePage(pgno, goldenPage(pgno));
    return encoder.finish(flag | 3n);
  };
  assert.throws(() => snapshot(), /does not match the snapshot's pages/);
  assert.equal(snapshot(false).result.fileChecksum, 0xd926967672f7ca53n);
});

Deno.test("LtxEncoder refuses pages out of order, the lock page, gaps in snapshots and wrong sizes", () => {
  const encoder = () => {
    const e = new LtxEncoder(
      newLtxHeader({ pageSize: 65536, commit: 20000, minTxid: 2, maxTxid: 2 }),
    );
    e.encodeHeader();
    return e;
  };
  const page = new Uint8Array(65536);
  const e1 = encoder();
  e1.encodePage(5, page);
  assert.throws(() => e1.encodePage(5, page), /must ascend/);
  assert.throws(() => encoder().encodePage(16385, page), /lock page/);
  assert.throws(() => encoder().encodePage(20001, page), /outside 1\.\.20000/);
  assert.throws(() => encoder().encodePage(1, new Uint8Array(10)), /has 10 bytes, expected 65536/);
  const snap = new LtxEncoder(newLtxHeader({ pageSize: 512, commit: 3, minTxid: 1, maxTxid: 1 }));
  snap.encodeHeader();
  assert.throws(() => snap.encodePage(2, new Uint8Array(512)), /skips from page 0 to 2/);
  snap.encodePage(1, new Uint8Array(512));
  assert.throws(() => snap.finish(), /ends at page 1 but the commit size is 3/);
});

Deno.test("an LTX snapshot spanning the lock page skips it and decodes", async () => {
  // With 512-byte pages the lock page is 2097153; a snapshot of 2097154 pages is too big for
  // a unit test, so check the rule at the decoder level with a non-snapshot around it.
  const pageSize = 65536;
  const pages = [16384, 16386].map((pgno) => ({
    pgno,
    data: new Uint8Array(pageSize).fill(pgno & 0xff),
  }));
  const header = newLtxHeader({ pageSize, commit: 16386, minTxid: 2, maxTxid: 2 });
  const decoded = await decodeLtx(encode(header, pages).bytes);
  assert.deepEqual(decoded.pages.map((p) => p.pgno), [16384, 16386]);
});

Deno.test("LtxDecoder reads the same file fed in 1-byte and 7-byte chunks", async () => {
  const random = new Random(5);
  const pages = randomPages(random, 1024, 8, true);
  const { bytes } = encode(
    newLtxHeader({ pageSize: 1024, commit: 8, minTxid: 1, maxTxid: 2 }),
    pages,
  );
  for (const chunkSize of [1, 7]) {
    const decoder = new LtxDecoder(chunksOf(bytes, chunkSize));
    await decoder.readHeader();
    const page = new Uint8Array(1024);
    const seen: number[] = [];
    let pgno: number | null;
    while ((pgno = await decoder.readPage(page)) !== null) seen.push(pgno);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal((await decoder.finish()).sizeBytes, bytes.length);
  }
});

Deno.test("any flipped byte in an LTX file is an error naming an offset, or changes nothing", async () => {
  const random = new Random(9);
  for (const pageEncoding of ["frame", "block"] as const) {
    const pages = randomPages(random, 512, 6, true);
    const header = newLtxHeader({
      pageSize: 512,
      commit: 6,
      minTxid: 1,
      maxTxid: 3,
      timestampMs: 42,
    });
    const { bytes } = encode(header, pages, pageEncoding);
    const original = await decodeLtx(bytes);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(bytes.length - 1),
        fc.integer({ min: 1, max: 255 }),
        async (at, xor) => {
          const damaged = bytes.slice();
          damaged[at] ^= xor;
          try {
            const decoded = await decodeLtx(damaged);
            // Only a flip inside compressed bytes that decodes to the same page can pass.
            assert.deepEqual(decoded.pages, original.pages);
            assert.deepEqual(decoded.header, original.header);
          } catch (error) {
            assert.ok(error instanceof FormatError, `flip at ${at}: ${error}`);
            assert.match(error.message, /at offset \d+/);
          }
        },
      ),
      { numRuns: 400 },
    );
  }
});

Deno.test("an LTX file truncated anywhere is a FormatError", async () => {
  const random = new Random(10);
  const pages = randomPages(random, 512, 5, true);
  const { bytes } = encode(
    newLtxHeader({ pageSize: 512, commit: 5, minTxid: 1, maxTxid: 1 }),
    pages,
  );
  await fc.assert(
    fc.asyncProperty(fc.nat(bytes.length - 1), async (length) => {
      await assert.rejects(() => decodeLtx(bytes.subarray(0, length)), FormatError);
    }),
    { numRuns: 200 },
  );
  const extra = new Uint8Array(bytes.length + 1);
  extra.set(bytes);
  await assert.rejects(() => decodeLtx(extra), /bytes after its trailer/);
});

Deno.test("LTX header validation names the bad field", async () => {
  const header = newLtxHeader({ pageSize: 512, commit: 1, minTxid: 1, maxTxid: 1 });
  const { bytes } = encode(header, [{ pgno: 1, data: new Uint8Array(512) }]);
  const cases: [number, number, RegExp][] = [
    [0, 0x4d, /magic is not "LTX1"/],
    [7, 0x03, /flags "0x3" are invalid/],
    [10, 0x03, /page size "768" is invalid/],
    [23, 0x00, /MinTXID is 0/],
    [23, 0x02, /MinTXID "2" > MaxTXID "1"/],
  ];
  for (const [at, value, message] of cases) {
    const damaged = bytes.slice();
    damaged[at] = value;
    await assert.rejects(() => decodeLtx(damaged), message);
  }
});

Deno.test("LTX file names are 16 lower-case hex digits each and others are ignored", () => {
  assert.equal(formatLtxFilename(1, 1000), "0000000000000001-00000000000003e8.ltx");
  assert.deepEqual(parseLtxFilename("0000000000000001-00000000000003e8.ltx"), {
    minTxid: 1,
    maxTxid: 1000,
  });
  for (
    const name of [
      "0000000000000001-00000000000003E8.ltx",
      "1-2.ltx",
      "0000000000000001-0000000000000002.ltx.tmp",
    ]
  ) {
    assert.equal(parseLtxFilename(name), null, name);
  }
  assert.equal(HEADER_FLAG_NO_CHECKSUM, 2);
});
