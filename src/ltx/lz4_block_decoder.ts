/**
 * LZ4 block decoder (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) and the
 * error every LZ4 decoder in walsync raises.
 *
 * It decodes any valid block, whichever compressor wrote it (pierrec, liblz4 fast or HC).
 * Every read and write is checked explicitly: typed arrays silently drop out-of-range
 * writes and read `undefined`, so without the checks hostile input would decode to garbage
 * instead of failing. Every loop iteration consumes at least one input byte, so decoding
 * always terminates.
 */
import { WalsyncError } from "../errors.ts";

/** Shortest match the format can express: the match length field stores length - 4. */
const MIN_MATCH = 4;
/** Bits of the token used by the match length; the high nibble counts literals. */
const ML_BITS = 4;
/** Nibble value meaning "the length continues in extra bytes". */
const RUN_MASK = 15;
/** An extra length byte of 255 means "another length byte follows". */
const LENGTH_BYTE_MAX = 255;
/** Size of the little-endian match offset field. */
const OFFSET_SIZE = 2;
const BITS_PER_BYTE = 8;
/**
 * Copies at least this long use native copy routines; shorter ones are cheaper as a JS
 * loop than the subarray view a native copy needs.
 */
const NATIVE_COPY_THRESHOLD = 32;

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

/**
 * Malformed or corrupt LZ4 input. `offset` is the byte offset in the decoder's `src` where
 * the problem was found; callers that embed LZ4 in a bigger format add their own base.
 */
export class Lz4Error extends WalsyncError {
  readonly code: Lz4ErrorCode;
  readonly offset: number;

  constructor(code: Lz4ErrorCode, message: string, offset: number) {
    super(`${message} at byte ${offset} (${code})`);
    this.code = code;
    this.offset = offset;
  }
}

// Throwing lives in its own function so the hot decode loop stays small enough for V8 to
// inline and optimise.
function fail(code: Lz4ErrorCode, message: string, offset: number): never {
  throw new Lz4Error(code, message, offset);
}

/**
 * Decodes the block `src[ip, srcEnd)` into `dst` at `op`, never writing at or beyond
 * `dstEnd` and never referencing output before `windowStart`; returns the new output
 * position. Offsets in errors are positions in `src`. The frame decoder calls this
 * directly so that its errors point into the whole frame.
 */
export function decodeBlockRange(
  src: Uint8Array,
  ip: number,
  srcEnd: number,
  dst: Uint8Array,
  op: number,
  dstEnd: number,
  windowStart: number,
): number {
  if (ip >= srcEnd) fail("EMPTY_BLOCK", "Empty block", ip);
  for (;;) {
    const tokenPos = ip;
    const token = src[ip++];

    // Literals.
    let litLen = token >>> ML_BITS;
    if (litLen === RUN_MASK) {
      let b: number;
      do {
        if (ip >= srcEnd) fail("TRUNCATED_LENGTH", "Truncated literal length", ip);
        b = src[ip++];
        litLen += b;
      } while (b === LENGTH_BYTE_MAX);
    }
    if (litLen !== 0) {
      const litEnd = ip + litLen;
      if (litEnd > srcEnd) {
        fail(
          "TRUNCATED_LITERALS",
          `Literal run of ${litLen} bytes runs past the end of the input`,
          ip,
        );
      }
      if (op + litLen > dstEnd) {
        fail("OUTPUT_OVERFLOW", `Literal run of ${litLen} bytes overflows the output at ${op}`, ip);
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

    // Match.
    if (ip + OFFSET_SIZE > srcEnd) fail("TRUNCATED_OFFSET", "Truncated match offset", ip);
    const offset = src[ip] | (src[ip + 1] << BITS_PER_BYTE);
    if (offset === 0) fail("ZERO_OFFSET", "Match offset 0", ip);
    let ref = op - offset;
    if (ref < windowStart) {
      fail(
        "OFFSET_OUT_OF_RANGE",
        `Match offset ${offset} reaches before the start of the output (output position ${op})`,
        ip,
      );
    }
    ip += OFFSET_SIZE;

    let matchLen = token & RUN_MASK;
    if (matchLen === RUN_MASK) {
      let b: number;
      do {
        if (ip >= srcEnd) fail("TRUNCATED_LENGTH", "Truncated match length", ip);
        b = src[ip++];
        matchLen += b;
      } while (b === LENGTH_BYTE_MAX);
    }
    matchLen += MIN_MATCH;
    const matchEnd = op + matchLen;
    if (matchEnd > dstEnd) {
      fail(
        "OUTPUT_OVERFLOW",
        `Match of ${matchLen} bytes overflows the output at ${op}`,
        tokenPos,
      );
    }

    if (matchLen < NATIVE_COPY_THRESHOLD) {
      // A byte-by-byte copy also gives the overlap semantics the format requires (an
      // offset below the length repeats the last `offset` bytes).
      while (op < matchEnd) dst[op++] = dst[ref++];
    } else if (offset >= matchLen) {
      dst.copyWithin(op, ref, ref + matchLen);
      op = matchEnd;
    } else {
      // Long overlapping match (runs of zeros): the output is periodic with period
      // `offset`, so copy in chunks that never overlap their source; each chunk doubles the
      // distance available to the next.
      while (op < matchEnd) {
        const chunk = Math.min(op - ref, matchEnd - op);
        dst.copyWithin(op, ref, ref + chunk);
        op += chunk;
      }
    }

    if (ip >= srcEnd) {
      fail("MISSING_LAST_LITERALS", "Block ends with a match instead of literals", ip);
    }
  }
}

/**
 * Decodes one raw LZ4 block into `dst` starting at `dstOffset` and returns the number of
 * bytes written. Bytes `dst[dictStart, dstOffset)` may be referenced as history (linked
 * blocks); by default nothing before `dstOffset` is. Throws Lz4Error on malformed input.
 */
export function decompressBlock(
  src: Uint8Array,
  dst: Uint8Array,
  dstOffset = 0,
  dictStart: number = dstOffset,
): number {
  if (
    !(dstOffset >= 0 && dstOffset <= dst.length && dictStart >= 0 && dictStart <= dstOffset)
  ) {
    // A caller bug, not bad data: the offsets come from code, never from the input.
    throw new RangeError(
      `Bad dstOffset "${dstOffset}" or dictStart "${dictStart}" for a dst of ${dst.length} bytes`,
    );
  }
  return decodeBlockRange(src, 0, src.length, dst, dstOffset, dst.length, dictStart) -
    dstOffset;
}
