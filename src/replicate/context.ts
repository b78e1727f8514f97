/**
 * What the replicator's jobs share about one database: capture (`capture.ts`), snapshots
 * (`snapshot.ts`), checkpoints (`checkpoint.ts`) and the start-up proof of continuity
 * (`reconcile.ts`) each take this context, and `Replicator` owns it. Only this room uses it.
 */
import { type Database, isBusyError } from "../db/database.ts";
import { FormatError, WalsyncError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import { WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, type WalHeader } from "../wal/wal_header.ts";
import { readWalHeader } from "../wal/wal_reader.ts";
import { loadState, type ReplicaState } from "./replica_state.ts";
import type { Staging } from "./staging.ts";

/** Tries at beginning a read while the database is busy, and the pause between them. */
const PIN_RETRIES = 50;
const PIN_RETRY_DELAY_MS = 10;

export interface ReplicationContext {
  /** The database file walsync opened (symlinks resolved). */
  readonly path: string;
  readonly name: string;
  readonly client: ReplicaClient;
  readonly staging: Staging;
  readonly log: Logger;
  readonly db: Database;
  /** When the replicator opened (ms since the epoch). */
  readonly openedAtMs: number;
  state: ReplicaState;
  /** Our checkpoint copied and backfilled the whole generation at `state.wal` and re-pinned. */
  generationComplete: boolean;
  /**
   * The WAL fingerprint when the pin was taken, until the pin has been moved to a read mark
   * past new frames (see `Database.repin`); null once moved.
   */
  pinFingerprint: string | null;
  /**
   * True after a snapshot copied from SQLite's view while walsync could not read the WAL:
   * frames after it may be checkpointed away unseen, so the next WAL walsync can read is not
   * continued but snapshotted.
   */
  continuityUnknown: boolean;
  /** Staged files not yet uploaded (so idle databases cost no directory listing). */
  pending: { count: number; bytes: number };
  /** Told of every file stored in the replica. */
  onUploaded?: (info: LtxFileInfo, fileMode?: number) => void;
}

/** The WAL header if the file has a valid one, else null (SQLite treats that as empty). */
export async function walHeader(ctx: ReplicationContext): Promise<WalHeader | null> {
  try {
    return await readWalHeader(ctx.db);
  } catch (error) {
    if (error instanceof FormatError) return null;
    throw error;
  }
}

/** True if the WAL still carries `header`'s generation (its salts and checkpoint sequence). */
export async function sameWalGeneration(
  ctx: ReplicationContext,
  header: WalHeader,
): Promise<boolean> {
  const now = await walHeader(ctx);
  return now !== null && now.salt1 === header.salt1 && now.salt2 === header.salt2 &&
    now.checkpointSeq === header.checkpointSeq;
}

/** True when walsync consumed no frame of the current generation. */
export function generationEmpty(ctx: ReplicationContext): boolean {
  return !ctx.state.wal || ctx.state.wal.offset <= WAL_HEADER_SIZE;
}

/** Reads the page of the WAL frame at `frameOffset`. */
export async function readWalPage(
  ctx: ReplicationContext,
  frameOffset: number,
  buffer: Uint8Array,
): Promise<void> {
  const n = await ctx.db.readAt(buffer, frameOffset + WAL_FRAME_HEADER_SIZE);
  if (n !== buffer.length) {
    throw new WalVanishedError(`WAL of "${ctx.path}" ended inside the frame at ${frameOffset}`);
  }
}

/**
 * Frames walsync had validated were gone when it read their pages: the WAL was truncated (or
 * restarted) meanwhile, which SQLite allows only once they are checkpointed into the
 * database file. The read is taken again from what the files hold now.
 */
export class WalVanishedError extends WalsyncError {}

/** Begins the pinned read transaction, riding out a busy database for a moment. */
export async function pin(ctx: ReplicationContext): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      ctx.db.pin();
      ctx.pinFingerprint = await ctx.db.walFingerprint();
      return;
    } catch (error) {
      if (!isBusyError(error) || attempt >= PIN_RETRIES) throw error;
      await sleep(PIN_RETRY_DELAY_MS);
    }
  }
}

/**
 * Moves the pin to a read begun now, which sees the latest commit, without ever leaving the
 * WAL unpinned (the new read begins before the old one ends).
 */
export async function freshPin(ctx: ReplicationContext): Promise<void> {
  if (!ctx.db.pinned) return await pin(ctx);
  for (let attempt = 0;; attempt++) {
    if (ctx.db.repin()) {
      ctx.pinFingerprint = await ctx.db.walFingerprint();
      return;
    }
    if (attempt >= PIN_RETRIES) {
      throw new WalsyncError(
        `Database "${ctx.path}" stayed busy: walsync could not begin a fresh read; retrying later`,
      );
    }
    await sleep(PIN_RETRY_DELAY_MS);
  }
}

/**
 * Back to the state saved with the last TXID (the in-memory one may be ahead of it after a
 * failure part-way through a batch).
 */
export async function reloadState(ctx: ReplicationContext): Promise<void> {
  try {
    const state = await loadState(ctx.staging.statePath);
    if (state) ctx.state = state;
  } catch (error) {
    ctx.log.error("replication state unreadable after a failure", { error });
  }
}

/** Frames in a WAL that ends at `offset`. */
export function framesBefore(offset: number, pageSize: number): number {
  return Math.max(0, (offset - WAL_HEADER_SIZE) / (WAL_FRAME_HEADER_SIZE + pageSize));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface SyncResult {
  /** TXID staged by this call, or null if nothing changed. */
  txid: number | null;
  snapshot?: string;
  /** True when staging is full and capture waits for uploads. */
  deferred?: boolean;
}

/** Counts a newly staged file as waiting for upload. */
export function countPending(ctx: ReplicationContext, sizeBytes: number): void {
  ctx.pending.count++;
  ctx.pending.bytes += sizeBytes;
}
