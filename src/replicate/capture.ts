/**
 * Capture: copies the transactions committed to the WAL since the last TXID into one staged
 * level-0 LTX file with the next TXID (the newest committed version of each page, pages past
 * the commit's database size dropped). Anything that breaks continuity is answered with a
 * snapshot, never with a silent gap; a WAL walsync cannot read is said so at error level.
 */
import { WAL_HEADER_SIZE } from "../wal/wal_header.ts";
import { scanWal, WalReader } from "../wal/wal_reader.ts";
import { stageBatch } from "./batch_writer.ts";
import { WAL_READ_BUFFERS } from "./buffer_pool.ts";
import {
  countPending,
  generationEmpty,
  readWalPage,
  reloadState,
  type ReplicationContext,
  sameWalGeneration,
  type SyncResult,
  walHeader,
  WalVanishedError,
} from "./context.ts";
import {
  cursorOf,
  sameGeneration,
  saveState,
  type SnapshotHistory,
  type WalCursor,
} from "./replica_state.ts";
import { takeSnapshot } from "./snapshot.ts";

/** A WAL walsync cannot read is copied from SQLite's view at most this often while it changes. */
export const DEFAULT_UNREADABLE_SNAPSHOT_MS = 10_000;
/** And said again at error level this often while it lasts. */
const UNREADABLE_LOG_MS = 60_000;

/** What capture remembers about a WAL it cannot read, while that lasts. */
export interface UnreadableWal {
  sinceMs: number;
  loggedAtMs: number;
  /** When SQLite's view was last copied, and the WAL's fingerprint then. */
  copiedAtMs: number;
  copiedFingerprint: string | null;
}

export interface CaptureInput {
  /** The `-wal` file's size and fingerprint, from the stat that triggered this capture. */
  walSizeBytes: number;
  walFingerprint: string;
  /** A final or forced look: copy an unreadable WAL's view now, whatever the rate limit. */
  force: boolean;
  nowMs: number;
  /**
   * The last look at a file about to be let go (it was replaced): copy what its WAL still
   * holds, but never snapshot (the path names another file now).
   */
  lastLook?: boolean;
}

/**
 * Stages what was committed since the last TXID. `unreadable` carries the state of a WAL
 * walsync cannot parse between calls (null while the WAL is fine); the caller keeps it.
 */
export async function captureBatch(
  ctx: ReplicationContext,
  input: CaptureInput,
  unreadable: { current: UnreadableWal | null },
): Promise<SyncResult> {
  const state = ctx.state;
  const header = await walHeader(ctx);
  if (input.lastLook && !(header && state.wal && sameGeneration(header, state.wal))) {
    return { txid: null };
  }
  if (!header) {
    if (input.walSizeBytes > 0) return await captureUnreadable(ctx, input, unreadable);
    unreadable.current = null;
    // No WAL: nothing to copy, unless frames we had not finished with vanished.
    if (state.wal && !ctx.generationComplete && !generationEmpty(ctx)) {
      // SQLite truncates or deletes a WAL only once every frame is in the database file.
      return await takeSnapshot(ctx, "WAL was truncated or deleted by another process", {
        diff: true,
      });
    }
    return { txid: null };
  }
  if (unreadable.current) {
    ctx.log.warn("the WAL is readable again", { db: ctx.name });
    unreadable.current = null;
  }
  let from: WalCursor | null = null;
  if (state.wal && sameGeneration(header, state.wal)) {
    from = state.wal;
  } else if (ctx.continuityUnknown) {
    return await takeSnapshot(ctx, "the WAL is readable again after a copy of SQLite's view", {
      diff: true,
    });
  } else if (!(state.wal === null || ctx.generationComplete || generationEmpty(ctx))) {
    return await takeSnapshot(
      ctx,
      `WAL restarted by another connection (salt ${hex(state.wal.salt1)} → ${hex(header.salt1)})`,
      { diff: true },
    );
  }
  const scan = await WAL_READ_BUFFERS.with((buffer) =>
    scanWal(
      new WalReader(ctx.db, header, {
        buffer,
        from: from
          ? { offset: from.offset, checksum1: from.checksum1, checksum2: from.checksum2 }
          : undefined,
      }),
    )
  );
  if (scan.commit.frameCount === 0) {
    if (!from) ctx.state = { ...state, wal: cursorOf(header, scan) };
    return { txid: null };
  }
  const txid = state.txid + 1;
  const pageCount = scan.commit.pageCount;
  const pages = [...scan.pages.keys()].filter((pgno) => pgno <= pageCount).sort((a, b) => a - b);
  const createdAt = new Date();
  // The checksum table is updated as pages are encoded; a failure reloads it from disk.
  state.pages.truncate(pageCount);
  let staged;
  try {
    staged = await stageBatch(ctx.staging, {
      txid,
      header,
      scan,
      fromOffset: from?.offset ?? WAL_HEADER_SIZE,
      pgnos: pages,
      checksums: state.pages,
      createdAt,
      readWalPage: (offset, buffer) => readWalPage(ctx, offset, buffer),
    });
  } catch (error) {
    if (!(error instanceof WalVanishedError) || input.lastLook) throw error;
    await reloadState(ctx);
    return await takeSnapshot(ctx, "the WAL was truncated while walsync was reading it", {
      diff: true,
    });
  }
  if (!(await sameWalGeneration(ctx, header))) {
    // Page bytes are read after the scan validated their frames. A reader pinned on a fully
    // checkpointed WAL (SQLite's read slot 0) does not stop a restart, so those bytes may
    // belong to the next generation: a restart always rewrites the header first.
    await ctx.staging.remove(staged);
    if (input.lastLook) return { txid: null };
    await reloadState(ctx);
    return await takeSnapshot(ctx, "the WAL restarted while walsync was reading it", {
      diff: true,
    });
  }
  countPending(ctx, staged.sizeBytes);
  const history = snapshotHistoryOf(ctx);
  ctx.state = {
    ...state,
    txid,
    commit: pageCount,
    wal: cursorOf(header, scan),
    snapshot: {
      ...history,
      pagesSince: history.pagesSince + pages.length,
      firstChangeAtMs: history.firstChangeAtMs ?? createdAt.getTime(),
      lastChangeAtMs: createdAt.getTime(),
    },
  };
  await saveState(ctx.staging.statePath, ctx.state);
  ctx.generationComplete = false;
  ctx.log.debug("staged", { txid, pages: pages.length, sizeBytes: staged.sizeBytes });
  return { txid };
}

/**
 * The WAL has content but no valid header. SQLite itself may still be using its frames (its
 * index lives in the `-shm` file), so commits go on that walsync cannot parse: say so at error
 * level, copy SQLite's own view whenever the WAL changed (at most every few seconds), and keep
 * looking until the WAL is readable again.
 */
async function captureUnreadable(
  ctx: ReplicationContext,
  input: CaptureInput,
  unreadable: { current: UnreadableWal | null },
): Promise<SyncResult> {
  const now = input.nowMs;
  const seen = unreadable.current ??= {
    sinceMs: now,
    loggedAtMs: 0,
    copiedAtMs: 0,
    copiedFingerprint: null,
  };
  if (now - seen.loggedAtMs >= UNREADABLE_LOG_MS) {
    seen.loggedAtMs = now;
    ctx.log.error(
      "cannot make sense of the WAL: it has no valid header, but SQLite may still use its frames; walsync copies SQLite's own view while this lasts",
      { wal: ctx.db.walPath, sizeBytes: input.walSizeBytes, since: new Date(seen.sinceMs) },
    );
  }
  const changed = seen.copiedFingerprint !== input.walFingerprint;
  if (!changed || (!input.force && now - seen.copiedAtMs < DEFAULT_UNREADABLE_SNAPSHOT_MS)) {
    return { txid: null };
  }
  const result = await takeSnapshot(ctx, "the WAL has no valid header", {
    fromView: true,
    diff: true,
  });
  seen.copiedAtMs = now;
  seen.copiedFingerprint = input.walFingerprint;
  return result;
}

/**
 * The last full snapshot and what was staged since (for the snapshot policy). State saved by
 * an older walsync has none: it counts as a snapshot at the current TXID, taken when the
 * replicator opened, so an upgrade never triggers a burst of snapshots.
 */
export function snapshotHistoryOf(ctx: ReplicationContext): SnapshotHistory {
  return ctx.state.snapshot ?? {
    txid: ctx.state.txid,
    atMs: ctx.openedAtMs,
    pagesSince: 0,
    firstChangeAtMs: null,
    lastChangeAtMs: null,
  };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
