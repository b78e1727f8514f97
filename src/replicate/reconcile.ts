/**
 * Where replication stands when a replicator opens: the saved state, the staged files, the
 * replica's last TXID and the database are compared, and either continuity is proven (the
 * WAL still holds exactly the frames walsync copied, or the file still has the content it
 * recorded) or the next TXID is a snapshot.
 *
 * The replica is listed once at start-up. When it cannot be reached (an outage), capture goes
 * on into staging and the same comparison runs before the first upload (`replicaMismatch`):
 * a replica another writer continued, or one that lost files, is then re-seeded.
 */
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import {
  parseWalFrameHeader,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  type WalHeader,
} from "../wal/wal_header.ts";
import { databaseFileMatchesState } from "./checkpoint.ts";
import { type ReplicationContext, walHeader } from "./context.ts";
import { PageChecksums } from "./page_checksums.ts";
import {
  loadState,
  type ReplicaState,
  sameGeneration,
  StateError,
  type WalCursor,
} from "./replica_state.ts";
import { takeSnapshot } from "./snapshot.ts";
import type { StagedFile } from "./staging.ts";

const ALL_LEVELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, SNAPSHOT_LEVEL];

export interface ReconcileOptions {
  /**
   * Do not list the replica now (it seems unreachable): the comparison runs before the first
   * upload instead.
   */
  deferReplicaCheck?: boolean;
  /**
   * The replica's last TXID, when this process knows it (it has been writing the replica and
   * opens the database again after its file was replaced): no listing is needed.
   */
  replicaTxid?: number;
  /** Why the database is opened again, for the reason of a snapshot that follows. */
  reopenedBecause?: string;
}

export interface ReconcileResult {
  /** False when the replica could not be compared yet (see `replicaMismatch`). */
  replicaChecked: boolean;
  /** The highest TXID known (or, unchecked, believed) to be in the replica. */
  uploadedTxid: number;
}

/** Loads the saved state and proves continuity with the database, or snapshots. */
export async function reconcile(
  ctx: ReplicationContext,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  let state: ReplicaState | null = null;
  try {
    state = await loadState(ctx.staging.statePath);
  } catch (error) {
    if (!(error instanceof StateError)) throw error;
    ctx.log.warn("replication state unreadable; taking a snapshot", { error });
  }
  let pending = await ctx.staging.list();
  if (state) {
    for (const file of pending) {
      if (file.maxTxid > state.txid) await ctx.staging.remove(file); // never acknowledged
    }
    pending = pending.filter((f) => f.maxTxid <= state!.txid);
  }
  // The replica is the truth about which TXIDs exist: another writer (Litestream, or walsync
  // elsewhere) may have continued it, or files may have gone. One listing at start-up.
  let replicated: number | null = options.replicaTxid ?? null;
  if (replicated === null && !options.deferReplicaCheck) {
    try {
      replicated = await replicaMaxTxid(ctx.client, ctx.name);
    } catch (error) {
      ctx.log.warn(
        "cannot list the replica at start-up; capturing into staging, and comparing before the first upload",
        { error },
      );
    }
  }
  const replicaChecked = replicated !== null;
  let reason: string | null = null;
  if (!state) {
    reason = replicated ? "no local state; continuing the replica's TXIDs" : "first sync";
  } else if (state.pageSize !== ctx.db.pageSize) {
    reason = "page size changed";
  } else if (replicated !== null) {
    const mismatch = replicaMismatch(replicated, state, pending);
    if (mismatch) {
      reason = mismatch.reason;
      // Our unsent files would overwrite that writer's TXIDs: the snapshot supersedes them.
      if (mismatch.anotherWriter) {
        for (const file of pending) await ctx.staging.remove(file);
        pending = [];
      }
    }
  }
  ctx.pending.count = pending.length;
  ctx.pending.bytes = pending.reduce((n, f) => n + f.sizeBytes, 0);
  if (reason || !state) {
    const staged = pending.reduce((max, f) => Math.max(max, f.maxTxid), 0);
    ctx.state = {
      txid: Math.max(replicated ?? 0, staged, state?.txid ?? 0),
      pageSize: ctx.db.pageSize,
      commit: 0,
      wal: null,
      pages: new PageChecksums(ctx.db.pageSize),
    };
    const uploadedTxid = replicated ?? (pending.length > 0 ? pending[0].minTxid - 1 : 0);
    await takeSnapshot(ctx, options.reopenedBecause ?? reason ?? "first sync");
    return { replicaChecked, uploadedTxid };
  }
  ctx.state = state;
  const uploadedTxid = pending.length > 0 ? pending[0].minTxid - 1 : state.txid;
  const header = await walHeader(ctx);
  if (!header) {
    if (databaseFileMatchesState(ctx)) {
      ctx.state = { ...state, wal: null };
      return { replicaChecked, uploadedTxid };
    }
    await takeSnapshot(
      ctx,
      options.reopenedBecause ?? "database changed while walsync was not running",
      { diff: true },
    );
    return { replicaChecked, uploadedTxid };
  }
  if (
    state.wal && sameGeneration(header, state.wal) &&
    (await resumeGeneration(ctx, header, state.wal))
  ) {
    return { replicaChecked, uploadedTxid };
  }
  await takeSnapshot(
    ctx,
    options.reopenedBecause ?? "WAL moved on while walsync was not running",
    { diff: true },
  );
  return { replicaChecked, uploadedTxid };
}

/**
 * Compares the replica's last TXID with what this replicator staged: between the first
 * pending file and the last staged TXID is expected (uploads remove a file from staging only
 * after the replica has it). Beyond that, another writer continued the replica; below it,
 * the replica lost files. Null when they agree.
 */
export function replicaMismatch(
  replicated: number,
  state: ReplicaState,
  pending: StagedFile[],
): { reason: string; anotherWriter: boolean } | null {
  if (replicated > state.txid) {
    return {
      reason: `another writer continued the replica to TXID ${replicated}`,
      anotherWriter: true,
    };
  }
  const lowest = pending.length > 0 ? pending[0].minTxid - 1 : state.txid;
  if (replicated < lowest) {
    return {
      reason:
        `the replica lost files (it ends at TXID ${replicated}, walsync uploaded up to ${lowest})`,
      anotherWriter: false,
    };
  }
  return null;
}

/** The highest TXID of any file at any level of `name` in the replica (0 if none). */
export async function replicaMaxTxid(
  client: ReplicaClient,
  name: string,
  signal?: AbortSignal,
): Promise<number> {
  if (client.maxTxid) return await client.maxTxid(name, signal);
  let max = 0;
  for (const level of ALL_LEVELS) {
    for (const file of await client.listFiles(name, level, signal)) {
      max = Math.max(max, file.maxTxid);
    }
  }
  return max;
}

/**
 * Checks that the WAL still holds, at the saved cursor, the frames walsync copied: the frame
 * that ends there carries this generation's salts and the cumulative checksum walsync saved
 * (which covers every frame before it). One read of 24 bytes, whatever the WAL's size.
 */
async function resumeGeneration(
  ctx: ReplicationContext,
  header: WalHeader,
  cursor: WalCursor,
): Promise<boolean> {
  if (cursor.offset <= WAL_HEADER_SIZE) {
    return cursor.offset === WAL_HEADER_SIZE && cursor.checksum1 === header.checksum1 &&
      cursor.checksum2 === header.checksum2;
  }
  const frameOffset = cursor.offset - WAL_FRAME_HEADER_SIZE - header.pageSize;
  if (frameOffset < WAL_HEADER_SIZE) return false;
  const bytes = new Uint8Array(WAL_FRAME_HEADER_SIZE);
  if ((await ctx.db.readAt(bytes, frameOffset)) !== bytes.length) return false;
  const frame = parseWalFrameHeader(bytes);
  return frame.salt1 === header.salt1 && frame.salt2 === header.salt2 &&
    frame.checksum1 === cursor.checksum1 && frame.checksum2 === cursor.checksum2;
}
