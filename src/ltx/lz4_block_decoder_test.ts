import assert from "node:assert/strict";
import { Random } from "../../tests/support/random.ts";
import {
  assertLz4Error,
  onlyLz4Error,
  PYTHON_MANIFEST,
  pythonFixture,
  SQLITE_PAGE_SIZE,
  sqlitePage,
} from "../../tests/support/lz4_fixtures.ts";
import { compressBlock, compressBound } from "./lz4_block.ts";
import { decompressBlock } from "./lz4_block_decoder.ts";

function block(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(compressBound(src.length));
  return dst.slice(0, compressBlock(src, dst));
}

Deno.test("decompressBlock decodes liblz4's fast and HC blocks made by python-lz4", () => {
  assert.equal(PYTHON_MANIFEST.blocks.length, 4);
  for (const entry of PYTHON_MANIFEST.blocks) {
    const plain = pythonFixture(entry.plain);
    const out = new Uint8Array(plain.length);
    assert.equal(decompressBlock(pythonFixture(entry.file), out), plain.length, entry.file);
    assert.deepEqual(out, plain, entry.file);
  }
});

Deno.test("decompressBlock writes at dstOffset and may reference history from dictStart", () => {
  const page = sqlitePage(5);
  const out = new Uint8Array(100 + SQLITE_PAGE_SIZE + 50);
  assert.equal(decompressBlock(block(page), out, 100), SQLITE_PAGE_SIZE);
  assert.deepEqual(out.subarray(100, 100 + SQLITE_PAGE_SIZE), page);
  assert.ok(out.subarray(0, 100).every((b) => b === 0));

  // Token: no literals, a 4-byte match at offset 3; then one literal "z". The match points
  // before dstOffset, so it is valid only with history.
  const linked = Uint8Array.of(0x00, 3, 0, 0x10, 122);
  const buf = Uint8Array.of(1, 2, 3, 0, 0, 0, 0, 0);
  assertLz4Error(() => decompressBlock(linked, buf, 3), "OFFSET_OUT_OF_RANGE");
  assert.equal(decompressBlock(linked, buf, 3, 0), 5);
  assert.deepEqual(buf, Uint8Array.of(1, 2, 3, 1, 2, 3, 1, 122));
  assert.throws(() => decompressBlock(linked, buf, 9), RangeError);
  assert.throws(() => decompressBlock(linked, buf, 3, 4), RangeError);
});

Deno.test("decompressBlock raises the matching Lz4Error for each kind of malformed block", () => {
  const out = new Uint8Array(64);
  assertLz4Error(() => decompressBlock(new Uint8Array(0), out), "EMPTY_BLOCK");
  // Four literals, then a match with offset 0.
  let e = assertLz4Error(
    () => decompressBlock(Uint8Array.of(0x40, 1, 2, 3, 4, 0, 0, 0x00), out),
    "ZERO_OFFSET",
  );
  assert.equal(e.offset, 5);
  // Offset 5 with only 4 bytes of output.
  e = assertLz4Error(
    () => decompressBlock(Uint8Array.of(0x40, 1, 2, 3, 4, 5, 0, 0x00), out),
    "OFFSET_OUT_OF_RANGE",
  );
  assert.equal(e.offset, 5);
  assertLz4Error(
    () => decompressBlock(Uint8Array.of(0x4f, 1, 2, 3, 4, 1, 0, 200, 0x00), out),
    "OUTPUT_OVERFLOW",
  );
  assertLz4Error(
    () => decompressBlock(Uint8Array.of(0x40, 1, 2, 3, 4), new Uint8Array(3)),
    "OUTPUT_OVERFLOW",
  );
  // A literal run of 5 bytes with 2 present.
  e = assertLz4Error(() => decompressBlock(Uint8Array.of(0x50, 1, 2), out), "TRUNCATED_LITERALS");
  assert.equal(e.offset, 1);
  // A length byte of 255 promises another length byte.
  assertLz4Error(() => decompressBlock(Uint8Array.of(0xf0, 255), out), "TRUNCATED_LENGTH");
  assertLz4Error(() => decompressBlock(Uint8Array.of(0xf0), out), "TRUNCATED_LENGTH");
  assertLz4Error(() => decompressBlock(Uint8Array.of(0x1f, 9, 1, 0), out), "TRUNCATED_LENGTH");
  assertLz4Error(() => decompressBlock(Uint8Array.of(0x14, 9, 1), out), "TRUNCATED_OFFSET");
  assertLz4Error(
    () => decompressBlock(Uint8Array.of(0x10, 9, 1, 0), out),
    "MISSING_LAST_LITERALS",
  );
});

Deno.test("decompressBlock stops on a megabyte of 255 length bytes instead of hanging", () => {
  const evil = new Uint8Array(1 << 20).fill(255);
  evil[0] = 0xf0;
  assertLz4Error(() => decompressBlock(evil, new Uint8Array(SQLITE_PAGE_SIZE)), "TRUNCATED_LENGTH");
  evil[0] = 0x0f;
  assertLz4Error(
    () => decompressBlock(evil, new Uint8Array(SQLITE_PAGE_SIZE)),
    "OFFSET_OUT_OF_RANGE",
  );
});

Deno.test("decompressBlock only ever raises Lz4Error on random garbage", () => {
  const random = new Random(42);
  const out = new Uint8Array(SQLITE_PAGE_SIZE);
  let decoded = 0;
  for (let i = 0; i < 20000; i++) {
    if (onlyLz4Error(() => decompressBlock(random.bytes(random.int(0, 63)), out))) decoded++;
  }
  for (let i = 0; i < 200; i++) onlyLz4Error(() => decompressBlock(random.bytes(5000), out));
  assert.ok(decoded < 20000, "garbage that always decodes means nothing was checked");
});

Deno.test("decompressBlock rejects or shortens every truncation and survives every bit flip of a page block", () => {
  const page = sqlitePage(7);
  const c = block(page);
  const out = new Uint8Array(SQLITE_PAGE_SIZE);
  for (let length = 0; length < c.length; length++) {
    // A cut right after a literal run is a valid shorter block; anything else must fail.
    // Either way the result is never the whole page.
    if (onlyLz4Error(() => decompressBlock(c.subarray(0, length), out))) {
      assert.ok(decompressBlock(c.subarray(0, length), out) < SQLITE_PAGE_SIZE);
    }
  }
  const flipped = c.slice();
  for (let i = 0; i < c.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      flipped[i] ^= 1 << bit;
      onlyLz4Error(() => decompressBlock(flipped, out));
      flipped[i] ^= 1 << bit;
    }
  }
});
