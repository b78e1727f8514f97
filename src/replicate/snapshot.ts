/**
 * Snapshots: the whole database read as it is now, staged as the next TXID, either in full
 * (at level 0 so the TXID sequence has no gap and, past TXID 1, as a level-9 snapshot where
 * restores start) or as a diff: when walsync's table of per-page CRCs at the last TXID can be
 * trusted, only the pages whose CRC differs are staged, as a level-0 batch. A discontinuity
 * (a WAL restarted or deleted while walsync was not looking) then costs one read of the
 * database, not one upload of it; intermediate positions are lost, the data is not.
 *
 * Every snapshot reads under a read transaction begun for it, which sees the latest commit:
 * a snapshot is never older than the TXID before it. Pages come from the database file
 * overlaid with the newest committed WAL frame of each page; the pin keeps every page that
 * matters from changing. When the WAL has content walsync cannot parse (or frames it had not
 * copied vanished), SQLite may still be reading frames walsync cannot see: pages then come
 * from SQLite's own copy of the pinned view (the backup API), the one view that is right.
 */
import { readFullySync } from "../db/database.ts";
import { WalsyncError } from "../errors.ts";
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import type { WalHeader } from "../wal/wal_header.ts";
import { scanWal, WalReader, type WalScan } from "../wal/wal_reader.ts";
import {
  countPending,
  freshPin,
  readWalPage,
  reloadState,
  type ReplicationContext,
  sameWalGeneration,
  type SyncResult,
  walHeader,
  WalVanishedError,
} from "./context.ts";
import { WAL_READ_BUFFERS } from "./buffer_pool.ts";
import { stageDiff } from "./diff_writer.ts";
import { cursorOf, type ReplicaState, saveState } from "./replica_state.ts";
import { type SnapshotOptions, stageSnapshot } from "./snapshot_writer.ts";
import type { StagedFile } from "./staging.ts";

/** Tries at a snapshot while the WAL keeps restarting under it. */
const SNAPSHOT_ATTEMPTS = 3;
/** The copy of SQLite's view, inside the staging directory. */
const VIEW_COPY = "view-copy.db";
/** Offset of the page size field in a database header (the value 1 means 65536). */
const HEADER_PAGE_SIZE_OFFSET = 16;

export interface TakeSnapshotOptions extends SnapshotOptions {
  /** Copy SQLite's view even if the WAL looks readable (frames walsync had vanished). */
  fromView?: boolean;
  /**
   * Stage only the pages that differ from the CRC table at the last TXID. Only where the
   * table describes what the replica holds at that TXID (not after a page-size change, a lost
   * state, or a replica another writer continued); a full snapshot is taken otherwise.
   */
  diff?: boolean;
  /**
   * A scheduled or requested snapshot: the level-9 file holds every page, but the level-0
   * file only the pages that differ from the CRC table (when it can be trusted), so the
   * database is uploaded once, and compaction never merges a full copy into levels 1..8
   * (Litestream #1510). Nothing changed since the last TXID: only the level-9 file, at it.
   */
  scheduled?: boolean;
}

/** The database as one read sees it: its pages, and the WAL position they reflect. */
interface PageSource {
  pageSize: number;
  pageCount: number;
  /** The WAL the pages overlay and its scan to the last commit; null for a copy or no WAL. */
  header: WalHeader | null;
  scan: WalScan | null;
  readPage(pgno: number, buffer: Uint8Array): Promise<void>;
  /** True if the WAL restarted while the pages were read (the copy may mix generations). */
  restarted(): Promise<boolean>;
  /** A copy of SQLite's view: continuity with the WAL that follows is unknown. */
  fromView: boolean;
  close(): Promise<void>;
}

/** Stages the database as it is now as the next TXID, in full or as a diff. */
export async function takeSnapshot(
  ctx: ReplicationContext,
  reason: string,
  options: TakeSnapshotOptions = {},
): Promise<SyncResult> {
  const diff = options.diff === true && ctx.state.txid > 0 &&
    ctx.state.pages.pageCount === ctx.state.commit;
  for (let attempt = 1;; attempt++) {
    await freshPin(ctx);
    const header = await walHeader(ctx);
    const fromView = options.fromView || (!header && (await ctx.db.walStat()).sizeBytes > 0);
    const source = fromView ? await viewSource(ctx) : await fileSource(ctx, header);
    let result: SyncResult | null;
    try {
      const trusted = ctx.state.txid > 0 && ctx.state.pages.pageCount === ctx.state.commit &&
        source.pageSize === ctx.state.pageSize;
      result = diff && source.pageSize === ctx.state.pageSize
        ? await stageChanges(ctx, source, reason)
        : options.scheduled && trusted
        ? await stageScheduled(ctx, source, reason, options)
        : await stageFull(ctx, source, reason, options);
    } catch (error) {
      // Checkpointed and truncated under us: the next attempt reads the files as they are.
      if (!(error instanceof WalVanishedError)) throw error;
      result = null;
    } finally {
      await source.close();
    }
    if (result) return result;
    // The WAL restarted under us: the copy may mix generations; take it again.
    if (attempt >= SNAPSHOT_ATTEMPTS) {
      throw new WalsyncError(
        `The WAL of "${ctx.path}" kept restarting during a snapshot; retrying later`,
      );
    }
  }
}

/** Every page, at level 0 and (past TXID 1) level 9. Null if the WAL restarted meanwhile. */
async function stageFull(
  ctx: ReplicationContext,
  source: PageSource,
  reason: string,
  options: SnapshotOptions,
): Promise<SyncResult | null> {
  const txid = ctx.state.txid + 1;
  ctx.log.info("snapshot", {
    txid,
    reason,
    ...(source.fromView ? { source: "a copy of SQLite's view" } : {}),
  });
  const createdAt = new Date();
  const { staged, pages } = await stageSnapshot(ctx.staging, {
    txid,
    pageSize: source.pageSize,
    pageCount: source.pageCount,
    header: source.header,
    scan: source.scan,
    createdAt,
    readPage: (pgno, buffer) => source.readPage(pgno, buffer),
    onProgress: options.onProgress,
  });
  if (await source.restarted()) {
    for (const file of staged) await ctx.staging.remove(file);
    return null;
  }
  return await recordSnapshot(ctx, source, staged, reason, {
    txid,
    pageSize: source.pageSize,
    commit: source.pageCount,
    wal: walCursor(source),
    pages,
    snapshot: freshHistory(txid, createdAt),
  });
}

/** The WAL position the pages reflect, or null for a copy or no WAL. */
function walCursor(source: PageSource): ReplicaState["wal"] {
  return source.header && source.scan ? cursorOf(source.header, source.scan) : null;
}

/** Snapshot history right after a snapshot at `txid`. */
function freshHistory(txid: number, createdAt: Date): ReplicaState["snapshot"] {
  return {
    txid,
    atMs: createdAt.getTime(),
    pagesSince: 0,
    firstChangeAtMs: null,
    lastChangeAtMs: null,
  };
}

/** Counts the staged files as pending and makes `state` (a snapshot's position) durable. */
async function recordSnapshot(
  ctx: ReplicationContext,
  source: PageSource,
  staged: StagedFile[],
  reason: string,
  state: ReplicaState,
): Promise<SyncResult> {
  for (const file of staged) countPending(ctx, file.sizeBytes);
  ctx.state = state;
  await saveState(ctx.staging.statePath, ctx.state);
  ctx.generationComplete = false;
  ctx.continuityUnknown = source.fromView;
  return { txid: state.txid, snapshot: reason };
}

/**
 * A scheduled snapshot: the changed pages as a level-0 batch (if any), then every page as
 * the level-9 snapshot at the resulting TXID. Null if the WAL restarted meanwhile.
 */
async function stageScheduled(
  ctx: ReplicationContext,
  source: PageSource,
  reason: string,
  options: SnapshotOptions,
): Promise<SyncResult | null> {
  const createdAt = new Date();
  let staged: StagedFile[] = [];
  try {
    const diff = await stageDiff(ctx.staging, {
      txid: ctx.state.txid + 1,
      pageSize: source.pageSize,
      pageCount: source.pageCount,
      header: source.header,
      scan: source.scan,
      checksums: ctx.state.pages,
      createdAt,
      readPage: (pgno, buffer) => source.readPage(pgno, buffer),
    });
    if (diff.staged) staged.push(diff.staged);
    const txid = diff.staged ? ctx.state.txid + 1 : ctx.state.txid;
    ctx.log.info("snapshot", { txid, reason, changedPages: diff.changed });
    const snapshot = await stageSnapshot(ctx.staging, {
      txid,
      levels: [SNAPSHOT_LEVEL],
      pageSize: source.pageSize,
      pageCount: source.pageCount,
      header: source.header,
      scan: source.scan,
      createdAt,
      readPage: (pgno, buffer) => source.readPage(pgno, buffer),
      onProgress: options.onProgress,
    });
    staged = [...staged, ...snapshot.staged];
    if (snapshot.pages.value !== ctx.state.pages.value) {
      throw new WalsyncError(
        `The snapshot of "${ctx.path}" read different pages than its diff; retrying later`,
      );
    }
    if (await source.restarted()) {
      for (const file of staged) await ctx.staging.remove(file);
      await reloadState(ctx);
      return null;
    }
    return await recordSnapshot(ctx, source, staged, reason, {
      ...ctx.state,
      txid,
      commit: source.pageCount,
      wal: walCursor(source),
      snapshot: freshHistory(txid, createdAt),
    });
  } catch (error) {
    for (const file of staged) await ctx.staging.remove(file).catch(() => {});
    await reloadState(ctx);
    throw error;
  }
}

/**
 * The pages whose CRC differs from the table, as a level-0 batch (none changed: no TXID, the
 * position just moves to the current WAL). Null if the WAL restarted meanwhile.
 */
async function stageChanges(
  ctx: ReplicationContext,
  source: PageSource,
  reason: string,
): Promise<SyncResult | null> {
  const txid = ctx.state.txid + 1;
  const createdAt = new Date();
  const pages = ctx.state.pages;
  let staged: StagedFile | null;
  let changed: number;
  try {
    ({ staged, changed } = await stageDiff(ctx.staging, {
      txid,
      pageSize: source.pageSize,
      pageCount: source.pageCount,
      header: source.header,
      scan: source.scan,
      checksums: pages,
      createdAt,
      readPage: (pgno, buffer) => source.readPage(pgno, buffer),
    }));
  } catch (error) {
    await reloadState(ctx);
    throw error;
  }
  if (await source.restarted()) {
    if (staged) await ctx.staging.remove(staged);
    await reloadState(ctx);
    return null;
  }
  const wal = source.header && source.scan ? cursorOf(source.header, source.scan) : null;
  if (!staged) {
    ctx.log.info("nothing changed across the discontinuity", { txid: ctx.state.txid, reason });
    ctx.state = { ...ctx.state, wal };
    await saveState(ctx.staging.statePath, ctx.state);
    ctx.generationComplete = false;
    ctx.continuityUnknown = source.fromView;
    return { txid: null };
  }
  ctx.log.info("diff snapshot", { txid, reason, pages: changed, of: source.pageCount });
  countPending(ctx, staged.sizeBytes);
  const history = ctx.state.snapshot;
  ctx.state = {
    ...ctx.state,
    txid,
    commit: source.pageCount,
    wal,
    snapshot: history && {
      ...history,
      pagesSince: history.pagesSince + changed,
      firstChangeAtMs: history.firstChangeAtMs ?? createdAt.getTime(),
      lastChangeAtMs: createdAt.getTime(),
    },
  };
  await saveState(ctx.staging.statePath, ctx.state);
  ctx.generationComplete = false;
  ctx.continuityUnknown = source.fromView;
  return { txid, snapshot: reason };
}

/** The database file overlaid with the newest committed WAL frame of each page. */
async function fileSource(ctx: ReplicationContext, header: WalHeader | null): Promise<PageSource> {
  const scan = header
    ? await WAL_READ_BUFFERS.with((buffer) => scanWal(new WalReader(ctx.db, header, { buffer })))
    : null;
  // Without WAL frames the pinned read (begun for this snapshot) gives the database size.
  const pageCount = scan && scan.commit.frameCount > 0 ? scan.commit.pageCount : ctx.db.pageCount();
  if (pageCount === 0) {
    throw new WalsyncError(`Database "${ctx.path}" is empty (0 pages); nothing to snapshot`);
  }
  return {
    pageSize: ctx.db.pageSize,
    pageCount,
    header,
    scan,
    fromView: false,
    readPage: async (pgno, buffer) => {
      const offset = scan?.pages.get(pgno);
      if (offset !== undefined) return await readWalPage(ctx, offset, buffer);
      if (ctx.db.readPage(pgno, buffer) !== buffer.length) {
        throw new WalsyncError(`Database "${ctx.path}" is shorter than page ${pgno}`);
      }
    },
    restarted: async () => header !== null && !(await sameWalGeneration(ctx, header)),
    close: () => Promise.resolve(),
  };
}

/**
 * SQLite's own copy of the pinned view (begun for this snapshot). The copy needs disk space
 * for one database beside the staging area while it is read.
 */
async function viewSource(ctx: ReplicationContext): Promise<PageSource> {
  const copy = `${ctx.staging.dir}/${VIEW_COPY}`;
  await removeCopy(copy);
  let file: Deno.FsFile | null = null;
  try {
    await ctx.db.backupTo(copy);
    file = Deno.openSync(copy, { read: true });
    const head = new Uint8Array(HEADER_PAGE_SIZE_OFFSET + 2);
    readFullySync(file, head, 0);
    const field = (head[HEADER_PAGE_SIZE_OFFSET] << 8) | head[HEADER_PAGE_SIZE_OFFSET + 1];
    const pageSize = field === 1 ? 65536 : field;
    const pageCount = pageSize >= 512 ? Math.floor(file.statSync().size / pageSize) : 0;
    if (pageCount === 0) {
      throw new WalsyncError(`SQLite's copy of "${ctx.path}" is empty; nothing to snapshot`);
    }
    const opened = file;
    return {
      pageSize,
      pageCount,
      header: null,
      scan: null,
      fromView: true,
      readPage: (pgno, buffer) => {
        if (readFullySync(opened, buffer, (pgno - 1) * pageSize) !== buffer.length) {
          throw new WalsyncError(`SQLite's copy of "${ctx.path}" is shorter than page ${pgno}`);
        }
        return Promise.resolve();
      },
      restarted: () => Promise.resolve(false),
      close: async () => {
        opened.close();
        await removeCopy(copy);
      },
    };
  } catch (error) {
    file?.close();
    await removeCopy(copy);
    throw error;
  }
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
