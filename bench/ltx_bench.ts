/** LTX and LZ4 micro-benchmarks on realistic SQLite pages taken from a real database file. */
import { DatabaseSync } from "node:sqlite";
import { LtxDecoder } from "../src/ltx/ltx_decoder.ts";
import { LtxEncoder } from "../src/ltx/ltx_encoder.ts";
import { newLtxHeader } from "../src/ltx/ltx_header.ts";
import { compressBound } from "../src/ltx/lz4_block.ts";
import { compressFrameBound, compressFrameInto, decompressFrame } from "../src/ltx/lz4_frame.ts";
import { chunksOf } from "../src/ltx/byte_reader.ts";

const PAGE_SIZE = 4096;
const PAGE_COUNT = 1000;

/** Pages of a real table b-tree with text rows, the data walsync compresses in practice. */
function realPages(): Uint8Array[] {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/bench.db`;
  const db = new DatabaseSync(path);
  db.exec(
    `PRAGMA page_size=${PAGE_SIZE}; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, email TEXT, note TEXT)`,
  );
  const insert = db.prepare("INSERT INTO t (name, email, note) VALUES (?, ?, ?)");
  db.exec("BEGIN");
  for (let i = 0; i < 40_000; i++) {
    insert.run(
      `user ${i}`,
      `user${i}@example.com`,
      `note ${(i * 7919) % 100_003} ${"x".repeat(i % 40)}`,
    );
  }
  db.exec("COMMIT");
  db.close();
  const bytes = Deno.readFileSync(path);
  Deno.removeSync(dir, { recursive: true });
  const pages: Uint8Array[] = [];
  for (let i = 1; pages.length < PAGE_COUNT; i++) {
    const at = (i % (bytes.length / PAGE_SIZE)) * PAGE_SIZE;
    pages.push(bytes.slice(at, at + PAGE_SIZE));
  }
  return pages;
}

const pages = realPages();
const page = pages[500];
const frameBuffer = new Uint8Array(compressFrameBound(PAGE_SIZE));
const frameLength = compressFrameInto(page, frameBuffer);
const frame = frameBuffer.slice(0, frameLength);
const out = new Uint8Array(PAGE_SIZE);
void compressBound;

Deno.bench("LZ4 compress 4 KB page (Litestream frame)", { group: "lz4" }, () => {
  compressFrameInto(page, frameBuffer);
});

Deno.bench("LZ4 decompress 4 KB page (Litestream frame)", { group: "lz4" }, () => {
  decompressFrame(frame, out);
});

function encodeFile(): Uint8Array[] {
  const encoder = new LtxEncoder(
    newLtxHeader({ pageSize: PAGE_SIZE, commit: PAGE_COUNT, minTxid: 1, maxTxid: 1 }),
  );
  const parts = [encoder.encodeHeader()];
  for (let i = 0; i < PAGE_COUNT; i++) parts.push(encoder.encodePage(i + 1, pages[i]).slice());
  parts.push(encoder.finish().bytes);
  return parts;
}

const file = (() => {
  const parts = encodeFile();
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
})();

Deno.bench(`LTX encode ${PAGE_COUNT} pages of 4 KB (snapshot)`, { group: "ltx" }, () => {
  encodeFile();
});

Deno.bench(
  `LTX decode + verify ${PAGE_COUNT} pages of 4 KB (snapshot)`,
  { group: "ltx" },
  async () => {
    const decoder = new LtxDecoder(chunksOf(file));
    await decoder.readHeader();
    while (await decoder.readPage(out) !== null) { /* every page */ }
    await decoder.finish();
  },
);
