/**
 * xxHash32, the checksum of the LZ4 frame format: the frame header checksum byte, the
 * optional per-block checksums and the content checksum Litestream's frames end with.
 *
 * 32-bit integer math only (`Math.imul`, `| 0`), no BigInt: every page of a frame-era LTX
 * file is hashed once on write and once on read, so this sits on the hot path.
 */

const PRIME32_1 = 0x9e3779b1 | 0;
const PRIME32_2 = 0x85ebca77 | 0;
const PRIME32_3 = 0xc2b2ae3d | 0;
const PRIME32_4 = 0x27d4eb2f | 0;
const PRIME32_5 = 0x165667b1 | 0;
/** Bytes consumed per round of the four-lane main loop. */
const STRIPE_SIZE = 16;
/** Bytes per lane read, and per step of the tail loop. */
const LANE_SIZE = 4;
/** Lane rotations used when merging the four accumulators. */
const MERGE_ROTATE_1 = 1;
const MERGE_ROTATE_2 = 7;
const MERGE_ROTATE_3 = 12;
const MERGE_ROTATE_4 = 18;
/** Rotation of one accumulator round. */
const ROUND_ROTATE = 13;
/** Rotations of the 4-byte and 1-byte tail steps. */
const TAIL_WORD_ROTATE = 17;
const TAIL_BYTE_ROTATE = 11;
/** Shifts of the final avalanche. */
const AVALANCHE_SHIFT_1 = 15;
const AVALANCHE_SHIFT_2 = 13;
const AVALANCHE_SHIFT_3 = 16;

function read32(p: Uint8Array, i: number): number {
  return p[i] | (p[i + 1] << 8) | (p[i + 2] << 16) | (p[i + 3] << 24);
}

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, lane: number): number {
  acc = (acc + Math.imul(lane, PRIME32_2)) | 0;
  return Math.imul(rotl32(acc, ROUND_ROTATE), PRIME32_1);
}

/**
 * xxHash32 of `data[start, end)` with `seed`, as an unsigned 32-bit number. The range
 * form lets frame code hash a descriptor or a block in place, without a subarray view.
 */
export function xxh32(
  data: Uint8Array,
  seed = 0,
  start = 0,
  end: number = data.length,
): number {
  const length = end - start;
  let p = start;
  let h: number;
  if (length >= STRIPE_SIZE) {
    let v1 = (seed + PRIME32_1 + PRIME32_2) | 0;
    let v2 = (seed + PRIME32_2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME32_1) | 0;
    const limit = end - STRIPE_SIZE;
    while (p <= limit) {
      v1 = round(v1, read32(data, p));
      v2 = round(v2, read32(data, p + LANE_SIZE));
      v3 = round(v3, read32(data, p + 2 * LANE_SIZE));
      v4 = round(v4, read32(data, p + 3 * LANE_SIZE));
      p += STRIPE_SIZE;
    }
    h = (rotl32(v1, MERGE_ROTATE_1) + rotl32(v2, MERGE_ROTATE_2) +
      rotl32(v3, MERGE_ROTATE_3) + rotl32(v4, MERGE_ROTATE_4)) | 0;
  } else {
    h = (seed + PRIME32_5) | 0;
  }
  h = (h + length) | 0;
  while (p + LANE_SIZE <= end) {
    h = (h + Math.imul(read32(data, p), PRIME32_3)) | 0;
    h = Math.imul(rotl32(h, TAIL_WORD_ROTATE), PRIME32_4);
    p += LANE_SIZE;
  }
  while (p < end) {
    h = (h + Math.imul(data[p], PRIME32_5)) | 0;
    h = Math.imul(rotl32(h, TAIL_BYTE_ROTATE), PRIME32_1);
    p++;
  }
  h ^= h >>> AVALANCHE_SHIFT_1;
  h = Math.imul(h, PRIME32_2);
  h ^= h >>> AVALANCHE_SHIFT_2;
  h = Math.imul(h, PRIME32_3);
  h ^= h >>> AVALANCHE_SHIFT_3;
  return h >>> 0;
}
