/**
 * LTX header (100 bytes) and trailer (16 bytes), format version 3 as superfly/ltx v0.5 and
 * Litestream 0.5.x write it. All integers are big-endian. The version is not stored in the
 * file: the magic "LTX1" is shared by every version.
 */
import { isValidPageSize } from "../wal/wal_header.ts";
import { CHECKSUM_FLAG } from "../checksum/database_checksum.ts";
import { FormatError } from "../errors.ts";

export const LTX_MAGIC = "LTX1";
export const LTX_VERSION = 3;
export const LTX_HEADER_SIZE = 100;
export const LTX_TRAILER_SIZE = 16;
export const LTX_PAGE_HEADER_SIZE = 6;
/** Size of the big-endian byte count after the page index. */
export const LTX_INDEX_SIZE_FIELD = 8;

/** Header flag: the file carries no rolling checksums (pre/post-apply are 0). */
export const HEADER_FLAG_NO_CHECKSUM = 0x2;
const HEADER_FLAGS_MASK = HEADER_FLAG_NO_CHECKSUM;
/** Page header flag: a u32 size and a raw LZ4 block follow, instead of an LZ4 frame. */
export const PAGE_FLAG_SIZE = 0x0001;

/** The level Litestream keeps full snapshots at. */
export const SNAPSHOT_LEVEL = 9;

// Header field offsets.
const OFF_MAGIC = 0;
const OFF_FLAGS = 4;
const OFF_PAGE_SIZE = 8;
const OFF_COMMIT = 12;
const OFF_MIN_TXID = 16;
const OFF_MAX_TXID = 24;
const OFF_TIMESTAMP = 32;
const OFF_PRE_APPLY_CHECKSUM = 40;
const OFF_WAL_OFFSET = 48;
const OFF_WAL_SIZE = 56;
const OFF_WAL_SALT1 = 64;
const OFF_WAL_SALT2 = 68;
const OFF_NODE_ID = 72;

// Trailer field offsets.
const OFF_POST_APPLY_CHECKSUM = 0;
const OFF_FILE_CHECKSUM = 8;

const MAGIC_BYTES = new TextEncoder().encode(LTX_MAGIC);

export interface LtxHeader {
  flags: number;
  pageSize: number;
  /** Database size in pages after applying the file. */
  commit: number;
  minTxid: number;
  maxTxid: number;
  /** Milliseconds since the Unix epoch. */
  timestampMs: number;
  preApplyChecksum: bigint;
  /** Where in the WAL the file's frames started, 0 if it did not come from a WAL. */
  walOffset: number;
  walSize: number;
  walSalt1: number;
  walSalt2: number;
  nodeId: bigint;
}

export interface LtxTrailer {
  postApplyChecksum: bigint;
  fileChecksum: bigint;
}

/** A header with Litestream's defaults: NoChecksum, no WAL fields, now as the timestamp. */
export function newLtxHeader(
  fields: Pick<LtxHeader, "pageSize" | "commit" | "minTxid" | "maxTxid"> & Partial<LtxHeader>,
): LtxHeader {
  return {
    flags: HEADER_FLAG_NO_CHECKSUM,
    timestampMs: Date.now(),
    preApplyChecksum: 0n,
    walOffset: 0,
    walSize: 0,
    walSalt1: 0,
    walSalt2: 0,
    nodeId: 0n,
    ...fields,
  };
}

/** A file whose MinTXID is 1 holds the whole database. */
export function isSnapshot(header: LtxHeader): boolean {
  return header.minTxid === 1;
}

export function hasChecksums(header: LtxHeader): boolean {
  return (header.flags & HEADER_FLAG_NO_CHECKSUM) === 0;
}

function readSafeU64(view: DataView, at: number, field: string): number {
  const value = view.getBigUint64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(`LTX ${field} "${value}" exceeds 2^53 − 1`, at);
  }
  return Number(value);
}

function readSafeI64(view: DataView, at: number, field: string): number {
  const value = view.getBigInt64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new FormatError(`LTX ${field} "${value}" is out of range`, at);
  }
  return Number(value);
}

/** Parses and validates a header; throws `FormatError` naming the field and its offset. */
export function parseLtxHeader(bytes: Uint8Array): LtxHeader {
  if (bytes.length < LTX_HEADER_SIZE) {
    throw new FormatError(`LTX header needs ${LTX_HEADER_SIZE} bytes, got ${bytes.length}`, 0);
  }
  for (let i = 0; i < MAGIC_BYTES.length; i++) {
    if (bytes[OFF_MAGIC + i] !== MAGIC_BYTES[i]) {
      throw new FormatError(`Not an LTX file: magic is not "${LTX_MAGIC}"`, OFF_MAGIC);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, LTX_HEADER_SIZE);
  const header: LtxHeader = {
    flags: view.getUint32(OFF_FLAGS),
    pageSize: view.getUint32(OFF_PAGE_SIZE),
    commit: view.getUint32(OFF_COMMIT),
    minTxid: readSafeU64(view, OFF_MIN_TXID, "MinTXID"),
    maxTxid: readSafeU64(view, OFF_MAX_TXID, "MaxTXID"),
    timestampMs: readSafeI64(view, OFF_TIMESTAMP, "timestamp"),
    preApplyChecksum: view.getBigUint64(OFF_PRE_APPLY_CHECKSUM),
    walOffset: readSafeI64(view, OFF_WAL_OFFSET, "WAL offset"),
    walSize: readSafeI64(view, OFF_WAL_SIZE, "WAL size"),
    walSalt1: view.getUint32(OFF_WAL_SALT1),
    walSalt2: view.getUint32(OFF_WAL_SALT2),
    nodeId: view.getBigUint64(OFF_NODE_ID),
  };
  validateLtxHeader(header);
  return header;
}

/** The rules superfly/ltx's `Header.Validate` enforces, with the offending field named. */
export function validateLtxHeader(header: LtxHeader): void {
  if ((header.flags & ~HEADER_FLAGS_MASK) !== 0) {
    throw new FormatError(`LTX flags "0x${header.flags.toString(16)}" are invalid`, OFF_FLAGS);
  }
  if (!isValidPageSize(header.pageSize)) {
    throw new FormatError(`LTX page size "${header.pageSize}" is invalid`, OFF_PAGE_SIZE);
  }
  if (header.minTxid === 0) throw new FormatError("LTX MinTXID is 0", OFF_MIN_TXID);
  if (header.maxTxid === 0) throw new FormatError("LTX MaxTXID is 0", OFF_MAX_TXID);
  if (header.minTxid > header.maxTxid) {
    throw new FormatError(
      `LTX TXIDs out of order: MinTXID "${header.minTxid}" > MaxTXID "${header.maxTxid}"`,
      OFF_MIN_TXID,
    );
  }
  if (header.walOffset < 0) throw new FormatError("LTX WAL offset is negative", OFF_WAL_OFFSET);
  if (header.walSize < 0) throw new FormatError("LTX WAL size is negative", OFF_WAL_SIZE);
  if ((header.walSalt1 !== 0 || header.walSalt2 !== 0) && header.walOffset === 0) {
    throw new FormatError("LTX WAL salts are set but the WAL offset is 0", OFF_WAL_OFFSET);
  }
  if (header.walOffset === 0 && header.walSize !== 0) {
    throw new FormatError("LTX WAL size is set but the WAL offset is 0", OFF_WAL_SIZE);
  }
  const pre = header.preApplyChecksum;
  if (isSnapshot(header) || !hasChecksums(header)) {
    if (pre !== 0n) {
      throw new FormatError(
        "LTX pre-apply checksum must be 0 in a snapshot or a file without checksums",
        OFF_PRE_APPLY_CHECKSUM,
      );
    }
  } else if ((pre & CHECKSUM_FLAG) === 0n) {
    throw new FormatError("LTX pre-apply checksum lacks the checksum flag", OFF_PRE_APPLY_CHECKSUM);
  }
}

/** Serializes a header after validating it. */
export function encodeLtxHeader(header: LtxHeader): Uint8Array {
  validateLtxHeader(header);
  const bytes = new Uint8Array(LTX_HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC_BYTES, OFF_MAGIC);
  view.setUint32(OFF_FLAGS, header.flags);
  view.setUint32(OFF_PAGE_SIZE, header.pageSize);
  view.setUint32(OFF_COMMIT, header.commit);
  view.setBigUint64(OFF_MIN_TXID, BigInt(header.minTxid));
  view.setBigUint64(OFF_MAX_TXID, BigInt(header.maxTxid));
  view.setBigInt64(OFF_TIMESTAMP, BigInt(header.timestampMs));
  view.setBigUint64(OFF_PRE_APPLY_CHECKSUM, header.preApplyChecksum);
  view.setBigInt64(OFF_WAL_OFFSET, BigInt(header.walOffset));
  view.setBigInt64(OFF_WAL_SIZE, BigInt(header.walSize));
  view.setUint32(OFF_WAL_SALT1, header.walSalt1);
  view.setUint32(OFF_WAL_SALT2, header.walSalt2);
  view.setBigUint64(OFF_NODE_ID, header.nodeId);
  return bytes;
}

export function parseLtxTrailer(bytes: Uint8Array, offset = 0): LtxTrailer {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, LTX_TRAILER_SIZE);
  return {
    postApplyChecksum: view.getBigUint64(OFF_POST_APPLY_CHECKSUM),
    fileChecksum: view.getBigUint64(OFF_FILE_CHECKSUM),
  };
}

const FILENAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/;

/** `<minTXID 16 hex>-<maxTXID 16 hex>.ltx`, lower-case as Litestream writes it. */
export function formatLtxFilename(minTxid: number, maxTxid: number): string {
  return `${formatTxid(minTxid)}-${formatTxid(maxTxid)}.ltx`;
}

export function formatTxid(txid: number): string {
  return txid.toString(16).padStart(16, "0");
}

/** The TXID range of an LTX file name, or null for any other name (listings skip those). */
export function parseLtxFilename(name: string): { minTxid: number; maxTxid: number } | null {
  const match = FILENAME_PATTERN.exec(name);
  if (!match) return null;
  const minTxid = parseInt(match[1], 16);
  const maxTxid = parseInt(match[2], 16);
  if (!Number.isSafeInteger(minTxid) || !Number.isSafeInteger(maxTxid)) return null;
  return { minTxid, maxTxid };
}
