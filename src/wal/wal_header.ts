/**
 * SQLite WAL file header (32 bytes) and frame header (24 bytes). All fields are big-endian;
 * only the checksum words follow the byte order named by the magic number.
 * See https://www.sqlite.org/fileformat2.html#walformat.
 */
import { FormatError } from "../errors.ts";
import { walChecksum } from "./wal_checksum.ts";

export const WAL_HEADER_SIZE = 32;
export const WAL_FRAME_HEADER_SIZE = 24;
/** Checksum words are little-endian. */
export const WAL_MAGIC_LE = 0x377f0682;
/** Checksum words are big-endian. */
export const WAL_MAGIC_BE = 0x377f0683;
/** The only WAL format version SQLite has written (3.7.0). */
export const WAL_FORMAT_VERSION = 3007000;
export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 65536;

// WAL header field offsets.
const HDR_MAGIC = 0;
const HDR_VERSION = 4;
const HDR_PAGE_SIZE = 8;
const HDR_CHECKPOINT_SEQ = 12;
const HDR_SALT1 = 16;
const HDR_SALT2 = 20;
const HDR_CHECKSUM1 = 24;
const HDR_CHECKSUM2 = 28;
/** The header checksum covers the bytes before it. */
const HDR_CHECKSUMMED_SIZE = 24;

// Frame header field offsets.
const FRM_PGNO = 0;
const FRM_COMMIT = 4;
const FRM_SALT1 = 8;
const FRM_SALT2 = 12;
const FRM_CHECKSUM1 = 16;
const FRM_CHECKSUM2 = 20;
/** A frame checksum covers the first 8 bytes of its header, then the page. */
export const FRM_CHECKSUMMED_HEADER_SIZE = 8;

export interface WalHeader {
  magic: number;
  /** True when checksum words are read big-endian (magic 0x377f0683). */
  bigEndianChecksum: boolean;
  version: number;
  pageSize: number;
  checkpointSeq: number;
  salt1: number;
  salt2: number;
  checksum1: number;
  checksum2: number;
}

export interface WalFrameHeader {
  pgno: number;
  /** Database size in pages after this frame for a commit frame; 0 otherwise. */
  commit: number;
  salt1: number;
  salt2: number;
  checksum1: number;
  checksum2: number;
}

/** Reused by `parseWalHeader`, which runs synchronously, to keep the parse allocation-free. */
const SCRATCH_SUM = { s1: 0, s2: 0 };

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = value >>> 16;
  bytes[at + 2] = value >>> 8;
  bytes[at + 3] = value;
}

/** True for 512, 1024, …, 65536. */
export function isValidPageSize(pageSize: number): boolean {
  return pageSize >= MIN_PAGE_SIZE && pageSize <= MAX_PAGE_SIZE &&
    (pageSize & (pageSize - 1)) === 0;
}

/**
 * Parses and validates a WAL header. Throws `FormatError` naming the bad field when the bytes
 * are not a header SQLite would accept; SQLite then treats the WAL as empty.
 */
export function parseWalHeader(bytes: Uint8Array): WalHeader {
  if (bytes.length < WAL_HEADER_SIZE) {
    throw new FormatError(
      `WAL header needs ${WAL_HEADER_SIZE} bytes, got ${bytes.length}`,
      bytes.length,
    );
  }
  const magic = readU32(bytes, HDR_MAGIC);
  if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) {
    throw new FormatError(`WAL magic "0x${magic.toString(16)}" is not 0x377f0682 or 0x377f0683`, 0);
  }
  const version = readU32(bytes, HDR_VERSION);
  if (version !== WAL_FORMAT_VERSION) {
    throw new FormatError(
      `WAL format version "${version}" is not ${WAL_FORMAT_VERSION}`,
      HDR_VERSION,
    );
  }
  const pageSize = readU32(bytes, HDR_PAGE_SIZE);
  if (!isValidPageSize(pageSize)) {
    throw new FormatError(
      `WAL page size "${pageSize}" is not a power of two in 512..65536`,
      HDR_PAGE_SIZE,
    );
  }
  const header: WalHeader = {
    magic,
    bigEndianChecksum: magic === WAL_MAGIC_BE,
    version,
    pageSize,
    checkpointSeq: readU32(bytes, HDR_CHECKPOINT_SEQ),
    salt1: readU32(bytes, HDR_SALT1),
    salt2: readU32(bytes, HDR_SALT2),
    checksum1: readU32(bytes, HDR_CHECKSUM1),
    checksum2: readU32(bytes, HDR_CHECKSUM2),
  };
  const sum = SCRATCH_SUM;
  sum.s1 = sum.s2 = 0;
  walChecksum(bytes, 0, HDR_CHECKSUMMED_SIZE, header.bigEndianChecksum, sum);
  if (sum.s1 !== header.checksum1 || sum.s2 !== header.checksum2) {
    throw new FormatError("WAL header checksum does not match its contents", HDR_CHECKSUM1);
  }
  return header;
}

/** Serializes a header, computing its checksum (used to build test WALs). */
export function encodeWalHeader(
  header: Omit<WalHeader, "magic" | "version" | "checksum1" | "checksum2">,
): Uint8Array {
  const bytes = new Uint8Array(WAL_HEADER_SIZE);
  writeU32(bytes, HDR_MAGIC, header.bigEndianChecksum ? WAL_MAGIC_BE : WAL_MAGIC_LE);
  writeU32(bytes, HDR_VERSION, WAL_FORMAT_VERSION);
  writeU32(bytes, HDR_PAGE_SIZE, header.pageSize);
  writeU32(bytes, HDR_CHECKPOINT_SEQ, header.checkpointSeq);
  writeU32(bytes, HDR_SALT1, header.salt1);
  writeU32(bytes, HDR_SALT2, header.salt2);
  const sum = { s1: 0, s2: 0 };
  walChecksum(bytes, 0, HDR_CHECKSUMMED_SIZE, header.bigEndianChecksum, sum);
  writeU32(bytes, HDR_CHECKSUM1, sum.s1);
  writeU32(bytes, HDR_CHECKSUM2, sum.s2);
  return bytes;
}

/** Parses the 24-byte frame header at `offset` in `bytes`; the caller checks bounds. */
export function parseWalFrameHeader(bytes: Uint8Array, offset = 0): WalFrameHeader {
  return {
    pgno: readU32(bytes, offset + FRM_PGNO),
    commit: readU32(bytes, offset + FRM_COMMIT),
    salt1: readU32(bytes, offset + FRM_SALT1),
    salt2: readU32(bytes, offset + FRM_SALT2),
    checksum1: readU32(bytes, offset + FRM_CHECKSUM1),
    checksum2: readU32(bytes, offset + FRM_CHECKSUM2),
  };
}

/** Serializes a frame header into `out` at `offset` (used to build test WALs). */
export function encodeWalFrameHeader(out: Uint8Array, offset: number, frame: WalFrameHeader): void {
  writeU32(out, offset + FRM_PGNO, frame.pgno);
  writeU32(out, offset + FRM_COMMIT, frame.commit);
  writeU32(out, offset + FRM_SALT1, frame.salt1);
  writeU32(out, offset + FRM_SALT2, frame.salt2);
  writeU32(out, offset + FRM_CHECKSUM1, frame.checksum1);
  writeU32(out, offset + FRM_CHECKSUM2, frame.checksum2);
}

/** Byte offset of frame `index` (0-based) in a WAL with `pageSize`. */
export function walFrameOffset(index: number, pageSize: number): number {
  return WAL_HEADER_SIZE + index * (WAL_FRAME_HEADER_SIZE + pageSize);
}
