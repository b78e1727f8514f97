/**
 * Replicates one database: copies every committed transaction from its WAL into a level-0
 * LTX file with the next TXID, takes a full snapshot whenever continuity cannot be proven,
 * runs walsync's own checkpoint policy, and uploads what it staged.
 *
 * Continuity rests on three facts:
 * - walsync's connection pins a read transaction, so no other connection can restart the WAL
 *   past frames walsync has not copied (a restart needs every reader off the WAL);
 * - walsync re-pins only inside its own checkpoint, while a second connection holds the write
 *   lock, after copying everything: a WAL restart that follows is then explained;
 * - anything else that changes the WAL generation (or a restart of walsync itself while the
 *   WAL moved on) is unexplained and answered with a snapshot, never with a silent gap.
 */
import { Database, isBusyError } from "../db/database.ts";
import { copyFileModeOf } from "../durable.ts";
import { FormatError, WalsyncError } from "../errors.ts";
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { WAL_HEADER_SIZE, type WalHeader } from "../wal/wal_header.ts";
import { readWalHeader, scanWal, WalReader, type WalScan } from "../wal/wal_reader.ts";
import { PageChecksums } from "./page_checksums.ts";
import { stageBatch } from "./batch_writer.ts";
import { type SnapshotOptions, stageSnapshot } from "./snapshot_writer.ts";
import {
  cursorOf,
  loadState,
  type ReplicaState,
  sameGeneration,
  saveState,
  type SnapshotHistory,
  StateError,
  type WalCursor,
} from "./replica_state.ts";
import { defaultStagingDir, Staging } from "./staging.ts";

/** Checkpoint (PASSIVE) once the WAL holds this many frames. */
export const DEFAULT_CHECKPOINT_PAGES = 1000;
/** Above this many frames, also try TRUNCATE to give the disk space back. */
export const DEFAULT_TRUNCATE_PAGES = 121_359;
/** Checkpoint a WAL that has not changed for this long. */
export const DEFAULT_IDLE_CHECKPOINT_MS = 60_000;
/**
 * Stop staging new batches once this many bytes wait for upload (an outage): the pinned
 * reader keeps the frames in the WAL meanwhile, and they ship as one TXID when uploads resume.
 */
export const DEFAULT_MAX_STAGING_BYTES = 1024 ** 3;
/** Tries at a snapshot while the WAL keeps restarting under it. */
const SNAPSHOT_ATTEMPTS = 3;
/** Even when the WAL looks unchanged, look inside it this often (mtime can be coarse). */
export const DEFAULT_FULL_CHECK_MS = 10_000;
/** How long opening a database rides out "database is locked" before giving up. */
export const DEFAULT_OPEN_TIMEOUT_MS = 30_000;
const PIN_RETRIES = 50;
const PIN_RETRY_DELAY_MS = 10;

export interface ReplicatorOptions {
  /** The database's name in the replica (e.g. "app.db"). */
  name: string;
  client: ReplicaClient;
  stagingDir?: string;
  checkpointPages?: number;
  truncatePages?: number;
  idleCheckpointMs?: number;
  maxStagingBytes?: number;
  logger?: Logger;
  /**
   * This process answers `walsync snapshot` requests for the database (on SIGUSR1, see
   * snapshot_request.ts); recorded in the staging lock file for the requester to see.
   */
  servesSnapshotRequests?: boolean;
}

export interface SyncResult {
  /** TXID staged by this call, or null if nothing changed. */
  txid: number | null;
  snapshot?: string;
  /** True when staging is full and capture waits for uploads. */
  deferred?: boolean;
}

export class Replicator {
  readonly path: string;
  readonly name: string;
  readonly client: ReplicaClient;
  #db: Database;
  #staging: Staging;
  #log: Logger;
  #state!: ReplicaState;
  /** Page → offset of its newest frame, for the current WAL generation up to `state.wal`. */
  #walPages = new Map<number, number>();
  /** Our checkpoint copied and backfilled the whole generation at `state.wal` and re-pinned. */
  #generationComplete = false;
  #lastFingerprint: string | null = null;
  /**
   * The WAL fingerprint when the pin was taken, until the pin has been moved to a read mark
   * past new frames (see `Database.repin`); null once moved.
   */
  #pinFingerprint: string | null = null;
  #lastCheckAt = 0;
  #lastChangeAt = Date.now();
  #checkpointPages: number;
  #truncatePages: number;
  #idleCheckpointMs: number;
  #uploadedTxid = 0;
  /** Staged files not yet uploaded (so idle databases cost no directory listing). */
  #pendingCount = 0;
  #pendingBytes = 0;
  #maxStagingBytes: number;
  #stagingFullWarned = false;
  #closed = false;
  #openedAtMs = Date.now();

  private constructor(path: string, db: Database, staging: Staging, options: ReplicatorOptions) {
    this.path = path;
    this.name = options.name;
    this.client = options.client;
    this.#db = db;
    this.#staging = staging;
    this.#log = (options.logger ?? silentLogger).with({ db: options.name });
    this.#checkpointPages = options.checkpointPages ?? DEFAULT_CHECKPOINT_PAGES;
    this.#truncatePages = options.truncatePages ?? DEFAULT_TRUNCATE_PAGES;
    this.#idleCheckpointMs = options.idleCheckpointMs ?? DEFAULT_IDLE_CHECKPOINT_MS;
    this.#maxStagingBytes = options.maxStagingBytes ?? DEFAULT_MAX_STAGING_BYTES;
  }

  /** Opens the database and its staging area and works out where replication stands. */
  static async open(path: string, options: ReplicatorOptions): Promise<Replicator> {
    const staging = await Staging.open(options.stagingDir ?? defaultStagingDir(path), path, {
      servesSnapshotRequests: options.servesSnapshotRequests,
      // Copies are no more readable than the database (a stat by path, never an open).
      fileMode: copyFileModeOf(path),
    });
    let db: Database;
    try {
      db = await openWithRetry(path);
    } catch (error) {
      staging.close();
      throw error;
    }
    const replicator = new Replicator(path, db, staging, options);
    try {
      await replicator.#pin();
      await replicator.#reconcile();
    } catch (error) {
      replicator.#release();
      throw error;
    }
    return replicator;
  }

  /** The last TXID staged. */
  get txid(): number {
    return this.#state.txid;
  }

  /** The highest TXID known to be in the replica. */
  get uploadedTxid(): number {
    return this.#uploadedTxid;
  }

  /**
   * The last full snapshot and what was staged since (for the snapshot policy). State saved
   * by an older walsync has none: it counts as a snapshot at the current TXID, taken when the
   * replicator opened, so an upgrade never triggers a burst of snapshots.
   */
  get snapshotHistory(): SnapshotHistory {
    return this.#state.snapshot ?? {
      txid: this.#state.txid,
      atMs: this.#openedAtMs,
      pagesSince: 0,
      firstChangeAtMs: null,
      lastChangeAtMs: null,
    };
  }

  /** The rolling database checksum at `txid`. */
  get databaseChecksum(): bigint {
    return this.#state.pages.value;
  }

  /** True if staged files wait for upload. */
  get hasPending(): boolean {
    return this.#pendingCount > 0;
  }

  /** Bytes staged and not yet uploaded (reported in logs, bounded by `maxStagingBytes`). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** True while capture waits for uploads to make room in staging. */
  get stagingFull(): boolean {
    return this.#pendingBytes >= this.#maxStagingBytes;
  }

  get stagingDir(): string {
    return this.#staging.dir;
  }

  /**
   * Copies newly committed transactions into one staged LTX file. Cheap when nothing
   * changed: one stat of the `-wal` file.
   */
  async sync(options: { force?: boolean } = {}): Promise<SyncResult> {
    this.#assertOpen();
    if (this.stagingFull) {
      if (!this.#stagingFullWarned) {
        this.#log.warn("staging is full; capture waits for uploads (the WAL keeps every frame)", {
          pendingBytes: this.#pendingBytes,
          maxStagingBytes: this.#maxStagingBytes,
        });
        this.#stagingFullWarned = true;
      }
      return { txid: null, deferred: true };
    }
    this.#stagingFullWarned = false;
    const fingerprint = await this.#db.walFingerprint();
    this.#movePinIfWritten(fingerprint);
    const now = Date.now();
    const unchanged = fingerprint === this.#lastFingerprint;
    if (unchanged && !options.force && now - this.#lastCheckAt < DEFAULT_FULL_CHECK_MS) {
      return { txid: null };
    }
    this.#lastFingerprint = fingerprint;
    this.#lastCheckAt = now;
    if (!unchanged) this.#lastChangeAt = now;
    try {
      return await this.#sync();
    } catch (error) {
      // The in-memory state may be ahead of what was saved: start again from disk next time.
      this.#lastFingerprint = null;
      await this.#reloadState();
      throw error;
    }
  }

  /**
   * True while the pin may sit in read slot 0 (taken on a fully checkpointed WAL): the
   * supervisor then calls `movePin` as soon as the WAL changes, not only at the next sync.
   */
  get pinMayBeIdle(): boolean {
    return this.#pinFingerprint !== null;
  }

  /** Moves the pin past frames the application wrote since it was taken (cheap otherwise). */
  async movePin(): Promise<void> {
    if (this.#closed || this.#pinFingerprint === null) return;
    this.#movePinIfWritten(await this.#db.walFingerprint());
  }

  #movePinIfWritten(fingerprint: string): void {
    if (this.#pinFingerprint === null || fingerprint === this.#pinFingerprint) return;
    // The application wrote since we pinned: a read begun now takes a real read mark.
    if (this.#db.repin()) {
      this.#pinFingerprint = null;
      this.#log.debug("pin moved past the new frames");
    }
  }

  async #sync(): Promise<SyncResult> {
    const state = this.#state;
    const header = await this.#walHeader();
    if (!header) {
      // No valid WAL: nothing to copy, unless frames we had not finished with vanished.
      if (state.wal && !this.#generationComplete && !this.#generationEmpty()) {
        return await this.snapshot("WAL was truncated or deleted by another process");
      }
      return { txid: null };
    }
    let from: WalCursor | null = null;
    if (state.wal && sameGeneration(header, state.wal)) {
      from = state.wal;
    } else if (state.wal === null || this.#generationComplete || this.#generationEmpty()) {
      this.#walPages.clear();
    } else {
      return await this.snapshot(
        `WAL restarted by another connection (salt ${hex(state.wal.salt1)} → ${hex(header.salt1)})`,
      );
    }
    const reader = new WalReader(this.#db, header, {
      from: from
        ? { offset: from.offset, checksum1: from.checksum1, checksum2: from.checksum2 }
        : undefined,
    });
    const scan = await scanWal(reader);
    if (scan.commit.frameCount === 0) {
      if (!from) this.#state = { ...state, wal: cursorOf(header, scan) };
      return { txid: null };
    }
    const txid = state.txid + 1;
    const pageCount = scan.commit.pageCount;
    const pages = [...scan.pages.keys()].filter((pgno) => pgno <= pageCount).sort((a, b) => a - b);
    const createdAt = new Date();
    // The checksum table is updated as pages are encoded; a failure reloads it from disk.
    state.pages.truncate(pageCount);
    const staged = await stageBatch(this.#staging, {
      txid,
      header,
      scan,
      fromOffset: from?.offset ?? WAL_HEADER_SIZE,
      pgnos: pages,
      checksums: state.pages,
      createdAt,
      readWalPage: (offset, buffer) => this.#readWalPage(offset, buffer),
    });
    if (!(await this.#sameWalGeneration(header))) {
      // Page bytes are read after the scan validated their frames. A reader pinned on a fully
      // checkpointed WAL (SQLite's read slot 0) does not stop a restart, so those bytes may
      // belong to the next generation: a restart always rewrites the header first.
      await this.#staging.remove(staged);
      await this.#reloadState();
      return await this.snapshot("the WAL restarted while walsync was reading it");
    }
    this.#pendingCount++;
    this.#pendingBytes += staged.sizeBytes;
    for (const [pgno, offset] of scan.pages) this.#walPages.set(pgno, offset);
    const history = this.snapshotHistory;
    this.#state = {
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
    await saveState(this.#staging.statePath, this.#state);
    this.#generationComplete = false;
    this.#log.debug("staged", { txid, pages: pages.length, sizeBytes: staged.sizeBytes });
    return { txid };
  }

  /**
   * Stages a full copy of the database as the next TXID: at level 0 (so the TXID sequence
   * has no gap) and, past TXID 1, also as a level-9 snapshot (so restores start from it).
   * Pages come from the database file overlaid with the newest committed WAL frame of each
   * page; the pinned read transaction keeps every page that matters from changing.
   */
  async snapshot(reason: string, options: SnapshotOptions = {}): Promise<SyncResult> {
    this.#assertOpen();
    for (let attempt = 1;; attempt++) {
      const result = await this.#snapshotOnce(reason, options);
      if (result) return result;
      // The WAL restarted under us (see #sync): the copy may mix generations; take it again.
      if (attempt >= SNAPSHOT_ATTEMPTS) {
        throw new WalsyncError(
          `The WAL of "${this.path}" kept restarting during a snapshot; retrying later`,
        );
      }
    }
  }

  async #snapshotOnce(reason: string, options: SnapshotOptions): Promise<SyncResult | null> {
    const txid = this.#state.txid + 1;
    this.#log.info("snapshot", { txid, reason });
    const header = await this.#walHeader();
    const scan = header ? await scanWal(new WalReader(this.#db, header)) : null;
    const pageCount = scan && scan.commit.frameCount > 0
      ? scan.commit.pageCount
      : this.#db.pageCount();
    if (pageCount === 0) {
      throw new WalsyncError(`Database "${this.path}" is empty (0 pages); nothing to snapshot`);
    }
    const pageSize = this.#db.pageSize;
    const createdAt = new Date();
    const { staged, pages } = await stageSnapshot(this.#staging, {
      txid,
      pageSize,
      pageCount,
      header,
      scan,
      createdAt,
      readPage: (pgno, buffer) => this.#readCurrentPage(pgno, scan, buffer),
      onProgress: options.onProgress,
    });
    if (header && !(await this.#sameWalGeneration(header))) {
      for (const file of staged) await this.#staging.remove(file);
      return null;
    }
    this.#pendingCount += staged.length;
    this.#pendingBytes += staged.reduce((n, f) => n + f.sizeBytes, 0);
    this.#walPages = scan ? new Map(scan.pages) : new Map();
    this.#state = {
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
    await saveState(this.#staging.statePath, this.#state);
    this.#generationComplete = false;
    this.#lastFingerprint = null;
    return { txid, snapshot: reason };
  }

  /**
   * walsync's checkpoint: with a second connection holding the write lock, copy everything,
   * checkpoint, re-pin, release. Because nothing can be appended in between, a WAL restart
   * that follows is known to continue exactly where we stopped. Returns false when the write
   * lock was busy (try again later).
   */
  async checkpoint(options: { truncate?: boolean } = {}): Promise<boolean> {
    this.#assertOpen();
    const lock = this.#db.tryWriteLock();
    if (!lock) return false;
    let complete = false;
    try {
      await this.sync({ force: true });
      this.#db.unpin();
      try {
        const result = this.#db.checkpoint("PASSIVE");
        const frames = this.#state.wal
          ? framesBefore(this.#state.wal.offset, this.#state.pageSize)
          : 0;
        complete = !result.busy && result.walFrames === result.checkpointedFrames &&
          result.walFrames === frames;
        this.#log.debug("checkpoint", { ...result, complete });
      } finally {
        await this.#pin();
      }
    } finally {
      lock.release();
    }
    this.#generationComplete = complete && this.#state.wal !== null;
    if (options.truncate && complete) await this.#truncate();
    return true;
  }

  /**
   * TRUNCATE cannot run under our write lock, so a commit could slip in between; the database
   * file is then compared with our checksum, and any difference is answered with a snapshot.
   */
  async #truncate(): Promise<void> {
    this.#db.unpin();
    let truncated = false;
    try {
      truncated = !this.#db.checkpoint("TRUNCATE").busy;
    } finally {
      await this.#pin();
    }
    if (!truncated) return;
    this.#log.info("WAL truncated");
    if (this.#databaseFileMatchesState()) {
      this.#walPages.clear();
      this.#state = { ...this.#state, wal: null };
      await saveState(this.#staging.statePath, this.#state);
      this.#generationComplete = false;
    } else {
      await this.snapshot("a commit raced walsync's TRUNCATE checkpoint");
    }
  }

  /** Runs the checkpoint policy: size thresholds, or an idle WAL. */
  async maybeCheckpoint(): Promise<boolean> {
    const wal = this.#state.wal;
    // With staging full, frames wait in the WAL: checkpointing now would only invite a snapshot.
    if (!wal || this.#generationComplete || this.stagingFull) return false;
    const frames = framesBefore(wal.offset, this.#state.pageSize);
    if (frames === 0) return false;
    const idle = Date.now() - this.#lastChangeAt >= this.#idleCheckpointMs;
    if (frames < this.#checkpointPages && !idle) return false;
    return await this.checkpoint({ truncate: frames >= this.#truncatePages });
  }

  /** Uploads staged files in TXID order; stops at the first failure (retried next time). */
  async upload(signal?: AbortSignal): Promise<number> {
    this.#assertOpen();
    let uploaded = 0;
    const files = await this.#staging.list();
    this.#pendingCount = files.length;
    this.#pendingBytes = files.reduce((n, f) => n + f.sizeBytes, 0);
    for (const file of files) {
      signal?.throwIfAborted();
      const body = (await Deno.open(file.path, { read: true })).readable;
      try {
        await this.client.writeFile(this.name, file, body, {
          sha256: file.sha256,
          databaseChecksum: file.databaseChecksum,
          createdAt: file.createdAt,
          sizeBytes: file.sizeBytes,
          fileMode: this.#staging.fileMode,
        }, signal);
      } catch (error) {
        await body.cancel().catch(() => {});
        throw error;
      }
      await this.#staging.remove(file);
      this.#pendingCount--;
      this.#pendingBytes -= file.sizeBytes;
      this.#uploadedTxid = Math.max(this.#uploadedTxid, file.maxTxid);
      uploaded++;
      this.#log.debug("uploaded", {
        ltxLevel: file.level,
        minTxid: file.minTxid,
        maxTxid: file.maxTxid,
      });
    }
    return uploaded;
  }

  /** Final sync and upload, then releases the database and the staging lock. */
  async close(options: { upload?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closed) return;
    try {
      await this.sync({ force: true });
      if (options.upload ?? true) await this.upload(options.signal);
    } finally {
      this.#release();
    }
  }

  #release(): void {
    this.#closed = true;
    this.#db.close();
    this.#staging.close();
  }

  /** Loads the saved state and proves continuity with the database, or snapshots. */
  async #reconcile(): Promise<void> {
    let state: ReplicaState | null = null;
    try {
      state = await loadState(this.#staging.statePath);
    } catch (error) {
      if (!(error instanceof StateError)) throw error;
      this.#log.warn("replication state unreadable; taking a snapshot", { error });
    }
    let pending = await this.#staging.list();
    if (state) {
      for (const file of pending) {
        if (file.maxTxid > state.txid) await this.#staging.remove(file); // never acknowledged
      }
      pending = pending.filter((f) => f.maxTxid <= state!.txid);
    }
    // The replica is the truth about which TXIDs exist: another writer (Litestream, or walsync
    // elsewhere) may have continued it, or files may have gone. One listing at start-up.
    const replicated = await this.#replicaMaxTxid();
    let reason: string | null = null;
    if (!state) {
      reason = replicated ? "no local state; continuing the replica's TXIDs" : "first sync";
    } else if (state.pageSize !== this.#db.pageSize) {
      reason = "page size changed";
    } else if (replicated > state.txid) {
      reason = `another writer continued the replica to TXID ${replicated}`;
      // Our unsent files would overwrite that writer's TXIDs: the snapshot supersedes them.
      for (const file of pending) await this.#staging.remove(file);
      pending = [];
    } else if (
      pending.length === 0 ? replicated < state.txid : replicated < pending[0].minTxid - 1
    ) {
      reason =
        `the replica lost files (it ends at TXID ${replicated}, walsync uploaded up to ${state.txid})`;
    }
    this.#pendingCount = pending.length;
    this.#pendingBytes = pending.reduce((n, f) => n + f.sizeBytes, 0);
    if (reason || !state) {
      const staged = pending.reduce((max, f) => Math.max(max, f.maxTxid), 0);
      this.#state = {
        txid: Math.max(replicated, staged, state?.txid ?? 0),
        pageSize: this.#db.pageSize,
        commit: 0,
        wal: null,
        pages: new PageChecksums(this.#db.pageSize),
      };
      this.#uploadedTxid = replicated;
      await this.snapshot(reason ?? "first sync");
      return;
    }
    this.#state = state;
    this.#uploadedTxid = pending.length > 0 ? pending[0].minTxid - 1 : state.txid;
    const header = await this.#walHeader();
    if (!header) {
      if (this.#databaseFileMatchesState()) {
        this.#state = { ...state, wal: null };
        return;
      }
      await this.snapshot("database changed while walsync was not running");
      return;
    }
    if (
      state.wal && sameGeneration(header, state.wal) &&
      (await this.#resumeGeneration(header, state.wal))
    ) {
      return;
    }
    await this.snapshot("WAL moved on while walsync was not running");
  }

  /**
   * Re-reads the current generation up to the saved cursor, rebuilding the page map, and
   * checks that the checksum chain there is the one saved: the frames are the ones we copied.
   */
  async #resumeGeneration(header: WalHeader, cursor: WalCursor): Promise<boolean> {
    const pages = new Map<number, number>();
    const reader = new WalReader(this.#db, header);
    let frame;
    while (reader.position.offset < cursor.offset && (frame = await reader.nextFrame())) {
      pages.set(frame.header.pgno, frame.offset);
    }
    const at = reader.position;
    if (
      at.offset !== cursor.offset || at.checksum1 !== cursor.checksum1 ||
      at.checksum2 !== cursor.checksum2
    ) {
      return false;
    }
    this.#walPages = pages;
    return true;
  }

  /** Reads the database file whole and compares it with the saved checksum and size. */
  #databaseFileMatchesState(): boolean {
    const pageSize = this.#db.pageSize;
    const pageCount = Math.floor(this.#db.fileSize() / pageSize);
    if (pageCount !== this.#state.commit) return false;
    const pages = new PageChecksums(pageSize);
    const buffer = new Uint8Array(pageSize);
    for (let pgno = 1; pgno <= pageCount; pgno++) {
      this.#db.readPage(pgno, buffer);
      pages.set(pgno, buffer);
    }
    return pages.value === this.#state.pages.value;
  }

  async #replicaMaxTxid(): Promise<number> {
    if (this.client.maxTxid) return await this.client.maxTxid(this.name);
    let max = 0;
    for (const level of [0, 1, 2, 3, 4, 5, 6, 7, 8, SNAPSHOT_LEVEL]) {
      for (const file of await this.client.listFiles(this.name, level)) {
        max = Math.max(max, file.maxTxid);
      }
    }
    return max;
  }

  async #reloadState(): Promise<void> {
    try {
      const state = await loadState(this.#staging.statePath);
      if (state) this.#state = state;
    } catch (error) {
      this.#log.error("replication state unreadable after a failure", { error });
    }
  }

  /** The WAL header if the file has a valid one, else null (SQLite treats that as empty). */
  async #walHeader(): Promise<WalHeader | null> {
    try {
      return await readWalHeader(this.#db);
    } catch (error) {
      if (error instanceof FormatError) return null;
      throw error;
    }
  }

  /** True if the WAL still carries `header`'s generation (its salts and checkpoint sequence). */
  async #sameWalGeneration(header: WalHeader): Promise<boolean> {
    const now = await this.#walHeader();
    return now !== null && now.salt1 === header.salt1 && now.salt2 === header.salt2 &&
      now.checkpointSeq === header.checkpointSeq;
  }

  #generationEmpty(): boolean {
    return !this.#state.wal || this.#state.wal.offset <= WAL_HEADER_SIZE;
  }

  async #readWalPage(frameOffset: number, buffer: Uint8Array): Promise<void> {
    const n = await this.#db.readAt(buffer, frameOffset + 24);
    if (n !== buffer.length) {
      throw new WalsyncError(`WAL of "${this.path}" ended inside the frame at ${frameOffset}`);
    }
  }

  async #readCurrentPage(pgno: number, scan: WalScan | null, buffer: Uint8Array): Promise<void> {
    const offset = scan?.pages.get(pgno);
    if (offset !== undefined) return await this.#readWalPage(offset, buffer);
    const n = this.#db.readPage(pgno, buffer);
    if (n !== buffer.length) {
      throw new WalsyncError(`Database "${this.path}" is shorter than page ${pgno}`);
    }
  }

  async #pin(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        this.#db.pin();
        this.#pinFingerprint = await this.#db.walFingerprint();
        return;
      } catch (error) {
        if (!isBusyError(error) || attempt >= PIN_RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, PIN_RETRY_DELAY_MS));
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new WalsyncError(`Replicator for "${this.path}" is closed`);
  }
}

/** Opens the database, waiting (without blocking other databases) while it is locked. */
async function openWithRetry(path: string): Promise<Database> {
  const deadline = Date.now() + DEFAULT_OPEN_TIMEOUT_MS;
  for (let delay = 10;; delay = Math.min(delay * 2, 500)) {
    try {
      return Database.open(path);
    } catch (error) {
      if (!isBusyError(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function framesBefore(offset: number, pageSize: number): number {
  return Math.max(0, (offset - WAL_HEADER_SIZE) / (24 + pageSize));
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
