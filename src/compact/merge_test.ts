import assert from "node:assert/strict";
import fc from "fast-check";
import { chunksOf } from "../ltx/byte_reader.ts";
import { decodeLtx } from "../ltx/ltx_decoder.ts";
import { LtxEncoder, type PageEncoding } from "../ltx/ltx_encoder.ts";
import { formatLtxFilename, newLtxHeader, parseLtxFilename } from "../ltx/ltx_header.ts";
import { MemoryReplicaClient } from "../replica/memory/memory_replica_client.ts";
import { executeMerge } from "./execute.ts";
import { MergeInputError, mergeLtx } from "./merge.ts";

const FIXTURES = new URL("../../tests/testdata/ltx/", import.meta.url).pathname;
const PAGE = 512;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function merge(inputs: Uint8Array[], pageEncoding?: PageEncoding): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await mergeLtx(inputs.map((b) => chunksOf(b)), (c) => {
    parts.push(c.slice());
  }, { pageEncoding });
  return concat(parts);
}

function ltx(min: number, max: number, commit: number, pages: [number, number][], ms = 1000) {
  const encoder = new LtxEncoder(
    newLtxHeader({ pageSize: PAGE, commit, minTxid: min, maxTxid: max, timestampMs: ms }),
  );
  const parts: Uint8Array[] = [encoder.encodeHeader().slice()];
  for (const [pgno, fill] of pages) {
    parts.push(encoder.encodePage(pgno, new Uint8Array(PAGE).fill(fill)).slice());
  }
  parts.push(encoder.finish().bytes);
  return concat(parts);
}

for (
  const [dir, encoding] of [
    ["litestream-0.5.17", "block"],
    ["litestream-0.5.15-frames", "frame"],
  ] as const
) {
  Deno.test(`merging Litestream ${dir}'s level-0 files reproduces its level-1 files byte for byte`, async () => {
    const root = `${FIXTURES}${dir}/ltx`;
    const names = [...Deno.readDirSync(`${root}/1`)].map((e) => e.name).sort();
    assert.ok(names.length >= 5);
    for (const name of names) {
      const range = parseLtxFilename(name)!;
      const inputs: Uint8Array[] = [];
      for (let txid = range.minTxid; txid <= range.maxTxid; txid++) {
        inputs.push(Deno.readFileSync(`${root}/0/${formatLtxFilename(txid, txid)}`));
      }
      assert.deepEqual(await merge(inputs, encoding), Deno.readFileSync(`${root}/1/${name}`), name);
    }
  });
}

Deno.test("a merge keeps the newest version of each page and drops pages past the last commit", async () => {
  const out = await decodeLtx(
    await merge([
      ltx(5, 5, 6, [[1, 1], [2, 1], [6, 1]], 1000),
      ltx(6, 7, 6, [[2, 2], [3, 2]], 2000),
      ltx(8, 8, 4, [[3, 3]], 3000),
    ]),
  );
  assert.equal(out.header.minTxid, 5);
  assert.equal(out.header.maxTxid, 8);
  assert.equal(out.header.commit, 4);
  assert.equal(out.header.timestampMs, 3000);
  assert.deepEqual(out.pages.map((p) => [p.pgno, p.data[0]]), [[1, 1], [2, 2], [3, 3]]);
});

Deno.test("a merge refuses inputs that leave a TXID out or differ in page size", async () => {
  await assert.rejects(
    () => merge([ltx(2, 2, 1, [[1, 1]]), ltx(4, 4, 1, [[1, 1]])]),
    (e) => e instanceof MergeInputError && /does not continue/.test(e.message),
  );
  await assert.rejects(
    () => merge([ltx(2, 3, 1, [[1, 1]]), ltx(2, 3, 1, [[1, 1]])]),
    MergeInputError,
  );
});

Deno.test("a merge equals applying its inputs one after another (random chains)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          commit: fc.integer({ min: 1, max: 12 }),
          pages: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 12 }),
          span: fc.integer({ min: 1, max: 3 }),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      async (specs) => {
        let txid = 2;
        const model = new Map<number, number>();
        const inputs: Uint8Array[] = [];
        specs.forEach((spec, i) => {
          const pages = spec.pages.filter((p) => p <= spec.commit).sort((a, b) => a - b);
          if (pages.length === 0) pages.push(1);
          inputs.push(ltx(txid, txid + spec.span - 1, spec.commit, pages.map((p) => [p, i + 1])));
          txid += spec.span;
          for (const p of pages) model.set(p, i + 1);
          for (const p of [...model.keys()]) if (p > spec.commit) model.delete(p);
        });
        const out = await decodeLtx(await merge(inputs));
        const merged = new Map(out.pages.map((p) => [p.pgno, p.data[0]]));
        // A page a truncation dropped and no later input wrote again is absent from both.
        assert.deepEqual(
          [...merged].filter(([p]) => model.has(p)).sort((a, b) => a[0] - b[0]),
          [...model].sort((a, b) => a[0] - b[0]),
        );
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("executeMerge uploads the merged file with its SHA-256, checksum and timestamp", async () => {
  const client = new MemoryReplicaClient();
  const files = [ltx(1, 1, 2, [[1, 1], [2, 1]], 1000), ltx(2, 2, 2, [[2, 2]], 2000)];
  for (const [i, bytes] of files.entries()) {
    await client.writeFile("app.db", { level: 0, minTxid: i + 1, maxTxid: i + 1 }, bytes, {
      sha256: "0".repeat(64),
      databaseChecksum: 0x8000000000000000n | BigInt(i + 7),
      createdAt: new Date(1000 * (i + 1)),
    });
  }
  const inputs = await client.listFiles("app.db", 0);
  // A tiny spool forces the temp-file path.
  const info = await executeMerge(client, "app.db", inputs, 1, { spoolMemoryBytes: 100 });
  assert.deepEqual([info.level, info.minTxid, info.maxTxid], [1, 1, 2]);
  assert.equal(info.databaseChecksum, 0x8000000000000008n);
  assert.equal(info.createdAt.getTime(), 2000);
  const [listed] = await client.listFiles("app.db", 1);
  const body = new Uint8Array(
    await new Response(await client.openFile("app.db", listed)).arrayBuffer(),
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  assert.equal(listed.sha256, [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""));
  const decoded = await decodeLtx(body);
  assert.deepEqual(decoded.pages.map((p) => [p.pgno, p.data[0]]), [[1, 1], [2, 2]]);
});
