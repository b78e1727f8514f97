/**
 * walsync's own checkpoint policy (PASSIVE above a WAL size or after an idle spell, TRUNCATE
 * only as an emergency brake, never RESTART), in an order that keeps continuity provable:
 * with a second connection holding the write lock, copy everything, checkpoint, re-pin,
 * release. Nothing can be appended in between, so the WAL restart that follows is known to
 * continue exactly where walsync stopped.
 */
import { framesBefore, pin, type ReplicationContext } from "./context.ts";
import { PageChecksums } from "./page_checksums.ts";
import { saveState } from "./replica_state.ts";
import { takeSnapshot } from "./snapshot.ts";

/** Checkpoint (PASSIVE) once the WAL holds this many frames. */
export const DEFAULT_CHECKPOINT_PAGES = 1000;
/** Above this many frames, also try TRUNCATE to give the disk space back. */
export const DEFAULT_TRUNCATE_PAGES = 121_359;
/** Checkpoint a WAL that has not changed for this long. */
export const DEFAULT_IDLE_CHECKPOINT_MS = 60_000;

export interface CheckpointPolicy {
  checkpointPages: number;
  truncatePages: number;
  idleCheckpointMs: number;
}

/**
 * Copies everything (`sync`), then checkpoints and re-pins under the write lock. Returns
 * false when the write lock was busy (try again later).
 */
export async function checkpoint(
  ctx: ReplicationContext,
  sync: () => Promise<unknown>,
  options: { truncate?: boolean } = {},
): Promise<boolean> {
  const lock = ctx.db.tryWriteLock();
  if (!lock) return false;
  let complete = false;
  try {
    await sync();
    ctx.db.unpin();
    try {
      const result = ctx.db.checkpoint("PASSIVE");
      const frames = ctx.state.wal ? framesBefore(ctx.state.wal.offset, ctx.state.pageSize) : 0;
      complete = !result.busy && result.walFrames === result.checkpointedFrames &&
        result.walFrames === frames;
      ctx.log.debug("checkpoint", { ...result, complete });
    } finally {
      await pin(ctx);
    }
  } finally {
    lock.release();
  }
  ctx.generationComplete = complete && ctx.state.wal !== null;
  if (options.truncate && complete) await truncate(ctx);
  return true;
}

/** Runs the policy: size thresholds, or an idle WAL. */
export async function maybeCheckpoint(
  ctx: ReplicationContext,
  sync: () => Promise<unknown>,
  options: CheckpointPolicy & { lastChangeAtMs: number; stagingFull: boolean },
): Promise<boolean> {
  const wal = ctx.state.wal;
  // With staging full, frames wait in the WAL: checkpointing now would only invite a snapshot.
  if (!wal || ctx.generationComplete || options.stagingFull) return false;
  const frames = framesBefore(wal.offset, ctx.state.pageSize);
  if (frames === 0) return false;
  const idle = Date.now() - options.lastChangeAtMs >= options.idleCheckpointMs;
  if (frames < options.checkpointPages && !idle) return false;
  return await checkpoint(ctx, sync, { truncate: frames >= options.truncatePages });
}

/**
 * TRUNCATE cannot run under our write lock, so a commit could slip in between; the database
 * file is then compared with our checksum, and any difference is answered with a snapshot.
 */
async function truncate(ctx: ReplicationContext): Promise<void> {
  ctx.db.unpin();
  let truncated = false;
  try {
    truncated = !ctx.db.checkpoint("TRUNCATE").busy;
  } finally {
    await pin(ctx);
  }
  if (!truncated) return;
  ctx.log.info("WAL truncated");
  if (databaseFileMatchesState(ctx)) {
    ctx.state = { ...ctx.state, wal: null };
    await saveState(ctx.staging.statePath, ctx.state);
    ctx.generationComplete = false;
  } else {
    await takeSnapshot(ctx, "a commit raced walsync's TRUNCATE checkpoint", { diff: true });
  }
}

/** Reads the database file whole and compares it with the saved checksum and size. */
export function databaseFileMatchesState(ctx: ReplicationContext): boolean {
  const pageSize = ctx.db.pageSize;
  const pageCount = Math.floor(ctx.db.fileSize() / pageSize);
  if (pageSize !== ctx.state.pageSize || pageCount !== ctx.state.commit) return false;
  const pages = new PageChecksums(pageSize);
  const buffer = new Uint8Array(pageSize);
  for (let pgno = 1; pgno <= pageCount; pgno++) {
    ctx.db.readPage(pgno, buffer);
    pages.set(pgno, buffer);
  }
  return pages.value === ctx.state.pages.value;
}
