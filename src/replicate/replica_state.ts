/**
 * What a replicator must remember across restarts, kept in one file written atomically
 * (temp, fsync, rename): the last staged TXID, the WAL position it covers, and the page
 * checksums behind the rolling database checksum. One file, so they can never disagree.
 */
import { fileModeIn, writeFileDurably } from "../durable.ts";
import { WalsyncError } from "../errors.ts";
import type { WalHeader } from "../wal/wal_header.ts";
import type { WalScan } from "../wal/wal_reader.ts";
import { PageChecksums } from "./page_checksums.ts";

const STATE_FORMAT = 1;
const NEWLINE = 0x0a;

/** Where in which WAL generation the last staged TXID ends. */
export interface WalCursor {
  salt1: number;
  salt2: number;
  checkpointSeq: number;
  offset: number;
  checksum1: number;
  checksum2: number;
}

/** What the snapshot policy needs to know about the last full snapshot and what followed. */
export interface SnapshotHistory {
  /** TXID of the last full snapshot. */
  txid: number;
  /** When it was taken (ms since the epoch). */
  atMs: number;
  /** WAL pages staged since (counted once per batch they appear in). */
  pagesSince: number;
  /** When the first batch after it was staged, null if none yet. */
  firstChangeAtMs: number | null;
  /** When the latest batch was staged, null if none since the snapshot. */
  lastChangeAtMs: number | null;
}

export interface ReplicaState {
  /** Last TXID staged (0 before the first snapshot). */
  txid: number;
  pageSize: number;
  /** Database size in pages at `txid`. */
  commit: number;
  /** Null when the state came from the database file alone (no WAL frames consumed). */
  wal: WalCursor | null;
  pages: PageChecksums;
  /** Absent in state written before walsync tracked it. */
  snapshot?: SnapshotHistory;
}

interface StoredHeader {
  format: number;
  txid: number;
  pageSize: number;
  commit: number;
  databaseChecksum: string;
  wal: WalCursor | null;
  snapshot?: SnapshotHistory;
}

/** The state file is unreadable: walsync starts over with a snapshot rather than guess. */
export class StateError extends WalsyncError {}

export function encodeState(state: ReplicaState): Uint8Array {
  const header: StoredHeader = {
    format: STATE_FORMAT,
    txid: state.txid,
    pageSize: state.pageSize,
    commit: state.commit,
    databaseChecksum: state.pages.value.toString(16),
    wal: state.wal,
    snapshot: state.snapshot,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const table = state.pages.toBytes();
  const out = new Uint8Array(json.length + 1 + table.length);
  out.set(json);
  out[json.length] = NEWLINE;
  out.set(table, json.length + 1);
  return out;
}

export function decodeState(bytes: Uint8Array, path: string): ReplicaState {
  const newline = bytes.indexOf(NEWLINE);
  let header: StoredHeader;
  try {
    if (newline < 0) throw new Error("no header line");
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline)));
  } catch (error) {
    throw new StateError(`Replication state "${path}" is unreadable`, { cause: error });
  }
  if (header.format !== STATE_FORMAT) {
    throw new StateError(`Replication state "${path}" has unknown format ${header.format}`);
  }
  const table = bytes.subarray(newline + 1);
  if (table.length !== header.commit * 8) {
    throw new StateError(`Replication state "${path}" is truncated`);
  }
  const pages = PageChecksums.fromBytes(header.pageSize, table);
  if (pages.value.toString(16) !== header.databaseChecksum) {
    throw new StateError(`Replication state "${path}" fails its checksum`);
  }
  return {
    txid: header.txid,
    pageSize: header.pageSize,
    commit: header.commit,
    wal: header.wal,
    pages,
    snapshot: header.snapshot,
  };
}

/** Writes the state file; it takes the mode of the staging directory's files. */
export async function saveState(path: string, state: ReplicaState): Promise<void> {
  const mode = await fileModeIn(path.slice(0, path.lastIndexOf("/")) || "/");
  await writeFileDurably(path, encodeState(state), { mode });
}

/** The saved state, or null if there is none yet. */
export async function loadState(path: string): Promise<ReplicaState | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return decodeState(bytes, path);
}

/** True if `header` is the WAL generation `cursor` points into. */
export function sameGeneration(header: WalHeader, cursor: WalCursor): boolean {
  return header.salt1 === cursor.salt1 && header.salt2 === cursor.salt2 &&
    header.checkpointSeq === cursor.checkpointSeq;
}

/** The cursor after the last commit `scan` found. */
export function cursorOf(header: WalHeader, scan: WalScan): WalCursor {
  return {
    salt1: header.salt1,
    salt2: header.salt2,
    checkpointSeq: header.checkpointSeq,
    offset: scan.commit.offset,
    checksum1: scan.commit.checksum1,
    checksum2: scan.commit.checksum2,
  };
}
