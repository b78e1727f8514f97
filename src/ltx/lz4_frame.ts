/**
 * LZ4 frames (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md).
 *
 * The writer produces exactly the frame superfly/ltx v0.5.0/v0.5.1 (Litestream 0.5.0 to
 * 0.5.15) writes for each page: pierrec/lz4 v4's `Writer` with `Block64Kb`, `Fast` and
 * its defaults (content checksum on, no block checksums, no content size), one `Write`,
 * then `Close`. The reader accepts any standard frame, whoever wrote it: content size,
 * block checksums, content checksum, linked or independent blocks, several blocks,
 * uncompressed blocks, skippable frames.
 *
 * No BigInt: the 64-bit content size is read as two 32-bit halves and limited to 2^53.
 */
import { compressBlock } from "./lz4_block.ts";
import { decodeBlockRange, Lz4Error, type Lz4ErrorCode } from "./lz4_block_decoder.ts";
import { xxh32 } from "./xxh32.ts";

const FRAME_MAGIC = 0x184d2204;
/** Skippable frames use the magics 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MAGIC_BASE = 0x184d2a50;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const MAGIC_SIZE = 4;
/** Size word before each block, the end mark, the checksums and the skippable size field. */
const WORD_SIZE = 4;
const CONTENT_SIZE_FIELD_SIZE = 8;
/** FLG + BD bytes. */
const DESCRIPTOR_FIXED_SIZE = 2;
const HEADER_CHECKSUM_SIZE = 1;
/** Magic + FLG + BD + HC: the header the writer emits (no content size, no dictionary). */
const FRAME_HEADER_SIZE = MAGIC_SIZE + DESCRIPTOR_FIXED_SIZE + HEADER_CHECKSUM_SIZE;
/** Offsets of FLG, BD and HC in a header without content size. */
const FLG_OFFSET = MAGIC_SIZE;
const BD_OFFSET = FLG_OFFSET + 1;
const HC_OFFSET = BD_OFFSET + 1;

// FLG byte: [7:6] version, [5] block independence, [4] block checksum, [3] content size,
// [2] content checksum, [1] reserved, [0] dictionary ID.
const FLG_VERSION_SHIFT = 6;
const FLG_VERSION_MASK = 0x3;
const FRAME_VERSION = 1;
const FLG_BLOCK_INDEPENDENCE = 0x20;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_RESERVED = 0x02;
const FLG_DICT_ID = 0x01;
/** What pierrec writes: version 01, independent blocks, content checksum (0x64). */
const WRITER_FLG = (FRAME_VERSION << FLG_VERSION_SHIFT) | FLG_BLOCK_INDEPENDENCE |
  FLG_CONTENT_CHECKSUM;

// BD byte: [7] reserved, [6:4] block maximum size id, [3:0] reserved.
const BD_BLOCK_SIZE_SHIFT = 4;
const BD_BLOCK_SIZE_MASK = 0x7;
const BD_RESERVED = 0x8f;
/** Block maximum size ids 4..7 mean 64 KiB, 256 KiB, 1 MiB, 4 MiB. */
const BLOCK_SIZE_ID_MIN = 4;
/** ltx sets `BlockSizeOption(Block64Kb)`: id 4, so BD is 0x40. */
const WRITER_BLOCK_SIZE_ID = 4;
/** Maximum size = 1 << (BASE + PER_ID * id): id 4 gives 2^16. */
const BLOCK_SIZE_LOG_BASE = 8;
const BLOCK_SIZE_LOG_PER_ID = 2;
/** The writer's block size: 64 KiB, so one page is always one block. */
const WRITER_BLOCK_SIZE = 1 <<
  (BLOCK_SIZE_LOG_BASE + BLOCK_SIZE_LOG_PER_ID * WRITER_BLOCK_SIZE_ID);

/** High bit of a block size word: the block is stored uncompressed. */
const BLOCK_UNCOMPRESSED_FLAG = 0x80000000;
const BLOCK_SIZE_MASK = 0x7fffffff;
/** The header checksum byte is the second byte of xxh32(descriptor, 0). */
const HEADER_CHECKSUM_SHIFT = 8;
const BYTE_MASK = 0xff;

/** 2^32, to combine the halves of the 64-bit content size. */
const UINT32_RANGE = 0x100000000;
/** Largest high half that keeps the content size below 2^53. */
const CONTENT_SIZE_HIGH_MAX = 0x1fffff;
/**
 * One compressed byte expands to at most 255 output bytes (a length byte of 255), plus a
 * little: bounds the output of a frame that does not declare its size before allocating.
 */
const MAX_EXPANSION_PER_BYTE = 255;
const MAX_EXPANSION_SLACK = 64;
/**
 * The decode scratch buffer is kept for reuse up to this size; bigger one-off frames get a
 * temporary buffer so the module does not pin a large allocation forever.
 */
const SCRATCH_RETAIN_LIMIT = 1 << 20;

export interface FrameResult {
  /** Decoded content (a view of `dst` when one was passed). */
  data: Uint8Array;
  /** Number of decoded bytes (= data.length). */
  length: number;
  /** Bytes of `src` the frame occupied, from the given offset. */
  bytesRead: number;
}

function fail(code: Lz4ErrorCode, message: string, offset: number): never {
  throw new Lz4Error(code, message, offset);
}

function readU32(p: Uint8Array, i: number): number {
  return (p[i] | (p[i + 1] << 8) | (p[i + 2] << 16) | (p[i + 3] << 24)) >>> 0;
}

function writeU32(p: Uint8Array, i: number, v: number): void {
  p[i] = v;
  p[i + 1] = v >>> 8;
  p[i + 2] = v >>> 16;
  p[i + 3] = v >>> 24;
}

/**
 * Largest frame compressFrameInto writes for `n` bytes: every block stored raw, since a
 * block is only kept compressed when it came out strictly smaller.
 */
export function compressFrameBound(n: number): number {
  const blockCount = Math.ceil(n / WRITER_BLOCK_SIZE);
  return FRAME_HEADER_SIZE + blockCount * WORD_SIZE + n + WORD_SIZE + WORD_SIZE;
}

/**
 * Writes `src` as the LZ4 frame Litestream writes into `dst` (at least
 * compressFrameBound(src.length) bytes) and returns the frame length.
 */
export function compressFrameInto(src: Uint8Array, dst: Uint8Array): number {
  const n = src.length;
  const bound = compressFrameBound(n);
  if (dst.length < bound) {
    // Typed arrays drop out-of-range writes silently: an undersized dst would give a
    // corrupt frame rather than an exception.
    throw new RangeError(
      `The LZ4 frame buffer has ${dst.length} bytes, compressFrameBound(${n}) needs ${bound}`,
    );
  }
  writeU32(dst, 0, FRAME_MAGIC);
  dst[FLG_OFFSET] = WRITER_FLG;
  dst[BD_OFFSET] = WRITER_BLOCK_SIZE_ID << BD_BLOCK_SIZE_SHIFT;
  dst[HC_OFFSET] = (xxh32(dst, 0, FLG_OFFSET, HC_OFFSET) >>> HEADER_CHECKSUM_SHIFT) & BYTE_MASK;
  let op = FRAME_HEADER_SIZE;
  for (let start = 0; start < n; start += WRITER_BLOCK_SIZE) {
    const end = Math.min(n, start + WRITER_BLOCK_SIZE);
    const chunk = src.subarray(start, end);
    const dataStart = op + WORD_SIZE;
    // pierrec's FrameDataBlock.Compress hands the compressor a destination exactly as long
    // as the chunk, which arms its "incompressible" exits: 0 back means "store it raw",
    // and any other result is strictly smaller than the chunk. That rule alone decides.
    const size = compressBlock(chunk, dst.subarray(dataStart, dataStart + chunk.length));
    if (size === 0) {
      writeU32(dst, op, (chunk.length | BLOCK_UNCOMPRESSED_FLAG) >>> 0);
      dst.set(chunk, dataStart);
      op = dataStart + chunk.length;
    } else {
      writeU32(dst, op, size);
      op = dataStart + size;
    }
  }
  writeU32(dst, op, 0);
  op += WORD_SIZE;
  writeU32(dst, op, xxh32(src));
  return op + WORD_SIZE;
}

let scratch = new Uint8Array(0);

function scratchBuffer(size: number): Uint8Array {
  if (size > SCRATCH_RETAIN_LIMIT) return new Uint8Array(size);
  if (scratch.length < size) scratch = new Uint8Array(size);
  return scratch;
}

function need(src: Uint8Array, ip: number, count: number, what: string): void {
  if (ip + count > src.length) fail("TRUNCATED_FRAME", `Truncated frame: missing ${what}`, ip);
}

/**
 * Decodes one LZ4 frame starting at `src[srcOffset]`.
 *
 * With `dst` the content is written to its start and `data` is a view of it; otherwise a
 * new, exactly sized array is returned. `bytesRead` tells where the frame ends, so frames
 * stored back to back can be walked. A skippable frame is consumed and yields no content.
 * Offsets in errors are positions in `src`.
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
      need(src, ip + MAGIC_SIZE, WORD_SIZE, "skippable frame size");
      const skip = readU32(src, ip + MAGIC_SIZE);
      need(src, ip + MAGIC_SIZE + WORD_SIZE, skip, "skippable frame data");
      return {
        data: dst ? dst.subarray(0, 0) : new Uint8Array(0),
        length: 0,
        bytesRead: MAGIC_SIZE + WORD_SIZE + skip,
      };
    }
    fail("BAD_MAGIC", `Bad magic number "0x${magic.toString(16)}"`, ip);
  }
  ip += MAGIC_SIZE;

  // Frame descriptor.
  need(src, ip, DESCRIPTOR_FIXED_SIZE + HEADER_CHECKSUM_SIZE, "descriptor");
  const descriptorStart = ip;
  const flg = src[ip];
  const bd = src[ip + 1];
  if (((flg >>> FLG_VERSION_SHIFT) & FLG_VERSION_MASK) !== FRAME_VERSION) {
    fail("BAD_VERSION", `Unsupported frame version in FLG "0x${flg.toString(16)}"`, ip);
  }
  if ((flg & FLG_RESERVED) !== 0) fail("RESERVED_BITS", "Reserved FLG bit set", ip);
  if ((bd & BD_RESERVED) !== 0) fail("RESERVED_BITS", "Reserved BD bits set", ip + 1);
  const blockSizeId = (bd >>> BD_BLOCK_SIZE_SHIFT) & BD_BLOCK_SIZE_MASK;
  if (blockSizeId < BLOCK_SIZE_ID_MIN) {
    fail("RESERVED_BITS", `Invalid block maximum size id "${blockSizeId}"`, ip + 1);
  }
  const blockMax = 1 << (BLOCK_SIZE_LOG_BASE + BLOCK_SIZE_LOG_PER_ID * blockSizeId);
  const linked = (flg & FLG_BLOCK_INDEPENDENCE) === 0;
  const hasBlockChecksum = (flg & FLG_BLOCK_CHECKSUM) !== 0;
  const hasContentChecksum = (flg & FLG_CONTENT_CHECKSUM) !== 0;
  ip += DESCRIPTOR_FIXED_SIZE;

  let contentSize = -1;
  if ((flg & FLG_CONTENT_SIZE) !== 0) {
    need(src, ip, CONTENT_SIZE_FIELD_SIZE + HEADER_CHECKSUM_SIZE, "content size");
    const low = readU32(src, ip);
    const high = readU32(src, ip + WORD_SIZE);
    if (high > CONTENT_SIZE_HIGH_MAX) {
      fail("SIZE_MISMATCH", "Declared content size exceeds 2^53", ip);
    }
    contentSize = high * UINT32_RANGE + low;
    ip += CONTENT_SIZE_FIELD_SIZE;
  }
  if ((flg & FLG_DICT_ID) !== 0) {
    fail("DICT_ID_UNSUPPORTED", "Frames with a dictionary ID are not supported", ip);
  }
  const expectedHc = (xxh32(src, 0, descriptorStart, ip) >>> HEADER_CHECKSUM_SHIFT) & BYTE_MASK;
  if (src[ip] !== expectedHc) {
    fail(
      "HEADER_CHECKSUM",
      `Header checksum "0x${src[ip].toString(16)}" is not "0x${expectedHc.toString(16)}"`,
      ip,
    );
  }
  ip += HEADER_CHECKSUM_SIZE;

  // Pre-scan the block headers: checks the frame's structure and bounds the output size
  // before anything is allocated or decoded.
  const blocksStart = ip;
  const blockTrailer = hasBlockChecksum ? WORD_SIZE : 0;
  let maxOut = 0;
  for (;;) {
    need(src, ip, WORD_SIZE, "block size or end mark");
    const word = readU32(src, ip);
    if (word === 0) break;
    const size = word & BLOCK_SIZE_MASK;
    if (size > blockMax) {
      fail("BLOCK_TOO_LARGE", `Block of ${size} bytes exceeds the maximum of ${blockMax}`, ip);
    }
    need(src, ip + WORD_SIZE, size + blockTrailer, "block data");
    maxOut += (word & BLOCK_UNCOMPRESSED_FLAG) !== 0
      ? size
      : Math.min(blockMax, size * MAX_EXPANSION_PER_BYTE + MAX_EXPANSION_SLACK);
    ip += WORD_SIZE + size + blockTrailer;
  }
  const endMarkPos = ip;
  ip += WORD_SIZE;
  if (hasContentChecksum) need(src, ip, WORD_SIZE, "content checksum");
  const frameEnd = ip + (hasContentChecksum ? WORD_SIZE : 0);

  if (contentSize > maxOut) {
    fail(
      "SIZE_MISMATCH",
      `Declared content size ${contentSize} exceeds what the blocks can hold`,
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

  // Decode the blocks.
  let op = 0;
  ip = blocksStart;
  while (ip < endMarkPos) {
    const word = readU32(src, ip);
    const size = word & BLOCK_SIZE_MASK;
    const dataStart = ip + WORD_SIZE;
    const dataEnd = dataStart + size;
    if (hasBlockChecksum && xxh32(src, 0, dataStart, dataEnd) !== readU32(src, dataEnd)) {
      fail("BLOCK_CHECKSUM", "Block checksum mismatch", dataEnd);
    }
    if ((word & BLOCK_UNCOMPRESSED_FLAG) !== 0) {
      if (op + size > outEnd) {
        fail("OUTPUT_OVERFLOW", `Stored block of ${size} bytes overflows the output at ${op}`, ip);
      }
      out.set(src.subarray(dataStart, dataEnd), op);
      op += size;
    } else {
      const blockEnd = Math.min(outEnd, op + blockMax);
      op = decodeBlockRange(src, dataStart, dataEnd, out, op, blockEnd, linked ? 0 : op);
    }
    ip = dataEnd + blockTrailer;
  }

  if (contentSize >= 0 && op !== contentSize) {
    fail(
      "SIZE_MISMATCH",
      `Decoded ${op} bytes but the header declares ${contentSize}`,
      endMarkPos,
    );
  }
  if (hasContentChecksum && xxh32(out, 0, 0, op) !== readU32(src, endMarkPos + WORD_SIZE)) {
    fail("CONTENT_CHECKSUM", "Content checksum mismatch", endMarkPos + WORD_SIZE);
  }

  let data: Uint8Array;
  if (exact) data = out;
  else if (dst !== undefined) data = dst.subarray(0, op);
  else data = out.slice(0, op);
  return { data, length: op, bytesRead: frameEnd - frameStart };
}
