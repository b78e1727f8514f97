import assert from "node:assert/strict";
import { Random } from "../../tests/support/random.ts";
import {
  blobBytes,
  caseInput,
  firstDifference,
  fromHex,
  generateInput,
  loadPierrecCases,
  type PierrecCase,
  sha256Hex,
  SQLITE_PAGE_SIZE,
  SQLITE_PAGES,
  sqlitePage,
} from "../../tests/support/lz4_fixtures.ts";
import { compressBlock, compressBound } from "./lz4_block.ts";
import { decompressBlock } from "./lz4_block_decoder.ts";

/** LZ4 block rules the reference decoder relies on (lz4_Block_format.md, "End of block"). */
const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MFLIMIT = 12;

function block(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(compressBound(src.length));
  return dst.slice(0, compressBlock(src, dst));
}

/** Compresses, checks the end-of-block rules, decodes back and returns the block. */
function roundTrip(src: Uint8Array, label = `${src.length} bytes`): Uint8Array {
  const c = block(src);
  assert.ok(c.length <= compressBound(src.length), label);
  checkBlockRules(c, src.length, label);
  const out = new Uint8Array(src.length);
  assert.equal(decompressBlock(c, out), src.length, label);
  assert.equal(firstDifference(out, src), -1, label);
  return c;
}

/**
 * Walks a block's sequences and checks what liblz4's decoder assumes: the last sequence is
 * literals only, the last match starts at least MFLIMIT bytes and ends at least
 * LAST_LITERALS bytes before the end.
 */
function checkBlockRules(c: Uint8Array, n: number, label: string): void {
  const length = (nibble: number, at: { ip: number }) => {
    let value = nibble;
    if (nibble === 15) {
      let b: number;
      do {
        b = c[at.ip++];
        value += b;
      } while (b === 255);
    }
    return value;
  };
  const at = { ip: 0 };
  let op = 0;
  let lastMatchStart = -1;
  let lastMatchEnd = 0;
  for (;;) {
    const token = c[at.ip++];
    const literals = length(token >>> 4, at);
    at.ip += literals;
    op += literals;
    if (at.ip >= c.length) break;
    at.ip += 2;
    lastMatchStart = op;
    op += length(token & 15, at) + MIN_MATCH;
    lastMatchEnd = op;
  }
  assert.equal(op, n, `${label}: decoded size`);
  if (lastMatchStart >= 0) {
    assert.ok(lastMatchStart <= n - MFLIMIT, `${label}: last match starts too late`);
    assert.ok(lastMatchEnd <= n - LAST_LITERALS, `${label}: match reaches the last literals`);
  }
}

/** Block, frame-mode `n` and every probed dst length against what Go recorded. */
async function assertLikeGo(c: PierrecCase): Promise<void> {
  const src = await caseInput(c);
  const dst = new Uint8Array(compressBound(src.length));
  const n = compressBlock(src, dst);
  assert.equal(n, c.blockN, `${c.name}: compressed length`);
  const got = dst.slice(0, n);
  const expected = await blobBytes(c.block);
  if (expected) {
    const at = firstDifference(got, expected);
    assert.equal(at, -1, `${c.name}: first differing byte at ${at}`);
  } else {
    assert.equal(await sha256Hex(got), c.block.sha256, `${c.name}: block SHA-256`);
  }
  if (src.length > 0) roundTrip(src, c.name);

  const frameModeN = compressBlock(src, new Uint8Array(src.length));
  assert.equal(frameModeN, c.frameModeN, `${c.name}: n with dst = len(src)`);
  for (const [dstLength, expectedN] of c.probes) {
    const out = new Uint8Array(dstLength);
    const probeN = compressBlock(src, out);
    assert.equal(probeN, expectedN, `${c.name}: n with a dst of ${dstLength} bytes`);
    if (probeN > 0) {
      assert.equal(firstDifference(out.subarray(0, probeN), got), -1, `${c.name}: ${dstLength}`);
    }
  }
}

Deno.test("compressBlock turns 512 bytes of seed + i % 7 into pierrec's 31 bytes, as in superfly/ltx's golden test", () => {
  const expected: Record<number, string> = {
    0: "7f000102030405060700ffd300e30100ea01c0030405060001020304050600",
    42: "7f2a2b2c2d2e2f300700ffd300e30100ea01c02d2e2f302a2b2c2d2e2f302a",
  };
  for (const seed of [0, 1, 7, 42, 128, 250, 255]) {
    const src = new Uint8Array(512).map((_, i) => (seed + (i % 7)) & 0xff);
    const c = roundTrip(src);
    assert.equal(c.length, 31, `seed ${seed}`);
    if (expected[seed]) assert.deepEqual(c, fromHex(expected[seed]));
    // The frame writer's dst is exactly len(src): still 31 bytes, kept compressed.
    assert.equal(compressBlock(src, new Uint8Array(src.length)), 31);
  }
});

Deno.test("compressBlock matches Go pierrec/lz4 v4.1.22 byte for byte on every manifest case and dst length", async () => {
  const cases = await loadPierrecCases("manifest");
  assert.equal(cases.length, 189);
  for (const c of cases) await assertLikeGo(c);
});

Deno.test("compressBlock matches Go pierrec/lz4 on every size from 0 to 100 bytes", async () => {
  const cases = await loadPierrecCases("sweep");
  assert.equal(cases.length, 404);
  for (const c of cases) await assertLikeGo(c);
});

Deno.test("compressBlock follows pierrec's dst-length rules for empty and tiny inputs", () => {
  const dst = new Uint8Array(compressBound(0));
  assert.equal(compressBlock(new Uint8Array(0), dst), 1);
  assert.equal(dst[0], 0, "an empty block is a single zero token");
  // Below the bound nothing matched means 0: the frame writer then stores the input raw.
  assert.equal(compressBlock(new Uint8Array(0), new Uint8Array(0)), 0);
  assert.equal(compressBlock(new Uint8Array(14), new Uint8Array(14)), 0);
  assert.equal(compressBlock(new Uint8Array(14), new Uint8Array(30)), 15);
  // Random bytes never shrink: 0 below the bound, at most the bound with it.
  const noise = new Random(1).bytes(SQLITE_PAGE_SIZE);
  assert.equal(compressBlock(noise, new Uint8Array(noise.length)), 0);
  assert.ok(roundTrip(noise).length <= compressBound(noise.length));
  assert.equal(compressBound(SQLITE_PAGE_SIZE), 4096 + 16 + 16);
});

Deno.test("compressBlock gives the same bytes whatever ran before it, across a wrap of its table stamp", () => {
  const a = generateInput({ kind: "text", size: 4096, seed: 4 });
  const b = generateInput({ kind: "mixed", size: 4096, seed: 6, maxOffset: 65535 });
  const first = block(a);
  const tiny = new Uint8Array(32).fill(7);
  const tinyDst = new Uint8Array(compressBound(tiny.length));
  block(b);
  // 65,536 calls push the per-call stamp through a full wrap-around and table reset.
  for (let i = 0; i < 0x10000; i++) compressBlock(tiny, tinyDst);
  block(b);
  assert.deepEqual(block(a), first);
});

Deno.test("compressBlock reads and writes views with a byte offset like standalone arrays", () => {
  const src = generateInput({ kind: "mixed", size: 5000, seed: 8, maxOffset: 2000 });
  const expected = block(src);
  const backing = new Uint8Array(src.length + 11);
  backing.set(src, 3);
  const outBacking = new Uint8Array(compressBound(src.length) + 9);
  const out = outBacking.subarray(5, 5 + compressBound(src.length));
  assert.equal(compressBlock(backing.subarray(3, 3 + src.length), out), expected.length);
  assert.deepEqual(out.subarray(0, expected.length), expected);
  assert.equal(outBacking[4], 0, "nothing is written before the dst view");
});

Deno.test("compressBlock output decodes back and keeps the end-of-block rules for many sizes and kinds", () => {
  const random = new Random(42);
  for (let n = 0; n <= 300; n++) {
    roundTrip(random.bytes(n));
    roundTrip(new Uint8Array(n).fill(7));
    roundTrip(generateInput({ kind: "text", size: n, seed: n }));
  }
  for (let seed = 100; seed < 120; seed++) {
    for (const kind of ["mixed", "runs", "alpha", "text"] as const) {
      const size = (seed * 977) % 70000;
      roundTrip(generateInput({ kind, size, seed, alphabet: 3, maxOffset: 1 + seed * 500 }));
    }
  }
  for (const n of [65535, 65536, 65537, 300000]) {
    roundTrip(new Uint8Array(n));
    roundTrip(random.bytes(n));
  }
});

Deno.test("compressBlock shrinks real SQLite pages and all-zero or repetitive pages", () => {
  let total = 0;
  for (let i = 0; i < SQLITE_PAGES.length / SQLITE_PAGE_SIZE; i++) {
    total += roundTrip(sqlitePage(i), `page ${i}`).length;
  }
  assert.ok(total / SQLITE_PAGES.length < 0.7, `ratio ${total / SQLITE_PAGES.length}`);
  roundTrip(SQLITE_PAGES, "all 16 pages as one block");
  // pierrec leaves 14 literal bytes at the end and extends matches only in 8-byte groups,
  // so these come out a little longer than with liblz4 (a zero page: 38 bytes, liblz4 26).
  assert.ok(roundTrip(new Uint8Array(SQLITE_PAGE_SIZE)).length <= 40);
  assert.ok(roundTrip(new Uint8Array(65536)).length < 300);
  const abc = Uint8Array.from({ length: SQLITE_PAGE_SIZE }, (_, i) => 97 + (i % 3));
  assert.ok(roundTrip(abc).length <= 40);
});

Deno.test("compressBlock uses a match exactly 65535 bytes back but never one 65536 bytes back", () => {
  const random = new Random(3);
  const head = random.bytes(1000);
  const sizes: number[] = [];
  for (const distance of [65535, 65536]) {
    const src = random.bytes(distance + 2000);
    src.set(head, 0);
    src.set(head, distance);
    sizes.push(roundTrip(src).length);
  }
  // An offset field cannot express 65536, so there the repeat must stay literals.
  assert.ok(sizes[0] < sizes[1] - 900, `sizes ${sizes}`);
});
