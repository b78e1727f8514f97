/**
 * LZ4 block compressor: a byte-for-byte port of the fast compressor of the Go package
 * github.com/pierrec/lz4/v4 (v4.1.22, unchanged in v4.1.23), `Compressor.CompressBlock`.
 * Litestream and superfly/ltx compress every LTX page with it, so walsync must use the very
 * same parser to write LTX files identical to Litestream's. It is verified against Go output
 * in lz4_block_test.ts (fixtures in tests/testdata/lz4/pierrec/).
 *
 * pierrec's parser is not liblz4's `LZ4_compress_default`; both write valid LZ4, but the
 * bytes differ (512 bytes of `seed + i % 7` give 31 bytes here, 18 with liblz4):
 *  - While `si < sn = src.length - MF_LIMIT`, it hashes the 6 bytes at `si` and `si + 1`
 *    (bits 32..47 of `low48(bytes) * PRIME_6_BYTES`), looks both up, stores both, and
 *    accepts the `si` candidate if it lies 1..WIN_SIZE-1 bytes back and its 4 bytes are
 *    equal. Otherwise it hashes `si + 2`, tries the `si + 1` candidate, then stores and
 *    tries `si + 2`; if all fail it skips `2 + ((si - anchor) >> ADAPT_SKIP_LOG)` further.
 *  - A table slot keeps only the low 16 bits of a position, read back relative to the
 *    64 KiB boundary below `si` (or the one before); an empty slot reads as position 0.
 *  - A match is extended backwards over pending literals, then forwards in 8-byte groups
 *    from the end of the 4 bytes found, only while a whole group lies before `sn`, so a
 *    match never reaches the last MF_LIMIT bytes. Then `si - 2` is stored; there is no
 *    immediate re-probe at `si`.
 *
 * Return value, pierrec's `n`:
 *  - With `dst.length >= compressBound(src.length)` it always succeeds (> 0).
 *  - With a smaller `dst` the input counts as "maybe incompressible": 0 comes back when
 *    no match was found, when the output would not be strictly smaller than the input, or
 *    when it does not fit. pierrec's frame writer passes `dst.length === src.length` and
 *    stores the block raw on 0 (see lz4_frame.ts). The contents of `dst` are then unspecified.
 */

/** Minimum match length of the LZ4 format. */
const MIN_MATCH = 4;
/** log2 of the LZ4 window (maximum offset + 1). */
const WIN_SIZE_LOG = 16;
/** LZ4 window size: offsets must be below this. */
const WIN_SIZE = 1 << WIN_SIZE_LOG;
/** Mask of a position inside its 64 KiB window. */
const WIN_MASK = WIN_SIZE - 1;
/** log2 of the number of hash-table slots. */
const HASH_LOG = 16;
/** Number of hash-table slots. */
const HASH_TABLE_SIZE = 1 << HASH_LOG;
/** No match may start within the last MF_LIMIT bytes of the input. */
const MF_LIMIT = 10 + MIN_MATCH;
/** Skip acceleration: extra step = (bytes since last match) >> ADAPT_SKIP_LOG. */
const ADAPT_SKIP_LOG = 7;
/** Bytes compared per step while extending a match forwards. */
const MATCH_STEP = 8;
/** Bytes in one 32-bit little-endian load. */
const WORD_SIZE = 4;
/** Bits in such a word, and the index of its top bit. */
const WORD_BITS = 32;
const WORD_TOP_BIT = WORD_BITS - 1;
/** Distance from the match end to the position stored after each match. */
const MATCH_END_REHASH_BACK = 2;

/**
 * pierrec's 6-byte multiplicative hash constant (227718039650203, 48 bits),
 * split into 16-bit limbs so that the needed bits of the 48x48-bit product
 * can be evaluated with 32-bit integer arithmetic (no BigInt).
 */
const PRIME_6_BYTES_LIMB0 = 0xbf9b;
const PRIME_6_BYTES_LIMB1 = 0xbcdc;
const PRIME_6_BYTES_LIMB2 = 0xcf1b;
/** Width of a limb, used to carry between 16-bit limbs. */
const LIMB_BITS = 16;
/** Mask of a 16-bit limb. */
const LIMB_MASK = 0xffff;

/** Largest value that fits in a 4-bit token nibble. */
const RUN_MASK = 0xf;
/** Token nibble shift for the literal length. */
const LITERAL_LENGTH_SHIFT = 4;
/** Byte value that continues a variable-length length field. */
const LENGTH_CONTINUE = 0xff;
/** Size of the little-endian match offset field. */
const OFFSET_SIZE = 2;
/** Bits per byte, and its log2. */
const BYTE_BITS = 8;
const BYTE_BITS_LOG = 3;
/** Mask of one byte. */
const BYTE_MASK = 0xff;
/** Literal runs up to this length are copied byte by byte (no subarray view). */
const SHORT_COPY_MAX = 64;

/** Worst-case slack of compressBound: n + n / 255 + 16. */
const BOUND_DIVISOR = 255;
const BOUND_SLACK = 16;

/** Bits of a table entry holding the low 16 bits of a position. */
const ENTRY_POSITION_MASK = 0xffff;
/** Table entries keep the call's generation stamp above the position bits. */
const ENTRY_STAMP_SHIFT = 16;
/** Stamps cycle through 1..MAX_STAMP; 0 never matches, so a zeroed table is empty. */
const MAX_STAMP = 0xffff;

/**
 * Module-level hash table, reused by every call. Each entry is
 * `(stamp << 16) | (position & 0xffff)`. A fresh stamp per call makes every
 * entry written by earlier calls read as empty, which is exactly pierrec's
 * per-call reset of its in-use bitmap; the table is only zero-filled when the
 * stamp wraps around (once every 65535 calls).
 */
const hashTable = new Uint32Array(HASH_TABLE_SIZE);
let stamp = 0;

/**
 * Worst-case compressed size of `n` input bytes as defined by pierrec
 * (`CompressBlockBound`): n + floor(n / 255) + 16. This is the same formula as
 * liblz4's `LZ4_COMPRESSBOUND`; a `dst` shorter than this switches on the
 * "incompressible" early exits described above.
 */
export function compressBound(n: number): number {
  return n + Math.floor(n / BOUND_DIVISOR) + BOUND_SLACK;
}

/**
 * Hash of 6 input bytes given as their low 4 bytes `lo` (little-endian) and
 * next 2 bytes `hi`: bits 32..47 of `low48 * PRIME_6_BYTES` (mod 2^48), i.e.
 * pierrec's `((x << 16) * prime6bytes) >> 48`. With 16-bit limbs
 * x = x0 + x1·2^16 + x2·2^32 and the prime likewise, those bits are the low
 * 16 bits of x0·p2 + x1·p1 + x2·p0 plus the carry out of
 * x0·p0 + (x0·p1 + x1·p0)·2^16. Every partial product fits in 32 bits, so
 * Math.imul and int32 additions suffice (no BigInt, no doubles). The result
 * is HASH_LOG (16) bits wide and indexes `hashTable` directly.
 */
function hash6(lo: number, hi: number): number {
  const x0 = lo & LIMB_MASK;
  const x1 = lo >>> LIMB_BITS;
  const x2 = hi & LIMB_MASK;
  const m00 = Math.imul(x0, PRIME_6_BYTES_LIMB0);
  const m01 = Math.imul(x0, PRIME_6_BYTES_LIMB1);
  const m10 = Math.imul(x1, PRIME_6_BYTES_LIMB0);
  const carry = (m01 >>> LIMB_BITS) + (m10 >>> LIMB_BITS) +
    (((m01 & LIMB_MASK) + (m10 & LIMB_MASK) + (m00 >>> LIMB_BITS)) >>>
      LIMB_BITS);
  return (Math.imul(x0, PRIME_6_BYTES_LIMB2) +
    Math.imul(x1, PRIME_6_BYTES_LIMB1) + Math.imul(x2, PRIME_6_BYTES_LIMB0) +
    carry) & LIMB_MASK;
}

/** Number of equal low-order (first in memory) bytes of two differing words. */
function equalLowBytes(a: number, b: number): number {
  const x = a ^ b;
  const trailingZeros = WORD_TOP_BIT - Math.clz32(x & -x);
  return trailingZeros >>> BYTE_BITS_LOG;
}

/**
 * Candidate position for hash `h` as seen from `si`: the stored low 16 bits
 * rebased onto the 64 KiB boundary below `si`, or the one before that when
 * the result would not be before `si` (negative inside the first window).
 */
function candidate(h: number, si: number): number {
  const entry = hashTable[h];
  let ref = (entry >>> ENTRY_STAMP_SHIFT) === stamp ? entry & ENTRY_POSITION_MASK : 0;
  ref += si & ~WIN_MASK;
  if (ref >= si) ref -= WIN_SIZE;
  return ref;
}

function store(h: number, si: number): void {
  hashTable[h] = (stamp << ENTRY_STAMP_SHIFT) | (si & ENTRY_POSITION_MASK);
}

/**
 * A candidate is usable when it lies 1..WIN_SIZE-1 bytes back and its 4 bytes
 * equal `word`, the 4 bytes at `si`.
 */
function isMatch(
  view: DataView,
  si: number,
  ref: number,
  word: number,
): boolean {
  const offset = si - ref;
  return offset > 0 && offset < WIN_SIZE && view.getInt32(ref, true) === word;
}

/**
 * Copies `length` bytes from `src[from..]` to `dst[to..]`. Short runs are
 * copied in a loop: creating a subarray view per sequence costs more than
 * the copy itself for typical literal lengths.
 */
function copyBytes(
  src: Uint8Array,
  from: number,
  dst: Uint8Array,
  to: number,
  length: number,
): void {
  if (length > SHORT_COPY_MAX) {
    dst.set(src.subarray(from, from + length), to);
    return;
  }
  for (let k = 0; k < length; k++) dst[to + k] = src[from + k];
}

/**
 * Writes the continuation bytes of a length field (value already reduced by
 * RUN_MASK) at `di`. Returns the new `di`, or -1 when `dst` is too small.
 */
function writeLengthExtension(
  dst: Uint8Array,
  di: number,
  rest: number,
): number {
  const end = di + Math.floor(rest / LENGTH_CONTINUE) + 1;
  if (end > dst.length) return -1;
  while (rest >= LENGTH_CONTINUE) {
    dst[di++] = LENGTH_CONTINUE;
    rest -= LENGTH_CONTINUE;
  }
  dst[di++] = rest;
  return di;
}

/**
 * Compresses `src` into `dst` as one LZ4 block exactly like pierrec/lz4 v4's
 * `Compressor.CompressBlock`. Returns the number of bytes written, or 0 (see
 * the module comment: 0 means "incompressible or does not fit"; pierrec's
 * frame writer then stores `src` uncompressed with the block-size high bit set).
 */
export function compressBlock(src: Uint8Array, dst: Uint8Array): number {
  if (++stamp > MAX_STAMP) {
    hashTable.fill(0);
    stamp = 1;
  }
  const mayGiveUp = dst.length < compressBound(src.length);
  const sn = src.length - MF_LIMIT;
  let si = 0;
  let di = 0;
  let anchor = 0;

  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  while (si < sn) {
    // The 8 bytes at si as two little-endian words; the 6-byte windows at
    // si, si + 1 and si + 2 are all taken from them.
    const w0 = view.getInt32(si, true);
    const w1 = view.getInt32(si + WORD_SIZE, true);
    const word2 = (w0 >>> BYTE_BITS) | (w1 << (WORD_BITS - BYTE_BITS));
    const h1 = hash6(w0, w1);
    const h2 = hash6(word2, w1 >>> BYTE_BITS);
    const ref1 = candidate(h1, si);
    const ref2 = candidate(h2, si + 1);
    store(h1, si);
    store(h2, si + 1);

    let ref = ref1;
    if (!isMatch(view, si, ref1, w0)) {
      const word3 = (w0 >>> (2 * BYTE_BITS)) | (w1 << (2 * BYTE_BITS));
      const h3 = hash6(word3, w1 >>> (2 * BYTE_BITS));
      const ref3 = candidate(h3, si + 2);
      si += 1;
      ref = ref2;
      if (!isMatch(view, si, ref2, word2)) {
        si += 1;
        ref = ref3;
        store(h3, si);
        if (!isMatch(view, si, ref3, word3)) {
          si += 2 + ((si - anchor) >> ADAPT_SKIP_LOG);
          continue;
        }
      }
    }

    // Match found at si; extend it backwards over the pending literals.
    const offset = si - ref;
    const forwardFrom = si + MIN_MATCH;
    let matchStart = si;
    let literalLength = si - anchor;
    while (
      literalLength > 0 && ref > 0 && src[matchStart - 1] === src[ref - 1]
    ) {
      matchStart--;
      ref--;
      literalLength--;
    }

    // Extend forwards in 8-byte groups from the end of the 4 bytes found
    // (not from the backward-extended start: the grouping matters), and only
    // while a whole group lies before sn.
    si = forwardFrom;
    while (si + MATCH_STEP <= sn) {
      const a0 = view.getInt32(si, true);
      const b0 = view.getInt32(si - offset, true);
      if (a0 !== b0) {
        si += equalLowBytes(a0, b0);
        break;
      }
      const a1 = view.getInt32(si + WORD_SIZE, true);
      const b1 = view.getInt32(si + WORD_SIZE - offset, true);
      if (a1 !== b1) {
        si += WORD_SIZE + equalLowBytes(a1, b1);
        break;
      }
      si += MATCH_STEP;
    }
    const matchLength = si - matchStart - MIN_MATCH;

    // Token.
    if (di >= dst.length) return 0;
    const tokenAt = di++;
    let token = matchLength < RUN_MASK ? matchLength : RUN_MASK;
    if (literalLength < RUN_MASK) {
      token |= literalLength << LITERAL_LENGTH_SHIFT;
    } else {
      token |= RUN_MASK << LITERAL_LENGTH_SHIFT;
      di = writeLengthExtension(dst, di, literalLength - RUN_MASK);
      if (di < 0) return 0;
    }
    dst[tokenAt] = token;

    // Literals, then the offset.
    if (di + literalLength + OFFSET_SIZE > dst.length) return 0;
    copyBytes(src, anchor, dst, di, literalLength);
    di += literalLength;
    dst[di++] = offset & BYTE_MASK;
    dst[di++] = offset >>> BYTE_BITS;
    anchor = si;

    if (matchLength >= RUN_MASK) {
      di = writeLengthExtension(dst, di, matchLength - RUN_MASK);
      if (di < 0) return 0;
    }

    if (si >= sn) break;
    const rehashAt = si - MATCH_END_REHASH_BACK;
    store(
      hash6(
        view.getInt32(rehashAt, true),
        view.getInt32(rehashAt + WORD_SIZE, true),
      ),
      rehashAt,
    );
  }

  // No match at all: with a small dst this is reported as incompressible.
  if (mayGiveUp && anchor === 0) return 0;

  // Final literal run.
  const lastLiterals = src.length - anchor;
  if (di >= dst.length) return 0;
  const tokenAt = di++;
  if (lastLiterals < RUN_MASK) {
    dst[tokenAt] = lastLiterals << LITERAL_LENGTH_SHIFT;
  } else {
    dst[tokenAt] = RUN_MASK << LITERAL_LENGTH_SHIFT;
    di = writeLengthExtension(dst, di, lastLiterals - RUN_MASK);
    if (di < 0) return 0;
  }
  // Output would not be smaller than the input: incompressible.
  if (mayGiveUp && di >= anchor) return 0;
  if (di + lastLiterals > dst.length) return 0;
  copyBytes(src, anchor, dst, di, lastLiterals);
  return di + lastLiterals;
}
