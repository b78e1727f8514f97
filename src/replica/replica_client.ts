/**
 * The storage boundary: everything backend-independent (replication, restore, verify) talks
 * to object storage only through this interface. Keys follow Litestream 0.5 so buckets are
 * interchangeable; each backend decides how a (database, level, TXID range) maps to a key.
 */

import { WalsyncError } from "../errors.ts";

/** A stored file that is not there (deleted since it was listed, e.g. by retention). */
export class ReplicaFileNotFoundError extends WalsyncError {
  readonly fileNotFound = true;
}

/** True for an error saying that a replica file does not exist, from any backend. */
export function isFileNotFound(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if ((e as { fileNotFound?: unknown }).fileNotFound === true) return true;
  }
  return false;
}

/** What is known about one stored LTX file, from the listing plus its metadata. */
export interface LtxFileInfo {
  level: number;
  minTxid: number;
  maxTxid: number;
  sizeBytes: number;
  /** The LTX header timestamp when known (metadata or mtime), else the store's write time. */
  createdAt: Date;
  /** Lower-case hex SHA-256 of the object, when the writer recorded it (walsync always does). */
  sha256?: string;
  /** Rolling database checksum after applying this file, when recorded (walsync always does). */
  databaseChecksum?: bigint;
  /** File replica (POSIX): the stored file's permission bits (a compaction gives them on). */
  fileMode?: number;
}

/** Metadata walsync records with every object. */
export interface LtxFileMetadata {
  sha256: string;
  /**
   * Rolling database checksum after the file. walsync records it for every file it writes;
   * only a compaction of files another tool wrote (without it) may lack it.
   */
  databaseChecksum?: bigint;
  /** The LTX header timestamp (Litestream reads it as `litestream-timestamp`). */
  createdAt: Date;
  /** Length of the body; required for streams. */
  sizeBytes?: number;
  /**
   * Permission bits for a local copy (the source database's, see `copyFileModeOf`): the file
   * replica gives them to the file, its metadata and the directories it creates for the
   * database. Object stores ignore it.
   */
  fileMode?: number;
}

export interface LtxFileKey {
  level: number;
  minTxid: number;
  maxTxid: number;
}

export interface ListFilesOptions {
  signal?: AbortSignal;
  /** List only files that sort after this key (its level is ignored). */
  startAfter?: LtxFileKey;
  /**
   * False: the listing alone, without reading each object's metadata where that costs a
   * request (S3 HEADs): `createdAt` may then be the store's write time, and `sha256` and
   * `databaseChecksum` may be missing. Default true.
   */
  metadata?: boolean;
}

/** The options of a `listFiles` call, whichever shape the caller passed. */
export function listFilesOptions(options?: AbortSignal | ListFilesOptions): ListFilesOptions {
  if (options === undefined) return {};
  return options instanceof AbortSignal ? { signal: options } : options;
}

/** True if `file` sorts after `key` (the `startAfter` rule). */
export function sortsAfter(file: LtxFileKey, key: LtxFileKey | undefined): boolean {
  return key === undefined || compareLtxFiles(file, key) > 0;
}

export interface ReplicaClient {
  /** "file", "s3", "memory": for messages and metrics. */
  readonly kind: string;
  /** Where the replica lives, without credentials (for messages and `explain`). */
  readonly location: string;

  /** Database names that have at least one LTX file. */
  listDatabases(signal?: AbortSignal): Promise<string[]>;

  /**
   * The highest TXID of any file at any level (0 if none), from listings alone: what a
   * writer checks at start-up to continue the sequence. Optional; `listFiles` is the fallback.
   */
  maxTxid?(name: string, signal?: AbortSignal): Promise<number>;

  /**
   * LTX files of one level, ascending by MinTXID then MaxTXID; foreign names are skipped.
   * With `startAfter`, only files after that key in this order (S3 seeks with StartAfter).
   */
  listFiles(
    name: string,
    level: number,
    options?: AbortSignal | ListFilesOptions,
  ): Promise<LtxFileInfo[]>;

  /**
   * One file's info with its metadata (S3: one HEAD), or null if it does not exist. Optional:
   * where listings cost a request per object's metadata, a restore lists without it and asks
   * only for the files it plans to read.
   */
  statFile?(name: string, key: LtxFileKey, signal?: AbortSignal): Promise<LtxFileInfo | null>;

  /** Reads a stored file, or the byte range `[offset, offset + length)` of it. */
  openFile(
    name: string,
    key: LtxFileKey,
    options?: { offset?: number; length?: number; signal?: AbortSignal },
  ): Promise<ReadableStream<Uint8Array>>;

  /**
   * Stores a complete LTX file durably under its key, with its metadata. A stream body is
   * consumed once; `metadata.sizeBytes` must then give its length.
   */
  writeFile(
    name: string,
    key: LtxFileKey,
    body: Uint8Array | ReadableStream<Uint8Array>,
    metadata: LtxFileMetadata,
    signal?: AbortSignal,
  ): Promise<LtxFileInfo>;

  /** Deletes files; missing files are not an error. */
  deleteFiles(name: string, keys: LtxFileKey[], signal?: AbortSignal): Promise<void>;

  /**
   * Creates a small object at `path` (relative to the replica root) only if it does not exist
   * yet; returns false if it does. Used for the single-writer lease.
   */
  createExclusive(path: string, data: Uint8Array, signal?: AbortSignal): Promise<boolean>;

  /** Reads a small object written by `createExclusive` or `replaceObject`, or null. */
  readObject(path: string, signal?: AbortSignal): Promise<Uint8Array | null>;

  /** Deletes a small object; missing is not an error. */
  deleteObject(path: string, signal?: AbortSignal): Promise<void>;
}

/** Sorts listings the way Litestream does: by MinTXID, then MaxTXID. */
export function compareLtxFiles(a: LtxFileKey, b: LtxFileKey): number {
  return a.minTxid - b.minTxid || a.maxTxid - b.maxTxid;
}

/** Reads a whole stream into memory (small objects only). */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    total += chunk.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
