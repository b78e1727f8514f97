/**
 * Full snapshots: the whole database staged as the next TXID, at level 0 (so the TXID
 * sequence has no gap) and, past TXID 1, as a level-9 snapshot (so restores start from it).
 *
 * Every snapshot reads under a read transaction begun for it, which sees the latest commit:
 * a snapshot is never older than the TXID before it. Pages come from the database file
 * overlaid with the newest committed WAL frame of each page; the pin keeps every page that
 * matters from changing. When the WAL has content walsync cannot parse (or frames it had not
 * copied vanished), SQLite may still be reading frames walsync cannot see: the snapshot is
 * then SQLite's own copy of the pinned view (the backup API), the one view that is right.
 */
import { readFullySync } from "../db/database.ts";
import { WalsyncError } from "../errors.ts";
import { scanWal, WalReader, type WalScan } from "../wal/wal_reader.ts";
import {
  countPending,
  freshPin,
  readWalPage,
  type ReplicationContext,
  sameWalGeneration,
  type SyncResult,
  walHeader,
} from "./context.ts";
import { cursorOf, saveState } from "./replica_state.ts";
import { type SnapshotOptions, stageSnapshot } from "./snapshot_writer.ts";

/** Tries at a snapshot while the WAL keeps restarting under it. */
const SNAPSHOT_ATTEMPTS = 3;
/** The copy of SQLite's view, inside the staging directory. */
const VIEW_COPY = "view-copy.db";
/** Offset and size of the page size field in a database header (1 means 65536). */
const HEADER_PAGE_SIZE_OFFSET = 16;

export interface TakeSnapshotOptions extends SnapshotOptions {
  /** Copy SQLite's view even if the WAL looks readable (frames walsync had vanished). */
  fromView?: boolean;
}

/** Stages a full copy of the database as the next TXID. */
export async function takeSnapshot(
  ctx: ReplicationContext,
  reason: string,
  options: TakeSnapshotOptions = {},
): Promise<SyncResult> {
  for (let attempt = 1;; attempt++) {
    await freshPin(ctx);
    const header = await walHeader(ctx);
    if (options.fromView || (!header && (await ctx.db.walStat()).sizeBytes > 0)) {
      return await snapshotFromView(ctx, reason, options);
    }
    const result = await snapshotFromFiles(ctx, reason, options);
    if (result) return result;
    // The WAL restarted under us: the copy may mix generations; take it again.
    if (attempt >= SNAPSHOT_ATTEMPTS) {
      throw new WalsyncError(
        `The WAL of "${ctx.path}" kept restarting during a snapshot; retrying later`,
      );
    }
  }
}

/** The database file overlaid with the WAL's committed frames; null if the WAL restarted. */
async function snapshotFromFiles(
  ctx: ReplicationContext,
  reason: string,
  options: SnapshotOptions,
): Promise<SyncResult | null> {
  const txid = ctx.state.txid + 1;
  ctx.log.info("snapshot", { txid, reason });
  const header = await walHeader(ctx);
  const scan = header ? await scanWal(new WalReader(ctx.db, header)) : null;
  // Without WAL frames the pinned read (begun for this snapshot) gives the database size.
  const pageCount = scan && scan.commit.frameCount > 0 ? scan.commit.pageCount : ctx.db.pageCount();
  if (pageCount === 0) {
    throw new WalsyncError(`Database "${ctx.path}" is empty (0 pages); nothing to snapshot`);
  }
  const pageSize = ctx.db.pageSize;
  const createdAt = new Date();
  const { staged, pages } = await stageSnapshot(ctx.staging, {
    txid,
    pageSize,
    pageCount,
    header,
    scan,
    createdAt,
    readPage: (pgno, buffer) => readCurrentPage(ctx, pgno, scan, buffer),
    onProgress: options.onProgress,
  });
  if (header && !(await sameWalGeneration(ctx, header))) {
    for (const file of staged) await ctx.staging.remove(file);
    return null;
  }
  for (const file of staged) countPending(ctx, file.sizeBytes);
  ctx.state = {
    txid,
    pageSize,
    commit: pageCount,
    wal: header && scan ? cursorOf(header, scan) : null,
    pages,
    snapshot: {
      txid,
      atMs: createdAt.getTime(),
      pagesSince: 0,
      firstChangeAtMs: null,
      lastChangeAtMs: null,
    },
  };
  await saveState(ctx.staging.statePath, ctx.state);
  ctx.generationComplete = false;
  ctx.continuityUnknown = false;
  return { txid, snapshot: reason };
}

/**
 * SQLite's own copy of the pinned view (begun for this snapshot), staged page by page. The
 * copy needs disk space for one database beside the staging area while it is made.
 */
async function snapshotFromView(
  ctx: ReplicationContext,
  reason: string,
  options: SnapshotOptions,
): Promise<SyncResult> {
  const txid = ctx.state.txid + 1;
  ctx.log.info("snapshot", { txid, reason, source: "a copy of SQLite's view" });
  const copy = `${ctx.staging.dir}/${VIEW_COPY}`;
  await removeCopy(copy);
  let result: {
    pageSize: number;
    pageCount: number;
    staged: Awaited<ReturnType<typeof stageSnapshot>>;
  };
  const createdAt = new Date();
  try {
    await ctx.db.backupTo(copy);
    const file = Deno.openSync(copy, { read: true });
    try {
      const head = new Uint8Array(HEADER_PAGE_SIZE_OFFSET + 2);
      readFullySync(file, head, 0);
      const field = (head[HEADER_PAGE_SIZE_OFFSET] << 8) | head[HEADER_PAGE_SIZE_OFFSET + 1];
      const pageSize = field === 1 ? 65536 : field;
      const pageCount = Math.floor(file.statSync().size / pageSize);
      if (pageSize < 512 || pageCount === 0) {
        throw new WalsyncError(`SQLite's copy of "${ctx.path}" is empty; nothing to snapshot`);
      }
      const staged = await stageSnapshot(ctx.staging, {
        txid,
        pageSize,
        pageCount,
        header: null,
        scan: null,
        createdAt,
        readPage: (pgno, buffer) => {
          if (readFullySync(file, buffer, (pgno - 1) * pageSize) !== buffer.length) {
            throw new WalsyncError(`SQLite's copy of "${ctx.path}" is shorter than page ${pgno}`);
          }
          return Promise.resolve();
        },
        onProgress: options.onProgress,
      });
      result = { pageSize, pageCount, staged };
    } finally {
      file.close();
    }
  } finally {
    await removeCopy(copy);
  }
  const { pageSize, pageCount, staged: { staged, pages } } = result;
  for (const file of staged) countPending(ctx, file.sizeBytes);
  ctx.state = {
    txid,
    pageSize,
    commit: pageCount,
    wal: null,
    pages,
    snapshot: {
      txid,
      atMs: createdAt.getTime(),
      pagesSince: 0,
      firstChangeAtMs: null,
      lastChangeAtMs: null,
    },
  };
  await saveState(ctx.staging.statePath, ctx.state);
  ctx.generationComplete = false;
  ctx.continuityUnknown = true;
  return { txid, snapshot: reason };
}

/** Removes a copy of SQLite's view (and its journal) left by this or an earlier run. */
export async function removeCopy(path: string): Promise<void> {
  for (const file of [path, `${path}-journal`, `${path}-wal`, `${path}-shm`]) {
    await Deno.remove(file).catch(() => {});
  }
}

/** The staging directory's leftover copy of SQLite's view, for clean-up at start. */
export function viewCopyPath(stagingDir: string): string {
  return `${stagingDir}/${VIEW_COPY}`;
}

async function readCurrentPage(
  ctx: ReplicationContext,
  pgno: number,
  scan: WalScan | null,
  buffer: Uint8Array,
): Promise<void> {
  const offset = scan?.pages.get(pgno);
  if (offset !== undefined) return await readWalPage(ctx, offset, buffer);
  const n = ctx.db.readPage(pgno, buffer);
  if (n !== buffer.length) {
    throw new WalsyncError(`Database "${ctx.path}" is shorter than page ${pgno}`);
  }
}
