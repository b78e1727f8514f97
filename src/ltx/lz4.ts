/**
 * LZ4 block and frame codec, tuned for compressing single database pages
 * (512 B … 64 KB, typically 4 KB).
 *
 * - Block format: https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md
 * - Frame format: https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md
 *
 * Design notes:
 * - The compressor is the classic "LZ4 fast" greedy parser (acceleration 1)
 *   with a single-entry hash table. The table lives at module level and is
 *   invalidated between calls with a generation offset instead of being
 *   cleared, so a call allocates nothing and touches only the table slots it
 *   actually hashes.
 * - The decompressor validates every read and write explicitly. Typed arrays
 *   would silently swallow out-of-range accesses (reads give `undefined`,
 *   writes are dropped), so without explicit checks hostile input would decode
 *   to garbage instead of failing. Every loop iteration consumes at least one
 *   input byte, so decoding always terminates.
 * - No BigInt anywhere: the 64-bit content size is handled as two 32-bit
 *   halves and limited to Number.MAX_SAFE_INTEGER.
 */

// ---------------------------------------------------------------------------
// Block format constants
// ---------------------------------------------------------------------------

/** Shortest match the format can express (match length field stores len - 4). */
export const MIN_MATCH = 4;
/** The last 5 bytes of a block are always literals (decoder fast-path slack). */
export const LAST_LITERALS = 5;
/** The last match must start at least 12 bytes before the end of the block. */
export const MFLIMIT = 12;
/** Inputs shorter than this cannot contain a legal match: emit literals only. */
const MIN_INPUT_FOR_MATCH = MFLIMIT + 1;
/** Match offsets are 16-bit, so a match can reach at most 65535 bytes back. */
export const MAX_DISTANCE = 65535;
/** Largest input the block compressor accepts (same limit as liblz4). */
export const MAX_INPUT_SIZE = 0x7e000000;

/** Bits of the token used by the match length; the high nibble is literals. */
const ML_BITS = 4;
/** Nibble value meaning "length continues in extra bytes". */
const RUN_MASK = 15;
/** An extra length byte of 255 means "another length byte follows". */
const LENGTH_BYTE_MAX = 255;
const BYTE_MASK = 0xff;
const BITS_PER_BYTE = 8;

/** Copies at least this long use native copy routines instead of a JS loop. */
const NATIVE_COPY_THRESHOLD = 32;

// ---------------------------------------------------------------------------
// Compressor hash table
// ---------------------------------------------------------------------------

/**
 * 2^13 entries: liblz4 uses HASHLOG+1 = 13 bits for inputs below 64 KB, which
 * is exactly our page-sized workload. 32 KB of Int32 fits in L1/L2.
 */
const HASH_LOG = 13;
const HASH_SIZE = 1 << HASH_LOG;
const HASH_SHIFT = 32 - HASH_LOG;
/** Knuth's multiplicative hash constant (2654435761), as used by liblz4. */
const HASH_MULTIPLIER = 0x9e3779b1 | 0;
/**
 * Each unsuccessful probe increases the search step every 2^6 attempts, so
 * incompressible data is skipped quickly (liblz4 "acceleration" heuristic).
 */
const SKIP_TRIGGER = 6;
const INT32_MAX = 0x7fffffff;

/**
 * Each slot holds `generationBase + position`. After a call, the base moves
 * past every value that call could have stored plus a full window, so stale
 * slots always look farther away than MAX_DISTANCE and are rejected by the
 * ordinary distance check. The table is only really cleared when the base
 * would overflow int32 (about every 30 000 calls for 4 KB pages).
 */
const hashTable = new Int32Array(HASH_SIZE);
/** Starts one window in, so zero-filled slots are already "stale". */
const INITIAL_GENERATION_BASE = MAX_DISTANCE + 1;
let generationBase = INITIAL_GENERATION_BASE;

// ---------------------------------------------------------------------------
// Frame format constants
// ---------------------------------------------------------------------------

export const FRAME_MAGIC = 0x184d2204;
/** Skippable frames use magics 0x184D2A50 … 0x184D2A5F. */
const SKIPPABLE_MAGIC_BASE = 0x184d2a50;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const MAGIC_SIZE = 4;
const BLOCK_HEADER_SIZE = 4;
const CHECKSUM_SIZE = 4;
const END_MARK_SIZE = 4;
const CONTENT_SIZE_FIELD_SIZE = 8;
const DICT_ID_FIELD_SIZE = 4;
/** FLG + BD bytes. */
const DESCRIPTOR_FIXED_SIZE = 2;
const HEADER_CHECKSUM_SIZE = 1;
/** Magic + FLG + BD + HC: the smallest possible frame header. */
const MIN_FRAME_HEADER_SIZE = MAGIC_SIZE + DESCRIPTOR_FIXED_SIZE +
  HEADER_CHECKSUM_SIZE;
const MAX_FRAME_HEADER_SIZE = MIN_FRAME_HEADER_SIZE + CONTENT_SIZE_FIELD_SIZE +
  DICT_ID_FIELD_SIZE;

// FLG byte layout: [7:6] version, [5] block independence, [4] block checksum,
// [3] content size, [2] content checksum, [1] reserved, [0] dict ID.
const FLG_VERSION_SHIFT = 6;
const FLG_VERSION_MASK = 0x3;
const FRAME_VERSION = 1;
const FLG_BLOCK_INDEPENDENCE = 0x20;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_RESERVED = 0x02;
const FLG_DICT_ID = 0x01;

// BD byte layout: [7] reserved, [6:4] block max size id, [3:0] reserved.
const BD_BLOCK_SIZE_SHIFT = 4;
const BD_BLOCK_SIZE_MASK = 0x7;
const BD_RESERVED = 0x8f;
/** Block max size ids 4..7 mean 64 KB, 256 KB, 1 MB, 4 MB. */
const BLOCK_SIZE_ID_MIN = 4;
const BLOCK_SIZE_ID_64KB = 4;
/** size = 1 << (BASE + 2 * id): id 4 -> 2^16 = 64 KB. */
const BLOCK_SIZE_LOG_BASE = 8;
const BLOCK_SIZE_LOG_PER_ID = 2;
/** Pages never exceed 64 KB, and Go's pierrec/lz4 pools 64 KB buffers. */
const WRITE_BLOCK_MAX_SIZE = 1 << 16;

/** High bit of a block size word marks an uncompressed (stored) block. */
const BLOCK_UNCOMPRESSED_FLAG = 0x80000000;
const BLOCK_SIZE_MASK = 0x7fffffff;

/** The header checksum byte is the second byte of xxh32(descriptor, 0). */
const HEADER_CHECKSUM_SHIFT = 8;

/** 2^32, used to combine the two halves of the 64-bit content size. */
const UINT32_RANGE = 0x100000000;
/** High half limit that keeps the content size below 2^53. */
const CONTENT_SIZE_HIGH_MAX = 0x1fffff;

/**
 * Each compressed byte can expand to at most 255 output bytes plus a little
 * (a run of 255-bytes in a length field); used to bound output size before
 * allocating for frames that do not declare their content size.
 */
const MAX_EXPANSION_PER_BYTE = 255;
const MAX_EXPANSION_SLACK = 64;

/**
 * Frame decode/encode scratch buffers are kept for reuse up to this size;
 * bigger one-off frames get a temporary buffer so the module does not pin
 * a large allocation forever.
 */
const SCRATCH_RETAIN_LIMIT = 1 << 20;

// ---------------------------------------------------------------------------
// xxHash32 constants
// ---------------------------------------------------------------------------

const PRIME32_1 = 0x9e3779b1 | 0;
const PRIME32_2 = 0x85ebca77 | 0;
const PRIME32_3 = 0xc2b2ae3d | 0;
const PRIME32_4 = 0x27d4eb2f | 0;
const PRIME32_5 = 0x165667b1 | 0;
const XXH_STRIPE_SIZE = 16;
const XXH_LANE_SIZE = 4;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export type Lz4ErrorCode =
  | "EMPTY_BLOCK"
  | "TRUNCATED_LENGTH"
  | "TRUNCATED_LITERALS"
  | "TRUNCATED_OFFSET"
  | "MISSING_LAST_LITERALS"
  | "ZERO_OFFSET"
  | "OFFSET_OUT_OF_RANGE"
  | "OUTPUT_OVERFLOW"
  | "TRUNCATED_FRAME"
  | "BAD_MAGIC"
  | "BAD_VERSION"
  | "RESERVED_BITS"
  | "DICT_ID_UNSUPPORTED"
  | "HEADER_CHECKSUM"
  | "BLOCK_TOO_LARGE"
  | "BLOCK_CHECKSUM"
  | "CONTENT_CHECKSUM"
  | "SIZE_MISMATCH";

/** Thrown for any malformed or corrupt input. `offset` is a byte offset in the source. */
export class Lz4Error extends Error {
  readonly code: Lz4ErrorCode;
  readonly offset: number;

  constructor(code: Lz4ErrorCode, message: string, offset: number) {
    super(`lz4: ${message} at byte ${offset} (${code})`);
    this.name = "Lz4Error";
    this.code = code;
    this.offset = offset;
  }
}

// Throwing lives in a separate function so the hot decode loop stays small
// enough for V8 to inline and optimise well.
function fail(code: Lz4ErrorCode, message: string, offset: number): never {
  throw new Lz4Error(code, message, offset);
}

// ---------------------------------------------------------------------------
// xxHash32
// ---------------------------------------------------------------------------

function read32(p: Uint8Array, i: number): number {
  return p[i] | (p[i + 1] << 8) | (p[i + 2] << 16) | (p[i + 3] << 24);
}

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function xxhRound(acc: number, lane: number): number {
  acc = (acc + Math.imul(lane, PRIME32_2)) | 0;
  return Math.imul(rotl32(acc, 13), PRIME32_1);
}

/**
 * xxHash32 of `data[start, end)`, returned as an unsigned 32-bit number.
 * Implemented with 32-bit integer math only (Math.imul), no BigInt.
 */
export function xxh32(
  data: Uint8Array,
  seed = 0,
  start = 0,
  end = data.length,
): number {
  const len = end - start;
  let p = start;
  let h: number;
  if (len >= XXH_STRIPE_SIZE) {
    let v1 = (seed + PRIME32_1 + PRIME32_2) | 0;
    let v2 = (seed + PRIME32_2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME32_1) | 0;
    const limit = end - XXH_STRIPE_SIZE;
    while (p <= limit) {
      v1 = xxhRound(v1, read32(data, p));
      v2 = xxhRound(v2, read32(data, p + 4));
      v3 = xxhRound(v3, read32(data, p + 8));
      v4 = xxhRound(v4, read32(data, p + 12));
      p += XXH_STRIPE_SIZE;
    }
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) |
      0;
  } else {
    h = (seed + PRIME32_5) | 0;
  }
  h = (h + len) | 0;
  while (p + XXH_LANE_SIZE <= end) {
    h = (h + Math.imul(read32(data, p), PRIME32_3)) | 0;
    h = Math.imul(rotl32(h, 17), PRIME32_4);
    p += XXH_LANE_SIZE;
  }
  while (p < end) {
    h = (h + Math.imul(data[p], PRIME32_5)) | 0;
    h = Math.imul(rotl32(h, 11), PRIME32_1);
    p++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, PRIME32_2);
  h ^= h >>> 13;
  h = Math.imul(h, PRIME32_3);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------------------------------------------------------------------------
// Block compression
// ---------------------------------------------------------------------------

/** Worst-case compressed size of an `n`-byte input (same formula as liblz4). */
export function compressBound(n: number): number {
  return n + ((n / LENGTH_BYTE_MAX) | 0) + 16;
}

function hashSequence(sequence: number): number {
  return Math.imul(sequence, HASH_MULTIPLIER) >>> HASH_SHIFT;
}

/** Writes a length remainder as 255-bytes followed by a final byte. */
function writeLengthExtension(dst: Uint8Array, op: number, len: number): number {
  while (len >= LENGTH_BYTE_MAX) {
    dst[op++] = LENGTH_BYTE_MAX;
    len -= LENGTH_BYTE_MAX;
  }
  dst[op++] = len;
  return op;
}

function copyLiterals(
  src: Uint8Array,
  from: number,
  to: number,
  dst: Uint8Array,
  op: number,
): number {
  const len = to - from;
  if (len >= NATIVE_COPY_THRESHOLD) {
    // subarray() allocates a tiny view object, which only pays off for
    // long runs; short runs are cheaper as a plain loop.
    dst.set(src.subarray(from, to), op);
    return op + len;
  }
  while (from < to) dst[op++] = src[from++];
  return op;
}

/** Emits the final literal-only sequence of a block. */
function writeLastLiterals(
  src: Uint8Array,
  anchor: number,
  end: number,
  dst: Uint8Array,
  op: number,
): number {
  const litLen = end - anchor;
  if (litLen >= RUN_MASK) {
    dst[op++] = RUN_MASK << ML_BITS;
    op = writeLengthExtension(dst, op, litLen - RUN_MASK);
  } else {
    dst[op++] = litLen << ML_BITS;
  }
  return copyLiterals(src, anchor, end, dst, op);
}

/**
 * Compresses `src[srcStart, srcEnd)` as an independent LZ4 block into `dst`
 * starting at `dstStart`. The caller guarantees room for
 * compressBound(srcEnd - srcStart) bytes. Returns the end offset in dst.
 */
function compressRange(
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
  dst: Uint8Array,
  dstStart: number,
): number {
  const n = srcEnd - srcStart;
  if (n < MIN_INPUT_FOR_MATCH) {
    return writeLastLiterals(src, srcStart, srcEnd, dst, dstStart);
  }

  // Reserve a generation: stored values are `base + position`, and every
  // value a previous call stored is at least a window below `base`.
  if (generationBase > INT32_MAX - n - MAX_DISTANCE - 1) {
    hashTable.fill(0);
    generationBase = INITIAL_GENERATION_BASE;
  }
  const base = generationBase - srcStart;
  generationBase += n + MAX_DISTANCE + 1;
  const table = hashTable;

  // A match may only start at ip <= srcEnd - MFLIMIT and is never extended
  // into the last LAST_LITERALS bytes, as the block format requires.
  const mflimitPlusOne = srcEnd - MFLIMIT + 1;
  const matchLimit = srcEnd - LAST_LITERALS;

  let op = dstStart;
  let anchor = srcStart;
  let ip = srcStart;

  table[hashSequence(read32(src, ip))] = base + ip;
  ip++;
  let forwardH = hashSequence(read32(src, ip));

  outer: for (;;) {
    // --- Find a match (skipping faster the longer nothing matches).
    let ref: number;
    let forwardIp = ip;
    let step = 1;
    let searchCount = 1 << SKIP_TRIGGER;
    do {
      const h = forwardH;
      ip = forwardIp;
      forwardIp += step;
      step = searchCount++ >> SKIP_TRIGGER;
      if (forwardIp > mflimitPlusOne) break outer;
      ref = table[h] - base;
      forwardH = hashSequence(read32(src, forwardIp));
      table[h] = base + ip;
    } while (ip - ref > MAX_DISTANCE || read32(src, ref) !== read32(src, ip));

    // --- Extend the match backwards over pending literals.
    while (ip > anchor && ref > srcStart && src[ip - 1] === src[ref - 1]) {
      ip--;
      ref--;
    }

    // --- Literal run.
    let tokenPos = op++;
    const litLen = ip - anchor;
    if (litLen >= RUN_MASK) {
      dst[tokenPos] = RUN_MASK << ML_BITS;
      op = writeLengthExtension(dst, op, litLen - RUN_MASK);
    } else {
      dst[tokenPos] = litLen << ML_BITS;
    }
    op = copyLiterals(src, anchor, ip, dst, op);

    for (;;) {
      // --- Offset and match length.
      const offset = ip - ref;
      dst[op++] = offset & BYTE_MASK;
      dst[op++] = offset >>> BITS_PER_BYTE;

      let mp = ip + MIN_MATCH;
      let rp = ref + MIN_MATCH;
      while (mp < matchLimit && src[mp] === src[rp]) {
        mp++;
        rp++;
      }
      const matchLen = mp - ip - MIN_MATCH;
      ip = mp;
      if (matchLen >= RUN_MASK) {
        dst[tokenPos] |= RUN_MASK;
        op = writeLengthExtension(dst, op, matchLen - RUN_MASK);
      } else {
        dst[tokenPos] |= matchLen;
      }
      anchor = ip;

      if (ip >= mflimitPlusOne) break outer;

      // Index a position inside the match we just emitted: cheap and helps
      // the next search on repetitive page content.
      const fill = ip - 2;
      table[hashSequence(read32(src, fill))] = base + fill;

      // --- Try an immediate follow-on match (zero literals).
      const h = hashSequence(read32(src, ip));
      ref = table[h] - base;
      table[h] = base + ip;
      if (ip - ref <= MAX_DISTANCE && read32(src, ref) === read32(src, ip)) {
        tokenPos = op++;
        dst[tokenPos] = 0;
        continue;
      }
      break;
    }

    ip++;
    forwardH = hashSequence(read32(src, ip));
  }

  return writeLastLiterals(src, anchor, srcEnd, dst, op);
}

/**
 * Compresses `src` into `dst` as one raw LZ4 block and returns the number of
 * bytes written. `dst` must hold at least compressBound(src.length) bytes.
 */
export function compressBlock(src: Uint8Array, dst: Uint8Array): number {
  const n = src.length;
  if (n > MAX_INPUT_SIZE) {
    throw new RangeError(`lz4: input of ${n} bytes exceeds ${MAX_INPUT_SIZE}`);
  }
  if (dst.length < compressBound(n)) {
    // Typed arrays drop out-of-range writes silently, so an undersized dst
    // would produce a corrupt block rather than an exception.
    throw new RangeError(
      `lz4: dst has ${dst.length} bytes, needs compressBound(${n}) = ${compressBound(n)}`,
    );
  }
  return compressRange(src, 0, n, dst, 0);
}

// ---------------------------------------------------------------------------
// Block decompression
// ---------------------------------------------------------------------------

/**
 * Decodes the block `src[ip, srcEnd)` into `dst` at `op`, never writing at or
 * beyond `dstEnd` and never referencing output before `windowStart`.
 * Returns the new output position.
 */
function decodeRange(
  src: Uint8Array,
  ip: number,
  srcEnd: number,
  dst: Uint8Array,
  op: number,
  dstEnd: number,
  windowStart: number,
): number {
  if (ip >= srcEnd) fail("EMPTY_BLOCK", "empty block", ip);
  for (;;) {
    const tokenPos = ip;
    const token = src[ip++];

    // --- Literals.
    let litLen = token >>> ML_BITS;
    if (litLen === RUN_MASK) {
      let b: number;
      do {
        if (ip >= srcEnd) {
          fail("TRUNCATED_LENGTH", "truncated literal length", ip);
        }
        b = src[ip++];
        litLen += b;
      } while (b === LENGTH_BYTE_MAX);
    }
    if (litLen !== 0) {
      const litEnd = ip + litLen;
      if (litEnd > srcEnd) {
        fail(
          "TRUNCATED_LITERALS",
          `literal run of ${litLen} bytes runs past end of input`,
          ip,
        );
      }
      if (op + litLen > dstEnd) {
        fail(
          "OUTPUT_OVERFLOW",
          `literal run of ${litLen} bytes overflows output at ${op}`,
          ip,
        );
      }
      if (litLen >= NATIVE_COPY_THRESHOLD) {
        dst.set(src.subarray(ip, litEnd), op);
        op += litLen;
        ip = litEnd;
      } else {
        while (ip < litEnd) dst[op++] = src[ip++];
      }
    }

    // The last sequence of a block carries literals only.
    if (ip === srcEnd) return op;

    // --- Match.
    if (ip + 2 > srcEnd) fail("TRUNCATED_OFFSET", "truncated match offset", ip);
    const offset = src[ip] | (src[ip + 1] << BITS_PER_BYTE);
    if (offset === 0) fail("ZERO_OFFSET", "match offset 0", ip);
    let ref = op - offset;
    if (ref < windowStart) {
      fail(
        "OFFSET_OUT_OF_RANGE",
        `match offset ${offset} reaches before start of output (output position ${op})`,
        ip,
      );
    }
    ip += 2;

    let matchLen = token & RUN_MASK;
    if (matchLen === RUN_MASK) {
      let b: number;
      do {
        if (ip >= srcEnd) {
          fail("TRUNCATED_LENGTH", "truncated match length", ip);
        }
        b = src[ip++];
        matchLen += b;
      } while (b === LENGTH_BYTE_MAX);
    }
    matchLen += MIN_MATCH;
    const matchEnd = op + matchLen;
    if (matchEnd > dstEnd) {
      fail(
        "OUTPUT_OVERFLOW",
        `match of ${matchLen} bytes overflows output at ${op}`,
        tokenPos,
      );
    }

    if (matchLen < NATIVE_COPY_THRESHOLD) {
      // Byte-by-byte copy also gives the required overlap semantics
      // (offset < length repeats the last `offset` bytes).
      while (op < matchEnd) dst[op++] = dst[ref++];
    } else if (offset >= matchLen) {
      dst.copyWithin(op, ref, ref + matchLen);
      op = matchEnd;
    } else {
      // Overlapping long match (e.g. runs of zeros): the output is periodic
      // with period `offset`, so copy from `ref` in chunks that never
      // overlap their source; each chunk doubles the available distance.
      while (op < matchEnd) {
        const chunk = Math.min(op - ref, matchEnd - op);
        dst.copyWithin(op, ref, ref + chunk);
        op += chunk;
      }
    }

    if (ip >= srcEnd) {
      fail(
        "MISSING_LAST_LITERALS",
        "block ends with a match instead of literals",
        ip,
      );
    }
  }
}

/**
 * Decodes one raw LZ4 block into `dst` starting at `dstOffset` and returns the
 * number of bytes written. Bytes `dst[dictStart, dstOffset)` may be referenced
 * as history (linked blocks); by default nothing before `dstOffset` is.
 * Throws Lz4Error on malformed input.
 */
export function decompressBlock(
  src: Uint8Array,
  dst: Uint8Array,
  dstOffset = 0,
  dictStart = dstOffset,
): number {
  if (
    !(dstOffset >= 0 && dstOffset <= dst.length && dictStart >= 0 &&
      dictStart <= dstOffset)
  ) {
    throw new RangeError(
      `lz4: bad dstOffset ${dstOffset} / dictStart ${dictStart} for dst of ${dst.length} bytes`,
    );
  }
  return decodeRange(src, 0, src.length, dst, dstOffset, dst.length, dictStart) -
    dstOffset;
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

export interface FrameOptions {
  /** Append xxh32 of the whole content after the end mark. Default false. */
  contentChecksum?: boolean;
  /** Store the content size in the header. Default false. */
  contentSize?: boolean;
  /** Append xxh32 of each stored block. Default false. */
  blockChecksum?: boolean;
}

export interface FrameResult {
  /** Decoded content (a view of `dst` when one was passed). */
  data: Uint8Array;
  /** Number of decoded bytes (= data.length). */
  length: number;
  /** Bytes of `src` the frame occupied, starting at the given offset. */
  bytesRead: number;
}

function write32(p: Uint8Array, i: number, v: number): void {
  p[i] = v;
  p[i + 1] = v >>> 8;
  p[i + 2] = v >>> 16;
  p[i + 3] = v >>> 24;
}

function readU32(p: Uint8Array, i: number): number {
  return read32(p, i) >>> 0;
}

/** Upper bound of compressFrameInto's output for an `n`-byte input. */
export function compressFrameBound(n: number): number {
  const blocks = Math.max(1, Math.ceil(n / WRITE_BLOCK_MAX_SIZE));
  return MAX_FRAME_HEADER_SIZE +
    blocks * (BLOCK_HEADER_SIZE + CHECKSUM_SIZE) +
    n + blocks * (compressBound(WRITE_BLOCK_MAX_SIZE) - WRITE_BLOCK_MAX_SIZE) +
    END_MARK_SIZE + CHECKSUM_SIZE;
}

/**
 * Writes a standard LZ4 frame for `src` into `dst` (at least
 * compressFrameBound(src.length) bytes) and returns the frame length.
 * Blocks are independent and at most 64 KB, so one page is one block.
 */
export function compressFrameInto(
  src: Uint8Array,
  dst: Uint8Array,
  options: FrameOptions = {},
): number {
  const n = src.length;
  if (dst.length < compressFrameBound(n)) {
    throw new RangeError(
      `lz4: dst has ${dst.length} bytes, needs compressFrameBound(${n}) = ${compressFrameBound(n)}`,
    );
  }
  const withContentChecksum = options.contentChecksum === true;
  const withContentSize = options.contentSize === true;
  const withBlockChecksum = options.blockChecksum === true;

  write32(dst, 0, FRAME_MAGIC);
  let op = MAGIC_SIZE;
  const descriptorStart = op;
  dst[op++] = (FRAME_VERSION << FLG_VERSION_SHIFT) | FLG_BLOCK_INDEPENDENCE |
    (withBlockChecksum ? FLG_BLOCK_CHECKSUM : 0) |
    (withContentSize ? FLG_CONTENT_SIZE : 0) |
    (withContentChecksum ? FLG_CONTENT_CHECKSUM : 0);
  dst[op++] = BLOCK_SIZE_ID_64KB << BD_BLOCK_SIZE_SHIFT;
  if (withContentSize) {
    write32(dst, op, n >>> 0);
    write32(dst, op + 4, Math.floor(n / UINT32_RANGE));
    op += CONTENT_SIZE_FIELD_SIZE;
  }
  dst[op] = (xxh32(dst, 0, descriptorStart, op) >>> HEADER_CHECKSUM_SHIFT) &
    BYTE_MASK;
  op += HEADER_CHECKSUM_SIZE;

  for (let start = 0; start < n; start += WRITE_BLOCK_MAX_SIZE) {
    const end = Math.min(n, start + WRITE_BLOCK_MAX_SIZE);
    const dataStart = op + BLOCK_HEADER_SIZE;
    let size = compressRange(src, start, end, dst, dataStart) - dataStart;
    let sizeWord = size;
    if (size >= end - start) {
      // Compression did not help: store the block verbatim (high bit set).
      size = end - start;
      dst.set(src.subarray(start, end), dataStart);
      sizeWord = (size | BLOCK_UNCOMPRESSED_FLAG) >>> 0;
    }
    write32(dst, op, sizeWord);
    op = dataStart + size;
    if (withBlockChecksum) {
      // The spec checksums the block data as stored (compressed or not).
      write32(dst, op, xxh32(dst, 0, dataStart, op));
      op += CHECKSUM_SIZE;
    }
  }

  write32(dst, op, 0);
  op += END_MARK_SIZE;
  if (withContentChecksum) {
    write32(dst, op, xxh32(src, 0));
    op += CHECKSUM_SIZE;
  }
  return op;
}

let frameScratch = new Uint8Array(0);

function scratchBuffer(size: number): Uint8Array {
  if (size > SCRATCH_RETAIN_LIMIT) return new Uint8Array(size);
  if (frameScratch.length < size) frameScratch = new Uint8Array(size);
  return frameScratch;
}

/** Compresses `src` into a new, exactly sized LZ4 frame. */
export function compressFrame(
  src: Uint8Array,
  options: FrameOptions = {},
): Uint8Array {
  const tmp = scratchBuffer(compressFrameBound(src.length));
  const len = compressFrameInto(src, tmp, options);
  return tmp.slice(0, len);
}

function need(
  src: Uint8Array,
  ip: number,
  count: number,
  what: string,
): void {
  if (ip + count > src.length) {
    fail("TRUNCATED_FRAME", `truncated frame: missing ${what}`, ip);
  }
}

/**
 * Decodes one LZ4 frame starting at `src[srcOffset]`.
 *
 * If `dst` is given the content is written to its start and `data` is a view
 * of it; otherwise a new exactly sized array is returned. `bytesRead` tells
 * where the frame ends, so frames stored back to back can be walked.
 * Skippable frames are consumed and yield empty content.
 */
export function decompressFrame(
  src: Uint8Array,
  dst?: Uint8Array,
  srcOffset = 0,
): FrameResult {
  const frameStart = srcOffset;
  let ip = srcOffset;
  need(src, ip, MAGIC_SIZE, "magic number");
  const magic = readU32(src, ip);
  if (magic !== FRAME_MAGIC) {
    if (((magic & SKIPPABLE_MAGIC_MASK) >>> 0) === SKIPPABLE_MAGIC_BASE) {
      need(src, ip + MAGIC_SIZE, 4, "skippable frame size");
      const skip = readU32(src, ip + MAGIC_SIZE);
      need(src, ip + MAGIC_SIZE + 4, skip, "skippable frame data");
      return {
        data: dst ? dst.subarray(0, 0) : new Uint8Array(0),
        length: 0,
        bytesRead: MAGIC_SIZE + 4 + skip,
      };
    }
    fail("BAD_MAGIC", `bad magic number 0x${magic.toString(16)}`, ip);
  }
  ip += MAGIC_SIZE;

  // --- Frame descriptor.
  need(src, ip, DESCRIPTOR_FIXED_SIZE + HEADER_CHECKSUM_SIZE, "descriptor");
  const descriptorStart = ip;
  const flg = src[ip];
  const bd = src[ip + 1];
  if (((flg >>> FLG_VERSION_SHIFT) & FLG_VERSION_MASK) !== FRAME_VERSION) {
    fail("BAD_VERSION", `unsupported frame version in FLG 0x${flg.toString(16)}`, ip);
  }
  if ((flg & FLG_RESERVED) !== 0) {
    fail("RESERVED_BITS", "reserved FLG bit set", ip);
  }
  if ((bd & BD_RESERVED) !== 0) {
    fail("RESERVED_BITS", "reserved BD bits set", ip + 1);
  }
  const blockSizeId = (bd >>> BD_BLOCK_SIZE_SHIFT) & BD_BLOCK_SIZE_MASK;
  if (blockSizeId < BLOCK_SIZE_ID_MIN) {
    fail("RESERVED_BITS", `invalid block max size id ${blockSizeId}`, ip + 1);
  }
  const blockMax = 1 <<
    (BLOCK_SIZE_LOG_BASE + BLOCK_SIZE_LOG_PER_ID * blockSizeId);
  const linked = (flg & FLG_BLOCK_INDEPENDENCE) === 0;
  const hasBlockChecksum = (flg & FLG_BLOCK_CHECKSUM) !== 0;
  const hasContentSize = (flg & FLG_CONTENT_SIZE) !== 0;
  const hasContentChecksum = (flg & FLG_CONTENT_CHECKSUM) !== 0;
  ip += DESCRIPTOR_FIXED_SIZE;

  let contentSize = -1;
  if (hasContentSize) {
    need(src, ip, CONTENT_SIZE_FIELD_SIZE + HEADER_CHECKSUM_SIZE, "content size");
    const lo = readU32(src, ip);
    const hi = readU32(src, ip + 4);
    if (hi > CONTENT_SIZE_HIGH_MAX) {
      fail("SIZE_MISMATCH", "declared content size exceeds 2^53", ip);
    }
    contentSize = hi * UINT32_RANGE + lo;
    ip += CONTENT_SIZE_FIELD_SIZE;
  }
  if ((flg & FLG_DICT_ID) !== 0) {
    fail("DICT_ID_UNSUPPORTED", "frames with a dictionary ID are not supported", ip);
  }
  const expectedHc = (xxh32(src, 0, descriptorStart, ip) >>> HEADER_CHECKSUM_SHIFT) & BYTE_MASK;
  if (src[ip] !== expectedHc) {
    fail(
      "HEADER_CHECKSUM",
      `header checksum 0x${src[ip].toString(16)} != 0x${expectedHc.toString(16)}`,
      ip,
    );
  }
  ip += HEADER_CHECKSUM_SIZE;

  // --- Pre-scan block headers: validates the frame's structure and bounds
  // the output size before anything is allocated or decoded.
  const blocksStart = ip;
  const blockTrailer = hasBlockChecksum ? CHECKSUM_SIZE : 0;
  let maxOut = 0;
  for (;;) {
    need(src, ip, BLOCK_HEADER_SIZE, "block size / end mark");
    const word = readU32(src, ip);
    if (word === 0) break;
    const size = word & BLOCK_SIZE_MASK;
    if (size > blockMax) {
      fail("BLOCK_TOO_LARGE", `block of ${size} bytes exceeds max ${blockMax}`, ip);
    }
    need(src, ip + BLOCK_HEADER_SIZE, size + blockTrailer, "block data");
    maxOut += (word & BLOCK_UNCOMPRESSED_FLAG) !== 0
      ? size
      : Math.min(blockMax, size * MAX_EXPANSION_PER_BYTE + MAX_EXPANSION_SLACK);
    ip += BLOCK_HEADER_SIZE + size + blockTrailer;
  }
  const endMarkPos = ip;
  ip += END_MARK_SIZE;
  if (hasContentChecksum) need(src, ip, CHECKSUM_SIZE, "content checksum");
  const frameEnd = ip + (hasContentChecksum ? CHECKSUM_SIZE : 0);

  if (contentSize > maxOut) {
    fail(
      "SIZE_MISMATCH",
      `declared content size ${contentSize} exceeds what the blocks can hold`,
      descriptorStart,
    );
  }
  let out: Uint8Array;
  let exact = false;
  if (dst !== undefined) {
    out = dst;
  } else if (contentSize >= 0) {
    out = new Uint8Array(contentSize);
    exact = true;
  } else {
    out = scratchBuffer(maxOut);
  }
  const outEnd = out.length;

  // --- Decode blocks.
  let op = 0;
  ip = blocksStart;
  while (ip < endMarkPos) {
    const word = readU32(src, ip);
    const size = word & BLOCK_SIZE_MASK;
    const dataStart = ip + BLOCK_HEADER_SIZE;
    const dataEnd = dataStart + size;
    if (hasBlockChecksum) {
      const stored = readU32(src, dataEnd);
      if (xxh32(src, 0, dataStart, dataEnd) !== stored) {
        fail("BLOCK_CHECKSUM", "block checksum mismatch", dataEnd);
      }
    }
    if ((word & BLOCK_UNCOMPRESSED_FLAG) !== 0) {
      if (op + size > outEnd) {
        fail(
          "OUTPUT_OVERFLOW",
          `stored block of ${size} bytes overflows output at ${op}`,
          ip,
        );
      }
      out.set(src.subarray(dataStart, dataEnd), op);
      op += size;
    } else {
      const blockEnd = Math.min(outEnd, op + blockMax);
      op = decodeRange(src, dataStart, dataEnd, out, op, blockEnd, linked ? 0 : op);
    }
    ip = dataEnd + blockTrailer;
  }

  if (contentSize >= 0 && op !== contentSize) {
    fail(
      "SIZE_MISMATCH",
      `decoded ${op} bytes but header declares ${contentSize}`,
      endMarkPos,
    );
  }
  if (hasContentChecksum) {
    const stored = readU32(src, endMarkPos + END_MARK_SIZE);
    if (xxh32(out, 0, 0, op) !== stored) {
      fail("CONTENT_CHECKSUM", "content checksum mismatch", endMarkPos + END_MARK_SIZE);
    }
  }

  let data: Uint8Array;
  if (exact) data = out;
  else if (dst !== undefined) data = dst.subarray(0, op);
  else data = out.slice(0, op);
  return { data, length: op, bytesRead: frameEnd - frameStart };
}
