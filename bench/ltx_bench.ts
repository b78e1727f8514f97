/**
 * LTX and LZ4 micro-benchmarks on real SQLite pages. The pages come from a fixture imported as
 * bytes (no file access at run time), so a plain `deno bench`, which grants no permissions,
 * runs this file.
 */
import fixture from "./testdata/text_rows_pages.bin" with { type: "bytes" };
import { LtxDecoder } from "../src/ltx/ltx_decoder.ts";
import { LtxEncoder } from "../src/ltx/ltx_encoder.ts";
import { newLtxHeader } from "../src/ltx/ltx_header.ts";
import { compressBound } from "../src/ltx/lz4_block.ts";
import { compressFrameBound, compressFrameInto, decompressFrame } from "../src/ltx/lz4_frame.ts";
import { chunksOf } from "../src/ltx/byte_reader.ts";

const PAGE_SIZE = 4096;
const PAGE_COUNT = 1000;

/**
 * PAGE_COUNT pages cycling through the fixture's 16 consecutive pages of a table of short text
 * rows (`testdata/make_text_rows_pages.ts`), the data walsync compresses in practice. Each page
 * is compressed on its own, so repeating them costs what as many distinct pages would.
 */
function realPages(): Uint8Array[] {
  const fixturePages = fixture.length / PAGE_SIZE;
  return Array.from({ length: PAGE_COUNT }, (_, i) => {
    const at = (i % fixturePages) * PAGE_SIZE;
    return fixture.slice(at, at + PAGE_SIZE);
  });
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
