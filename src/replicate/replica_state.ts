/**
 * What a replicator must remember across restarts, kept in one file: the last staged TXID,
 * the WAL position it covers, and the page checksums behind the rolling database checksum.
 *
 * Format 2: a 4096-byte header (JSON, padded) then one big-endian u64 per page. A batch
 * rewrites only the entries of the pages it changed and the header, in place (a 1 GiB
 * database's table is 2 MiB; a batch changes a few entries). The header carries the XOR of
 * the table, so a write torn by a crash is detected on load and answered with a snapshot,
 * never trusted. A snapshot (every entry new) writes a temp file and renames it. Format 1
 * (a JSON line, then the table) is still read, and rewritten as format 2.
 */
import { fileModeIn, writeChunk, writeFileDurably } from "../durable.ts";
import { WalsyncError } from "../errors.ts";
import type { WalHeader } from "../wal/wal_header.ts";
import type { WalScan } from "../wal/wal_reader.ts";
import { PageChecksums } from "./page_checksums.ts";

const STATE_FORMAT = 2;
const LEGACY_STATE_FORMAT = 1;
const NEWLINE = 0x0a;
const SPACE = 0x20;
/** Bytes of the format-2 header, before the table. */
const HEADER_BYTES = 4096;
const ENTRY_BYTES = 8;
/** Adjacent changed entries are written together, up to this many bytes a write. */
const ENTRY_RUN_BYTES = 64 * 1024;

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

function headerOf(state: ReplicaState): StoredHeader {
  return {
    format: STATE_FORMAT,
    txid: state.txid,
    pageSize: state.pageSize,
    commit: state.commit,
    databaseChecksum: state.pages.value.toString(16),
    wal: state.wal,
    snapshot: state.snapshot,
  };
}

/** The 4096-byte header: JSON, padded with spaces, ending in a newline. */
function encodeHeader(state: ReplicaState): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(headerOf(state)));
  if (json.length >= HEADER_BYTES) {
    throw new WalsyncError(`Replication state header is ${json.length} bytes, over the limit`);
  }
  const out = new Uint8Array(HEADER_BYTES).fill(SPACE);
  out.set(json);
  out[HEADER_BYTES - 1] = NEWLINE;
  return out;
}

export function encodeState(state: ReplicaState): Uint8Array {
  const table = state.pages.toBytes();
  const out = new Uint8Array(HEADER_BYTES + table.length);
  out.set(encodeHeader(state));
  out.set(table, HEADER_BYTES);
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
  if (header.format !== STATE_FORMAT && header.format !== LEGACY_STATE_FORMAT) {
    throw new StateError(`Replication state "${path}" has unknown format ${header.format}`);
  }
  const tableAt = header.format === STATE_FORMAT ? HEADER_BYTES : newline + 1;
  const table = bytes.subarray(tableAt);
  if (table.length !== header.commit * ENTRY_BYTES) {
    throw new StateError(`Replication state "${path}" is truncated`);
  }
  const pages = PageChecksums.fromBytes(header.pageSize, table);
  if (pages.value.toString(16) !== header.databaseChecksum) {
    throw new StateError(`Replication state "${path}" fails its checksum`);
  }
  // A format-2 file holds this table already: later saves may update it in place.
  if (header.format === STATE_FORMAT) pages.markSaved();
  return {
    txid: header.txid,
    pageSize: header.pageSize,
    commit: header.commit,
    wal: header.wal,
    pages,
    snapshot: header.snapshot,
  };
}

/**
 * Writes the state file (it takes the mode of the staging directory's files): in place when
 * only some entries changed since the table was loaded or last saved, else whole.
 */
export async function saveState(path: string, state: ReplicaState): Promise<void> {
  const dirty = state.pages.dirtyPages;
  if (dirty === null || !(await updateInPlace(path, state, dirty))) {
    const mode = await fileModeIn(path.slice(0, path.lastIndexOf("/")) || "/");
    await writeFileDurably(path, encodeState(state), { mode });
  }
  state.pages.markSaved();
}

/**
 * Cuts or extends the table to the commit size (new entries read as zero, as the table has
 * them), writes the changed entries, syncs, then writes the header and syncs again. False
 * when there is no format-2 file to update.
 */
async function updateInPlace(
  path: string,
  state: ReplicaState,
  dirty: number[],
): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  try {
    // Entries past a cut must read as zero even where the table has grown again since.
    const cutTo = state.pages.cutTo;
    if (cutTo !== null) file.truncateSync(HEADER_BYTES + cutTo * ENTRY_BYTES);
    file.truncateSync(HEADER_BYTES + state.commit * ENTRY_BYTES);
    const run = new Uint8Array(Math.min(ENTRY_RUN_BYTES, dirty.length * ENTRY_BYTES));
    const view = new DataView(run.buffer);
    for (let i = 0; i < dirty.length;) {
      const first = dirty[i];
      let count = 0;
      while (
        i < dirty.length && dirty[i] === first + count && (count + 1) * ENTRY_BYTES <= run.length
      ) {
        state.pages.writeEntry(dirty[i], view, count * ENTRY_BYTES);
        count++;
        i++;
      }
      file.seekSync(HEADER_BYTES + (first - 1) * ENTRY_BYTES, Deno.SeekMode.Start);
      await writeChunk(file, run.subarray(0, count * ENTRY_BYTES));
    }
    // One sync for entries and header: a crash that keeps one and loses the other leaves a
    // table whose XOR is not the header's checksum, refused on load (a snapshot follows).
    file.seekSync(0, Deno.SeekMode.Start);
    await writeChunk(file, encodeHeader(state));
    await file.sync();
    return true;
  } finally {
    file.close();
  }
}

/** The saved state, or null if there is none yet. */
// deno-lint-ignore require-await
export async function loadState(path: string): Promise<ReplicaState | null> {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
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
