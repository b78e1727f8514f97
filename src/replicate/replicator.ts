/**
 * Replicates one database: copies every committed transaction from its WAL into a level-0
 * LTX file with the next TXID, takes a full snapshot whenever continuity cannot be proven,
 * runs walsync's own checkpoint policy, and uploads what it staged. The jobs live beside
 * it: capture (`capture.ts`), snapshots (`snapshot.ts`), checkpoints (`checkpoint.ts`) and
 * the start-up proof of continuity (`reconcile.ts`).
 *
 * Continuity rests on three facts:
 * - walsync's connection pins a read transaction, so no other connection can restart the WAL
 *   past frames walsync has not copied (a restart needs every reader off the WAL);
 * - walsync re-pins only inside its own checkpoint, while a second connection holds the write
 *   lock, after copying everything: a WAL restart that follows is then explained;
 * - anything else that changes the WAL generation (or a restart of walsync itself while the
 *   WAL moved on) is unexplained and answered with a snapshot, never with a silent gap.
 *
 * The database is the file its path named at open. Before each look inside the WAL the path
 * is checked: a file replaced under it (a restore renamed over it, a symlink pointed
 * elsewhere) or deleted ends this replicator with `DatabaseReplacedError`, after copying what
 * the old file's WAL still holds; the supervisor opens the new file, which is snapshotted.
 */
import { Database, type FileIdentity, isBusyError, type PathState } from "../db/database.ts";
import { copyFileModeOf } from "../durable.ts";
import { WalsyncError } from "../errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import { captureBatch, snapshotHistoryOf, type UnreadableWal } from "./capture.ts";
import {
  checkpoint,
  DEFAULT_CHECKPOINT_PAGES,
  DEFAULT_IDLE_CHECKPOINT_MS,
  DEFAULT_TRUNCATE_PAGES,
  maybeCheckpoint,
} from "./checkpoint.ts";
import { pin, reloadState, type ReplicationContext, type SyncResult } from "./context.ts";
import { PageChecksums } from "./page_checksums.ts";
import { reconcile } from "./reconcile.ts";
import type { SnapshotHistory } from "./replica_state.ts";
import { removeCopy, takeSnapshot, type TakeSnapshotOptions, viewCopyPath } from "./snapshot.ts";
import { type ReleaseStamp, stampOf } from "./release_stamp.ts";
import { defaultStagingDir, Staging } from "./staging.ts";
import { type ReplicaProgress, reseedReplica, uploadStaged } from "./upload.ts";

/**
 * Stop staging new batches once this many bytes wait for upload (an outage): the pinned
 * reader keeps the frames in the WAL meanwhile, and they ship as one TXID when uploads resume.
 */
export const DEFAULT_MAX_STAGING_BYTES = 1024 ** 3;
/** Even when the WAL looks unchanged, look inside it this often (mtime can be coarse). */
export const DEFAULT_FULL_CHECK_MS = 10_000;
/** How long opening a database rides out "database is locked" before giving up. */
export const DEFAULT_OPEN_TIMEOUT_MS = 30_000;

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
  /**
   * The path as the user named it, when it differs from the opened file's (a symlink): it is
   * the one checked for a replaced file, so re-pointing the link is noticed too.
   */
  watchedPath?: string;
  /** Do not list the replica at open (it seems unreachable); compare before the first upload. */
  deferReplicaCheck?: boolean;
  /** The replica's last TXID when this process knows it (opening a replaced file again). */
  replicaTxid?: number;
  /** Why the database is opened again (its file was replaced), for the snapshot's reason. */
  reopenedBecause?: string;
  /** Told of every file stored in the replica (compaction keeps its index with it). */
  onUploaded?: (info: LtxFileInfo, fileMode?: number) => void;
}

/** The database's path names another file now, or none: this replicator has let go of it. */
export class DatabaseReplacedError extends WalsyncError {
  readonly change: Exclude<PathState, "same">;

  constructor(message: string, change: Exclude<PathState, "same">) {
    super(message);
    this.change = change;
  }
}

export class Replicator {
  readonly path: string;
  readonly name: string;
  readonly client: ReplicaClient;
  #ctx: ReplicationContext;
  #watchedPath: string;
  #lastFingerprint: string | null = null;
  #lastCheckAt = 0;
  #lastChangeAt = Date.now();
  #checkpointPages: number;
  #truncatePages: number;
  #idleCheckpointMs: number;
  #maxStagingBytes: number;
  #replica: ReplicaProgress = { uploadedTxid: 0, checked: true, reseed: null };
  #unreadable: { current: UnreadableWal | null } = { current: null };
  #stagingFullWarned = false;
  #closed = false;
  #walSizeBytes = 0;

  private constructor(ctx: ReplicationContext, options: ReplicatorOptions) {
    this.path = ctx.path;
    this.name = options.name;
    this.client = options.client;
    this.#ctx = ctx;
    this.#watchedPath = options.watchedPath ?? ctx.path;
    this.#checkpointPages = options.checkpointPages ?? DEFAULT_CHECKPOINT_PAGES;
    this.#truncatePages = options.truncatePages ?? DEFAULT_TRUNCATE_PAGES;
    this.#idleCheckpointMs = options.idleCheckpointMs ?? DEFAULT_IDLE_CHECKPOINT_MS;
    this.#maxStagingBytes = options.maxStagingBytes ?? DEFAULT_MAX_STAGING_BYTES;
  }

  /** Opens the database and its staging area and works out where replication stands. */
  static async open(path: string, options: ReplicatorOptions): Promise<Replicator> {
    // The database first: a file that is not one never gets a staging directory.
    const db = await openWithRetry(path);
    let staging: Staging;
    try {
      staging = await Staging.open(options.stagingDir ?? defaultStagingDir(path), path, {
        servesSnapshotRequests: options.servesSnapshotRequests,
        // Copies are no more readable than the database (a stat by path, never an open).
        fileMode: copyFileModeOf(path),
      });
    } catch (error) {
      db.close();
      throw error;
    }
    const ctx: ReplicationContext = {
      path,
      name: options.name,
      client: options.client,
      staging,
      log: (options.logger ?? silentLogger).with({ db: options.name }),
      db,
      openedAtMs: Date.now(),
      state: {
        txid: 0,
        pageSize: db.pageSize,
        commit: 0,
        wal: null,
        pages: new PageChecksums(db.pageSize),
      },
      generationComplete: false,
      pinFingerprint: null,
      continuityUnknown: false,
      pending: { count: 0, bytes: 0 },
      onUploaded: options.onUploaded,
    };
    const replicator = new Replicator(ctx, options);
    try {
      await removeCopy(viewCopyPath(staging.dir)); // a crash may have left one
      await pin(ctx);
      const result = await reconcile(ctx, options);
      replicator.#replica.checked = result.replicaChecked;
      replicator.#replica.uploadedTxid = result.uploadedTxid;
      db.closeWal();
    } catch (error) {
      replicator.#release();
      throw error;
    }
    return replicator;
  }

  /** The last TXID staged. */
  get txid(): number {
    return this.#ctx.state.txid;
  }

  /** The highest TXID known to be in the replica. */
  get uploadedTxid(): number {
    return this.#replica.uploadedTxid;
  }

  /** The last full snapshot and what was staged since (for the snapshot policy). */
  get snapshotHistory(): SnapshotHistory {
    return snapshotHistoryOf(this.#ctx);
  }

  /** The rolling database checksum at `txid`. */
  get databaseChecksum(): bigint {
    return this.#ctx.state.pages.value;
  }

  /** Size of the `-wal` file at the last sync's look (bytes; for metrics). */
  get walSizeBytes(): number {
    return this.#walSizeBytes;
  }

  /** True if staged files wait for upload. */
  get hasPending(): boolean {
    return this.#ctx.pending.count > 0;
  }

  /** Bytes staged and not yet uploaded (reported in logs, bounded by `maxStagingBytes`). */
  get pendingBytes(): number {
    return this.#ctx.pending.bytes;
  }

  /** True while capture waits for uploads to make room in staging. */
  get stagingFull(): boolean {
    return this.#ctx.pending.bytes >= this.#maxStagingBytes;
  }

  get stagingDir(): string {
    return this.#ctx.staging.dir;
  }

  /** The database file this replicator holds (device and inode). */
  get identity(): FileIdentity {
    return this.#ctx.db.identity;
  }

  /** False until the replica has been compared with the staged TXIDs (see `upload`). */
  get replicaChecked(): boolean {
    return this.#replica.checked;
  }

  /** How long the WAL has not changed (as of the last sync). */
  get idleForMs(): number {
    return Date.now() - this.#lastChangeAt;
  }

  /** True when a sync should run soon (the replica needs re-seeding). */
  get needsSync(): boolean {
    return this.#replica.reseed !== null;
  }

  /** What is wrong with this database's replication now, for status and health; else null. */
  get problem(): string | null {
    const unreadable = this.#unreadable.current;
    if (unreadable) {
      return `the WAL has no valid header since ${
        new Date(unreadable.sinceMs).toISOString()
      }; snapshots are copies of SQLite's view`;
    }
    if (this.#replica.reseed) return `re-seeding the replica: ${this.#replica.reseed.reason}`;
    if (!this.#replica.checked) return "the replica has not answered since start-up";
    if (this.stagingFull) return "staging is full; capture waits for uploads";
    return null;
  }

  /**
   * Copies newly committed transactions into one staged LTX file. Cheap when nothing
   * changed: one stat of the `-wal` file.
   */
  async sync(options: { force?: boolean } = {}): Promise<SyncResult> {
    this.#assertOpen();
    if (this.#replica.reseed) return await reseedReplica(this.#ctx, this.#replica);
    if (this.stagingFull) {
      if (!this.#stagingFullWarned) {
        this.#ctx.log.warn(
          "staging is full; capture waits for uploads (the WAL keeps every frame)",
          { pendingBytes: this.#ctx.pending.bytes, maxStagingBytes: this.#maxStagingBytes },
        );
        this.#stagingFullWarned = true;
      }
      return { txid: null, deferred: true };
    }
    this.#stagingFullWarned = false;
    const wal = await this.#ctx.db.walStat();
    this.#walSizeBytes = wal.sizeBytes;
    this.#movePinIfWritten(wal.fingerprint);
    const now = Date.now();
    const unchanged = wal.fingerprint === this.#lastFingerprint;
    if (unchanged && !options.force && now - this.#lastCheckAt < DEFAULT_FULL_CHECK_MS) {
      return { txid: null };
    }
    // Before anything is read: the path must still name the file we hold.
    const pathState = this.#ctx.db.pathState(this.#watchedPath);
    if (pathState !== "same") return await this.#letGo(pathState);
    this.#lastFingerprint = wal.fingerprint;
    this.#lastCheckAt = now;
    if (!unchanged) this.#lastChangeAt = now;
    try {
      return await captureBatch(this.#ctx, {
        walSizeBytes: wal.sizeBytes,
        walFingerprint: wal.fingerprint,
        force: options.force ?? false,
        nowMs: now,
      }, this.#unreadable);
    } catch (error) {
      // The in-memory state may be ahead of what was saved: start again from disk next time.
      this.#lastFingerprint = null;
      await reloadState(this.#ctx);
      throw error;
    } finally {
      this.#ctx.db.closeWal();
    }
  }

  /**
   * True while the pin may sit in read slot 0 (taken on a fully checkpointed WAL): the
   * supervisor then calls `movePin` as soon as the WAL changes, not only at the next sync.
   */
  get pinMayBeIdle(): boolean {
    return this.#ctx.pinFingerprint !== null;
  }

  /** Moves the pin past frames the application wrote since it was taken (cheap otherwise). */
  async movePin(): Promise<void> {
    if (this.#closed || this.#ctx.pinFingerprint === null) return;
    this.#movePinIfWritten(await this.#ctx.db.walFingerprint());
  }

  #movePinIfWritten(fingerprint: string): void {
    const ctx = this.#ctx;
    if (ctx.pinFingerprint === null || fingerprint === ctx.pinFingerprint) return;
    // The application wrote since we pinned: a read begun now takes a real read mark.
    if (ctx.db.repin()) {
      ctx.pinFingerprint = null;
      ctx.log.debug("pin moved past the new frames");
    }
  }

  /** Stages a full copy of the database as the next TXID (see `snapshot.ts`). */
  async snapshot(reason: string, options: TakeSnapshotOptions = {}): Promise<SyncResult> {
    this.#assertOpen();
    try {
      return await takeSnapshot(this.#ctx, reason, options);
    } finally {
      this.#ctx.db.closeWal();
    }
  }

  /**
   * walsync's checkpoint (see `checkpoint.ts`). Returns false when the write lock was busy
   * (try again later).
   */
  async checkpoint(options: { truncate?: boolean } = {}): Promise<boolean> {
    this.#assertOpen();
    return await checkpoint(this.#ctx, () => this.sync({ force: true }), options);
  }

  /** Runs the checkpoint policy: size thresholds, or an idle WAL. */
  async maybeCheckpoint(): Promise<boolean> {
    return await maybeCheckpoint(this.#ctx, () => this.sync({ force: true }), {
      checkpointPages: this.#checkpointPages,
      truncatePages: this.#truncatePages,
      idleCheckpointMs: this.#idleCheckpointMs,
      lastChangeAtMs: this.#lastChangeAt,
      stagingFull: this.stagingFull,
    });
  }

  /**
   * Uploads staged files in TXID order; stops at the first failure (retried next time). The
   * first upload after a start-up that could not list the replica compares it first.
   */
  async upload(signal?: AbortSignal): Promise<number> {
    this.#assertOpen();
    return await uploadStaged(this.#ctx, this.#replica, signal);
  }

  /**
   * Final sync and upload (each optional), then releases the database and the staging lock.
   * A file replaced meanwhile is not synced any more; what was staged is still uploaded.
   */
  async close(
    options: { sync?: boolean; upload?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    if (this.#closed) return;
    try {
      if (options.sync ?? true) {
        try {
          await this.sync({ force: true });
        } catch (error) {
          if (!(error instanceof DatabaseReplacedError)) throw error;
        }
      }
      if (options.upload ?? true) await this.upload(options.signal);
    } finally {
      this.#release();
    }
  }

  /**
   * Lets go of the database if nothing is left to do: under the write lock (so no commit can
   * slip in), one last sync; if it staged nothing and nothing waits for upload, the connection
   * and files close, and the stamp of the files as they are then is returned for later polls.
   * Null when the database is busy or not fully shipped: it stays open.
   */
  async releaseFiles(watchedPath: string): Promise<ReleaseStamp | null> {
    this.#assertOpen();
    const lock = this.#ctx.db.tryWriteLock();
    if (!lock) return null;
    let handedOver = false;
    try {
      const result = await this.sync({ force: true });
      if (result.txid !== null || this.hasPending || this.problem !== null) return null;
      this.#closed = true;
      handedOver = true;
      this.#ctx.db.close(lock);
      this.#ctx.staging.close();
    } finally {
      if (!handedOver) lock.release();
    }
    // After the close: SQLite's own last close may have checkpointed and deleted the WAL.
    return await stampOf(this.path, watchedPath);
  }

  #release(): void {
    this.#closed = true;
    this.#ctx.db.close();
    this.#ctx.staging.close();
  }

  /**
   * The path names another file, or none: copy what the old file's WAL still holds (the end
   * of its history), then end this replicator.
   */
  async #letGo(change: Exclude<PathState, "same">): Promise<never> {
    const ctx = this.#ctx;
    ctx.db.freezeWal();
    try {
      await captureBatch(ctx, {
        walSizeBytes: 0,
        walFingerprint: "",
        force: false,
        nowMs: Date.now(),
        lastLook: true,
      }, { current: null });
    } catch (error) {
      ctx.log.warn("could not copy the end of the old file's WAL", { error });
      await reloadState(this.#ctx);
    }
    const shown = this.#watchedPath;
    throw new DatabaseReplacedError(
      change === "deleted"
        ? `Database file "${shown}" was deleted`
        : `Database file "${shown}" was replaced by another file`,
      change,
    );
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
