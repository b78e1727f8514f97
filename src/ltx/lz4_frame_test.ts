import assert from "node:assert/strict";
import { Random } from "../../tests/support/random.ts";
import {
  assertLz4Error,
  blobBytes,
  caseInput,
  firstDifference,
  fromHex,
  generateInput,
  loadPierrecCases,
  onlyLz4Error,
  PYTHON_MANIFEST,
  pythonFixture,
  sha256Hex,
  SQLITE_PAGE_SIZE,
  SQLITE_PAGES,
  sqlitePage,
} from "../../tests/support/lz4_fixtures.ts";
import { compressBlock, compressBound } from "./lz4_block.ts";
import { decompressBlock } from "./lz4_block_decoder.ts";
import { compressFrameBound, compressFrameInto, decompressFrame } from "./lz4_frame.ts";
import { xxh32 } from "./xxh32.ts";

const HEADER_SIZE = 7;
const BLOCK_64K = 65536;
const UNCOMPRESSED = 0x80000000;

function frame(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(compressFrameBound(src.length));
  return dst.slice(0, compressFrameInto(src, dst));
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0, true);
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

interface FrameOptions {
  contentSize?: boolean;
  blockChecksum?: boolean;
  contentChecksum?: boolean;
}

/**
 * A standard frame with independent 64 KiB blocks and the chosen optional fields, which the
 * product's writer never emits, so the reader is tested on them with our own data too.
 */
function standardFrame(src: Uint8Array, options: FrameOptions): Uint8Array {
  const flg = 0x60 | (options.blockChecksum ? 0x10 : 0) | (options.contentSize ? 0x08 : 0) |
    (options.contentChecksum ? 0x04 : 0);
  const descriptor = [flg, 0x40];
  if (options.contentSize) descriptor.push(...u32(src.length), ...u32(0));
  const hc = (xxh32(Uint8Array.from(descriptor)) >>> 8) & 0xff;
  const parts = [u32(0x184d2204), Uint8Array.from([...descriptor, hc])];
  for (let start = 0; start < src.length; start += BLOCK_64K) {
    const chunk = src.subarray(start, start + BLOCK_64K);
    const dst = new Uint8Array(compressBound(chunk.length));
    const n = compressBlock(chunk, dst);
    const data = n < chunk.length ? dst.subarray(0, n) : chunk;
    parts.push(u32(data === chunk ? chunk.length | UNCOMPRESSED : n), data);
    if (options.blockChecksum) parts.push(u32(xxh32(data)));
  }
  parts.push(u32(0));
  if (options.contentChecksum) parts.push(u32(xxh32(src)));
  return concat(parts);
}

Deno.test("compressFrameInto writes exactly the frame superfly/ltx v0.5.x writes, for every Go fixture", async () => {
  let byBytes = 0;
  for (const c of [...await loadPierrecCases("manifest"), ...await loadPierrecCases("sweep")]) {
    if (!c.frame) continue;
    const src = await caseInput(c);
    const got = frame(src);
    assert.equal(got.length, c.frame.length, `${c.name}: frame length`);
    const expected = await blobBytes(c.frame);
    if (expected) {
      const at = firstDifference(got, expected);
      assert.equal(at, -1, `${c.name}: first differing byte at ${at}`);
      byBytes++;
    } else {
      assert.equal(await sha256Hex(got), c.frame.sha256, `${c.name}: frame SHA-256`);
    }
    const decoded = decompressFrame(got);
    assert.equal(decoded.bytesRead, got.length, c.name);
    assert.equal(firstDifference(decoded.data, src), -1, `${c.name}: round trip`);
  }
  assert.equal(byBytes, 63 + 404);
});

Deno.test("compressFrameInto writes magic, FLG 0x64, BD 0x40, HC 0xa7 and ends with the content checksum", () => {
  assert.deepEqual(frame(new Uint8Array(0)), fromHex("04224d186440a700000000055dcc02"));
  const page = sqlitePage(1);
  const f = frame(page);
  assert.deepEqual(f.subarray(0, HEADER_SIZE), fromHex("04224d186440a7"));
  assert.deepEqual(f.subarray(f.length - 8, f.length - 4), new Uint8Array(4), "end mark");
  assert.deepEqual(f.subarray(f.length - 4), u32(xxh32(page)));
  const decoded = decompressFrame(f);
  assert.deepEqual(decoded.data, page);
  assert.equal(decoded.bytesRead, f.length);
});

Deno.test("compressFrameInto stores an incompressible page raw with the high bit set, filling compressFrameBound", () => {
  const noise = new Random(1).bytes(SQLITE_PAGE_SIZE);
  const f = frame(noise);
  assert.deepEqual(f.subarray(HEADER_SIZE, HEADER_SIZE + 4), u32(SQLITE_PAGE_SIZE | UNCOMPRESSED));
  assert.deepEqual(f.subarray(HEADER_SIZE + 4, HEADER_SIZE + 4 + SQLITE_PAGE_SIZE), noise);
  assert.equal(f.length, compressFrameBound(SQLITE_PAGE_SIZE));
  assert.deepEqual(decompressFrame(f).data, noise);
  assert.throws(() => compressFrameInto(noise, new Uint8Array(f.length - 1)), RangeError);
});

Deno.test("compressFrameInto splits inputs over 64 KiB into independent blocks of 64 KiB", () => {
  const src = generateInput({ kind: "text", size: 200000, seed: 9 });
  const f = frame(src);
  const view = new DataView(f.buffer);
  let at = HEADER_SIZE;
  let start = 0;
  for (let word; (word = view.getUint32(at, true)) !== 0;) {
    assert.equal(word & UNCOMPRESSED, 0, "text compresses");
    const out = new Uint8Array(Math.min(BLOCK_64K, src.length - start));
    // Each block decodes on its own, without the previous ones as history.
    assert.equal(decompressBlock(f.subarray(at + 4, at + 4 + word), out), out.length);
    assert.deepEqual(out, src.subarray(start, start + out.length));
    start += out.length;
    at += 4 + word;
  }
  assert.equal(start, src.length);
  assert.equal(f.length, at + 8);
});

Deno.test("decompressFrame decodes python-lz4 frames: linked blocks, both checksums, content size, 256 KiB and 4 MiB blocks", async () => {
  assert.equal(PYTHON_MANIFEST.frames.length, 13);
  for (const entry of PYTHON_MANIFEST.frames) {
    const f = pythonFixture(entry.file);
    const decoded = decompressFrame(f);
    assert.equal(decoded.bytesRead, f.length, entry.file);
    if (entry.plain) {
      assert.deepEqual(decoded.data, pythonFixture(entry.plain), entry.file);
    } else {
      assert.equal(decoded.length, entry.length, entry.file);
      assert.equal(await sha256Hex(decoded.data), entry.sha256, entry.file);
    }
    const dst = new Uint8Array(decoded.length);
    assert.equal(decompressFrame(f, dst).length, decoded.length);
    assert.deepEqual(dst, decoded.data);
    for (let length = 0; length < f.length; length += Math.max(1, (f.length / 97) | 0)) {
      assertLz4Error(() => decompressFrame(f.subarray(0, length)), "TRUNCATED_FRAME");
    }
  }
});

Deno.test("decompressFrame fails on the python linked frame once its independence bit is set", () => {
  // Proves the fixture's blocks really reference earlier blocks.
  const f = pythonFixture("text_linked_size.lz4").slice();
  f[4] |= 0x20;
  f[4 + 2 + 8] = (xxh32(f, 0, 4, 14) >>> 8) & 0xff;
  assertLz4Error(() => decompressFrame(f), "OFFSET_OUT_OF_RANGE");
});

Deno.test("decompressFrame finds where the first of two concatenated python frames ends", () => {
  const [entry] = PYTHON_MANIFEST.concatenated;
  const file = pythonFixture(entry.file);
  const first = decompressFrame(file);
  assert.equal(first.bytesRead, entry.first_length);
  assert.deepEqual(first.data, pythonFixture("page.bin"));
  const second = decompressFrame(file, undefined, first.bytesRead);
  assert.deepEqual(second.data, pythonFixture("text80k.bin").subarray(0, 10000));
  assert.equal(first.bytesRead + second.bytesRead, file.length);
});

Deno.test("decompressFrame reads every combination of content size, block checksums and content checksum", () => {
  const random = new Random(5);
  const inputs = [0, 1, 12, 13, 512, 4096, 65536, 70000].flatMap((n) => [
    random.bytes(n),
    new Uint8Array(n),
    generateInput({ kind: "text", size: n, seed: n }),
  ]);
  for (const src of [...inputs, sqlitePage(0), SQLITE_PAGES]) {
    for (let mask = 0; mask < 8; mask++) {
      const f = standardFrame(src, {
        contentChecksum: (mask & 1) !== 0,
        contentSize: (mask & 2) !== 0,
        blockChecksum: (mask & 4) !== 0,
      });
      const decoded = decompressFrame(f);
      assert.deepEqual(decoded.data, src);
      assert.equal(decoded.bytesRead, f.length);
      // Into a caller's buffer, with bytes after the frame.
      const dst = new Uint8Array(src.length + 10);
      const again = decompressFrame(concat([f, new Uint8Array(7)]), dst);
      assert.equal(again.length, src.length);
      assert.equal(again.bytesRead, f.length);
      assert.deepEqual(dst.subarray(0, src.length), src);
    }
  }
});

Deno.test("decompressFrame walks back-to-back frames and skippable frames with bytesRead and srcOffset", () => {
  const skippable = Uint8Array.of(0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9);
  const parts = [sqlitePage(1), new Uint8Array(0), new Random(2).bytes(777), SQLITE_PAGES];
  const file = concat([frame(parts[0]), skippable, ...parts.slice(1).map(frame)]);
  let at = 0;
  for (const expected of [parts[0], new Uint8Array(0), ...parts.slice(1)]) {
    const decoded = decompressFrame(file, undefined, at);
    assert.deepEqual(decoded.data, expected);
    at += decoded.bytesRead;
  }
  assert.equal(at, file.length);
  assertLz4Error(() => decompressFrame(skippable.subarray(0, 10)), "TRUNCATED_FRAME");
});

Deno.test("decompressFrame raises OUTPUT_OVERFLOW when dst cannot hold the content", () => {
  const f = frame(sqlitePage(1));
  assertLz4Error(() => decompressFrame(f, new Uint8Array(SQLITE_PAGE_SIZE - 1)), "OUTPUT_OVERFLOW");
  const stored = frame(new Random(3).bytes(100));
  assertLz4Error(() => decompressFrame(stored, new Uint8Array(99)), "OUTPUT_OVERFLOW");
});

/** A frame header with the given FLG and BD and a correct checksum, followed by `rest`. */
function frameWith(flg: number, bd: number, rest: number[], extra: number[] = []): Uint8Array {
  const descriptor = Uint8Array.of(flg, bd, ...extra);
  const hc = (xxh32(descriptor) >>> 8) & 0xff;
  return Uint8Array.of(0x04, 0x22, 0x4d, 0x18, ...descriptor, hc, ...rest);
}

Deno.test("decompressFrame raises the matching Lz4Error for each kind of malformed frame", () => {
  const all = { contentChecksum: true, contentSize: true, blockChecksum: true };
  const good = standardFrame(sqlitePage(1), all);
  assert.deepEqual(decompressFrame(good).data, sqlitePage(1));
  const END = [0, 0, 0, 0];
  assertLz4Error(() => decompressFrame(new Uint8Array(0)), "TRUNCATED_FRAME");
  assertLz4Error(() => decompressFrame(Uint8Array.of(1, 2, 3, 4, 5, 6, 7)), "BAD_MAGIC");
  assertLz4Error(() => decompressFrame(frameWith(0xa0, 0x40, END)), "BAD_VERSION");
  assertLz4Error(() => decompressFrame(frameWith(0x62, 0x40, END)), "RESERVED_BITS");
  assertLz4Error(() => decompressFrame(frameWith(0x60, 0x41, END)), "RESERVED_BITS");
  assertLz4Error(() => decompressFrame(frameWith(0x60, 0x30, END)), "RESERVED_BITS");
  assertLz4Error(
    () => decompressFrame(frameWith(0x61, 0x40, END, [1, 2, 3, 4])),
    "DICT_ID_UNSUPPORTED",
  );
  assert.equal(decompressFrame(frameWith(0x60, 0x40, END)).length, 0);

  const badHc = good.slice();
  badHc[4 + 2 + 8] ^= 1;
  assertLz4Error(() => decompressFrame(badHc), "HEADER_CHECKSUM");
  assertLz4Error(
    () => decompressFrame(frameWith(0x60, 0x40, [0x01, 0x00, 0x01, 0x00, ...END])),
    "BLOCK_TOO_LARGE",
  );
  // A flipped byte in the block data: the block checksum catches it first.
  const badBlock = good.slice();
  badBlock[4 + 2 + 8 + 1 + 4 + 10] ^= 0x40;
  assertLz4Error(() => decompressFrame(badBlock), "BLOCK_CHECKSUM");
  const badContent = good.slice();
  badContent[badContent.length - 1] ^= 1;
  assertLz4Error(() => decompressFrame(badContent), "CONTENT_CHECKSUM");

  // A declared content size that differs from what the blocks decode to.
  const wrongSize = standardFrame(sqlitePage(1), { contentSize: true });
  wrongSize[6] += 1;
  wrongSize[14] = (xxh32(wrongSize, 0, 4, 14) >>> 8) & 0xff;
  assertLz4Error(() => decompressFrame(wrongSize), "SIZE_MISMATCH");
  assertLz4Error(() => decompressFrame(wrongSize, new Uint8Array(2 * 4096)), "SIZE_MISMATCH");
  const huge = frameWith(0x68, 0x40, END, [0, 0, 0, 0, 0, 0, 0x10, 0]);
  assertLz4Error(() => decompressFrame(huge), "SIZE_MISMATCH");
  const beyond53Bits = frameWith(0x68, 0x40, END, [0, 0, 0, 0, 0, 0, 0x40, 0]);
  assertLz4Error(() => decompressFrame(beyond53Bits), "SIZE_MISMATCH");

  for (let length = 0; length < good.length; length++) {
    assertLz4Error(() => decompressFrame(good.subarray(0, length)), "TRUNCATED_FRAME");
  }
});

Deno.test("decompressFrame catches every single bit flip in a Litestream frame or still returns the original", () => {
  for (const src of [sqlitePage(4), new Uint8Array(SQLITE_PAGE_SIZE), new Random(4).bytes(600)]) {
    const f = frame(src);
    for (let i = 0; i < f.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        f[i] ^= 1 << bit;
        // A flip in a block size word can at most move where the frame "ends": whatever
        // is accepted must still be the original content, thanks to the content checksum.
        if (onlyLz4Error(() => decompressFrame(f))) {
          assert.deepEqual(decompressFrame(f).data, src, `byte ${i} bit ${bit}`);
        }
        f[i] ^= 1 << bit;
      }
    }
  }
});

Deno.test("decompressFrame only ever raises Lz4Error on mutated frames and garbage", () => {
  const random = new Random(6);
  const base = frame(SQLITE_PAGES.subarray(0, 3 * SQLITE_PAGE_SIZE));
  const dst = new Uint8Array(4 * SQLITE_PAGE_SIZE);
  for (let i = 0; i < 5000; i++) {
    const mutated = base.slice();
    for (let k = random.int(1, 4); k > 0; k--) {
      mutated[random.int(0, mutated.length - 1)] = random.int(0, 255);
    }
    onlyLz4Error(() => decompressFrame(mutated));
    onlyLz4Error(() => decompressFrame(mutated, dst));
  }
  for (let i = 0; i < 5000; i++) {
    // A valid header followed by garbage.
    onlyLz4Error(() =>
      decompressFrame(concat([base.subarray(0, 7), random.bytes(random.int(0, 200))]))
    );
  }
  for (let i = 0; i < 2000; i++) {
    onlyLz4Error(() => decompressFrame(random.bytes(random.int(0, 99))));
  }
});
