/**
 * One database's life inside the supervisor:
 *
 * - **active**: its replicator is open (SQLite connection pinned, staging locked) and each
 *   step syncs, checkpoints and snapshots by policy;
 * - **released**: fully shipped and unchanged for `idleReleaseMs` (or released to make room
 *   for another under the file-descriptor budget), it holds no file and no buffer, only its
 *   position; each step is one stat of its `-wal` (and now and then of the database file and
 *   the WAL header). On the first change it opens again: the replicator resumes from the saved
 *   position when the WAL provably continues it, and ships a diff of the pages that changed
 *   when it cannot prove that;
 * - **reopening**: let go because its file was replaced or deleted, or it could not be opened
 *   (an error, no file descriptor left); it is opened again with backoff, and the problem is
 *   logged when it appears, when it changes and every few minutes while it lasts.
 */
import type { FileIdentity } from "../db/database.ts";
import type { Logger } from "../log.ts";
import { filesChanged, type ReleaseStamp, walHeaderChanged } from "./release_stamp.ts";
import type { SnapshotHistory } from "./replica_state.ts";
import { DatabaseReplacedError, type Replicator, type ReplicatorOptions } from "./replicator.ts";
import { snapshotDue, type SnapshotPolicy } from "./snapshot_policy.ts";
import { FdBudgetError, isFdExhaustion } from "./fd_budget.ts";
import { SlotStats, type SlotStatsView } from "./slot_stats.ts";

/** Opening a database again backs off up to this. */
const MAX_REOPEN_BACKOFF_MS = 30_000;
/** A database waiting for a file descriptor looks again this often. */
const FD_WAIT_MS = 1000;
/** A problem that lasts is logged again this often (and whenever it changes). */
const REPEAT_PROBLEM_LOG_MS = 5 * 60_000;
/** A released database's WAL header is read this often (its files are stat'ed every step). */
const RELEASED_FULL_CHECK_MS = 10_000;

/** Settings one database may override (walsync.toml `[[databases]]`). */
export interface DatabaseSettings extends SnapshotPolicy {
  syncIntervalMs: number;
  /** Take a full snapshot when the database is added (i.e. at start-up). */
  onStartup: boolean;
  /** Release a database fully shipped and unchanged this long (0 = never). */
  idleReleaseMs: number;
  checkpointPages?: number;
  truncatePages?: number;
  idleCheckpointMs?: number;
}

export type SlotState = "active" | "released" | "reopening";

/** What status and health show for one database. */
export interface DatabaseStatus {
  path: string;
  name: string;
  txid: number;
  uploadedTxid: number;
  state: SlotState;
  lastError: string | null;
  /** A lasting abnormal condition (an unreadable WAL, a replaced file), else null. */
  problem: string | null;
}

/** Status with counters and lag: what metrics, `/health` and `walsync status` read. */
export interface DatabaseObservation extends DatabaseStatus, SlotStatsView {
  /** Bytes staged and not yet uploaded. */
  stagedBytes: number;
  /** Uploads failed in a row (0 once one succeeds). */
  uploadFailures: number;
}

/** What opening a replicator again takes from what the slot remembers. */
export type OpenExtra = Pick<
  ReplicatorOptions,
  "deferReplicaCheck" | "replicaTxid" | "reopenedBecause"
>;

/** The supervisor's side of a slot. */
export interface SlotHost {
  readonly log: Logger;
  /** Opens a replicator for the slot (real path, a second path refused, room made for it). */
  open(slot: DatabaseSlot, extra: OpenExtra): Promise<Replicator>;
  /** The slot let go of its files. */
  closed(slot: DatabaseSlot): void;
  /** The slot waits for a file descriptor: it is told (`openSoon`) when one is free. */
  waiting(slot: DatabaseSlot): void;
  /** Whether new databases should skip listing the replica (it does not answer). */
  readonly replicaReachable: boolean;
}

/** Why a slot holds no replicator, and when to try again. */
interface Closed {
  kind: "idle" | "fds" | "replaced" | "deleted" | "failed";
  /** For status: why the database is not active. */
  reason: string;
  /** Released: what the files looked like when let go. */
  stamp: ReleaseStamp | null;
  checkedAtMs: number;
  nextOpenAtMs: number;
  failures: number;
}

export class DatabaseSlot {
  /** The path as given (absolute; may be a symlink). */
  readonly path: string;
  readonly name: string;
  readonly settings: DatabaseSettings;
  replicator: Replicator | null = null;
  /** The file the replicator held last, to refuse a second path to the same database. */
  identity: FileIdentity = { dev: null, ino: null };
  /** The real file last opened (its `-wal` is what a released slot polls). */
  realPath: string;
  stagingDir: string | null = null;

  /** Serializes every step, release and close on this database. */
  busy: Promise<unknown> = Promise.resolve();
  dirty = true;
  nextSyncAt = 0;
  uploading = false;
  uploadFailures = 0;
  nextUploadAt = 0;
  removed = false;
  movingPin = false;
  /** `onStartup`: a snapshot is owed before anything else. */
  startupSnapshot = false;
  lastError: string | null = null;
  /** When the WAL last changed (for choosing whom to release first). */
  lastChangeAtMs = Date.now();
  /** Counters and lag for metrics, health and status (see slot_stats.ts). */
  readonly stats = new SlotStats();

  #host: SlotHost;
  #closed: Closed | null = null;
  #lastTxid = 0;
  #lastUploadedTxid = 0;
  /** The replica's last TXID, when the replicator that let go had compared it. */
  #replicaTxid: number | undefined;
  #history: SnapshotHistory | null = null;
  #logged: { message: string; atMs: number } | null = null;

  constructor(host: SlotHost, path: string, name: string, settings: DatabaseSettings) {
    this.#host = host;
    this.path = path;
    this.name = name;
    this.settings = settings;
    this.realPath = path;
  }

  get state(): SlotState {
    if (this.replicator) return "active";
    return this.#closed && (this.#closed.kind === "idle" || this.#closed.kind === "fds")
      ? "released"
      : "reopening";
  }

  get txid(): number {
    return this.replicator?.txid ?? this.#lastTxid;
  }

  status(): DatabaseStatus {
    const closed = this.#closed;
    return {
      path: this.path,
      name: this.name,
      txid: this.txid,
      uploadedTxid: this.replicator?.uploadedTxid ?? this.#lastUploadedTxid,
      state: this.state,
      lastError: this.lastError,
      problem: this.replicator?.problem ??
        (closed && closed.kind !== "idle" ? closed.reason : null),
    };
  }

  /** Status with counters, lag and staged bytes, as of `nowMs`. */
  observe(nowMs: number): DatabaseObservation {
    const status = this.status();
    return {
      ...status,
      ...this.stats.view(status.uploadedTxid, nowMs),
      stagedBytes: this.replicator?.pendingBytes ?? 0,
      uploadFailures: this.uploadFailures,
    };
  }

  /** Takes over a replicator opened for this slot (on add, or woken). */
  attach(replicator: Replicator): void {
    this.replicator = replicator;
    this.identity = replicator.identity;
    this.realPath = replicator.path;
    this.stagingDir = replicator.stagingDir;
    this.#closed = null;
    this.nextUploadAt = 0;
    // Files staged before this open (a restart during an outage) wait from now on.
    this.stats.captured(replicator.txid, replicator.uploadedTxid, Date.now());
  }

  /** Registers a slot that could not open now for want of file descriptors. */
  waitForRoom(error: FdBudgetError): void {
    this.#closed = {
      kind: "fds",
      reason: error.message,
      stamp: null,
      checkedAtMs: 0,
      nextOpenAtMs: Date.now() + FD_WAIT_MS,
      failures: 0,
    };
    this.#host.waiting(this);
  }

  /** A file descriptor is free: a slot waiting for one tries to open at the next round. */
  openSoon(): void {
    if (this.#closed && !this.#closed.stamp) {
      this.#closed.nextOpenAtMs = 0;
      this.dirty = true;
    }
  }

  /** When the run loop should look at this slot next. */
  get dueAtMs(): number {
    if (this.replicator || !this.#closed) return this.nextSyncAt;
    if (this.#closed.stamp) return this.nextSyncAt; // released: a stat per interval
    return this.#closed.nextOpenAtMs;
  }

  /**
   * One round of work, whatever the state: run it through `busy`. `force` looks now (a final
   * look at shutdown, `--once`): a released database is compared with its stamp in full and
   * opened only if it changed; `open` opens it whatever (a requested snapshot).
   */
  async step(force: boolean, options: { open?: boolean } = {}): Promise<void> {
    if (this.removed) return;
    this.dirty = false;
    this.nextSyncAt = Date.now() + this.settings.syncIntervalMs;
    if (!this.replicator) {
      if (!(await this.#wakeIfDue(force, options.open ?? false))) return;
    }
    const replicator = this.replicator!;
    const stats = this.stats;
    const lookedAtMs = Date.now();
    let checkpointing = false;
    try {
      const result = await replicator.sync({ force });
      stats.sync.count++;
      stats.syncSeconds += (Date.now() - lookedAtMs) / 1000;
      stats.walSizeBytes = replicator.walSizeBytes;
      if (result.snapshot !== undefined) stats.snapshots++;
      if (result.txid !== null) {
        // New data ships at once, unless uploads are failing: then the backoff holds.
        if (this.uploadFailures === 0) this.nextUploadAt = 0;
        this.lastChangeAtMs = Date.now();
      }
      checkpointing = true;
      const checkpointAtMs = Date.now();
      if (await replicator.maybeCheckpoint()) stats.checkpoint.count++;
      stats.checkpointSeconds += (Date.now() - checkpointAtMs) / 1000;
      checkpointing = false;
      await this.#maybeSnapshot(replicator);
      stats.captured(replicator.txid, replicator.uploadedTxid, lookedAtMs);
      stats.syncSucceeded();
      this.lastError = null;
      this.#logProblem(replicator.problem, "warn");
      if (result.txid === null && this.#idleEnough(replicator)) await this.release("idle");
    } catch (error) {
      if (error instanceof DatabaseReplacedError) {
        await this.#letGo(error);
        return;
      }
      if (checkpointing) stats.checkpoint.errors++;
      else stats.syncFailed(lookedAtMs);
      stats.captured(replicator.txid, replicator.uploadedTxid, lookedAtMs);
      this.lastError = (error as Error).message;
      this.#logProblem(`sync failed: ${this.lastError}`, "error", error);
    }
  }

  /**
   * Fully shipped: nothing staged or uploading, the replica compared, nothing wrong, no
   * snapshot owed. Such a database can let go of its files and lose nothing.
   */
  releasable(): boolean {
    const replicator = this.replicator;
    return replicator !== null && !this.removed && !this.uploading && !replicator.hasPending &&
      replicator.replicaChecked && replicator.problem === null && !replicator.needsSync &&
      !this.startupSnapshot;
  }

  /** Lets go of the files if fully shipped (the caller runs it through `busy`). */
  async release(kind: "idle" | "fds"): Promise<void> {
    const replicator = this.replicator;
    if (!replicator || !this.releasable()) return;
    this.#remember(replicator);
    this.#history = replicator.snapshotHistory;
    let stamp: ReleaseStamp | null;
    try {
      stamp = await replicator.releaseFiles(this.path);
    } catch (error) {
      this.#host.log.warn("could not release the database", { db: this.name, error });
      return;
    }
    if (stamp === null) return; // busy, or something new to ship: stays open
    this.#closed = {
      kind,
      reason: kind === "idle"
        ? "released: idle and fully shipped"
        : "released to make room under the file-descriptor limit",
      stamp,
      checkedAtMs: Date.now(),
      nextOpenAtMs: 0,
      failures: 0,
    };
    this.replicator = null;
    this.#host.closed(this);
    this.#host.log.debug("released", { db: this.name, txid: this.#lastTxid, why: kind });
  }

  /**
   * Final sync and upload, then lets go (shutdown or removal); never throws. `quiet` logs no
   * failure (the upload was abandoned on purpose).
   */
  async close(options: { upload?: boolean; signal?: AbortSignal; quiet?: boolean }): Promise<void> {
    const replicator = this.replicator;
    if (!replicator) return;
    this.#remember(replicator);
    this.replicator = null;
    try {
      await replicator.close({ upload: options.upload, signal: options.signal });
    } catch (error) {
      if (!options.quiet) {
        this.#host.log.error("final sync or upload failed; staged files stay for the next start", {
          db: this.name,
          error,
        });
      }
    } finally {
      this.#host.closed(this);
    }
  }

  /** Released or let go: open again if the files changed, a snapshot is due, or it is time. */
  async #wakeIfDue(force: boolean, open: boolean): Promise<boolean> {
    const closed = this.#closed;
    if (!closed) return false;
    const now = Date.now();
    if (closed.stamp) {
      let why: string | null = open ? "asked to open" : null;
      let changed = filesChanged(this.realPath, this.path, closed.stamp);
      why ??= changed ? "its files changed" : null;
      if (why === null && (force || now - closed.checkedAtMs >= RELEASED_FULL_CHECK_MS)) {
        closed.checkedAtMs = now;
        changed = await walHeaderChanged(this.realPath, closed.stamp);
        if (changed) why = "its WAL header changed";
      }
      if (why === null && this.#history) {
        why = snapshotDue(this.settings, this.#history, { txid: this.#lastTxid, nowMs: now });
      }
      if (why === null) return false;
      this.#host.log.debug("waking", { db: this.name, why });
      // Commits wait from now until a look captures them (even if no descriptor is free yet).
      if (changed) this.stats.unseen(now);
    } else if (!force && now < closed.nextOpenAtMs) {
      return false;
    }
    return await this.#open();
  }

  /** Opens the replicator again; on failure, backs off and says why. */
  async #open(): Promise<boolean> {
    const closed = this.#closed!;
    const woken = closed.kind === "idle" || closed.kind === "fds";
    try {
      const replicator = await this.#host.open(this, {
        replicaTxid: this.#replicaTxid,
        deferReplicaCheck: this.#replicaTxid === undefined && !this.#host.replicaReachable,
        reopenedBecause: woken ? undefined : closed.reason,
      });
      this.attach(replicator);
      this.lastError = null;
      if (!woken) {
        this.#logged = null;
        this.#host.log.info("replicating", {
          db: this.name,
          path: this.path,
          txid: replicator.txid,
        });
      }
      return true;
    } catch (error) {
      if (error instanceof FdBudgetError) {
        // The supervisor says so once for every database; each one just waits its turn.
        closed.nextOpenAtMs = Date.now() + FD_WAIT_MS;
        closed.reason = error.message;
        if (!closed.stamp) this.#host.waiting(this);
        return false;
      }
      closed.failures++;
      closed.nextOpenAtMs = Date.now() +
        Math.min(MAX_REOPEN_BACKOFF_MS, 1000 * 2 ** (closed.failures - 1));
      if (woken) {
        // A released database that cannot open again is a problem now: keep trying.
        closed.stamp = null;
        closed.kind = "failed";
      }
      closed.reason = `cannot open the database: ${(error as Error).message}`;
      this.lastError = (error as Error).message;
      this.#logProblem(
        closed.reason,
        isFdExhaustion(error) ? "warn" : "error",
        error,
      );
      return false;
    }
  }

  /**
   * The database's path names another file now (or none): release the old file, keeping what
   * it staged for the new replicator to upload, and open the new one (which it snapshots).
   */
  async #letGo(error: DatabaseReplacedError): Promise<void> {
    const previous = this.replicator!;
    while (this.uploading) await new Promise((resolve) => setTimeout(resolve, 10));
    this.#remember(previous);
    this.replicator = null;
    await previous.close({ sync: false, upload: false }).catch(() => {});
    this.#host.closed(this);
    const deleted = error.change === "deleted";
    this.#closed = {
      kind: deleted ? "deleted" : "replaced",
      reason: deleted
        ? "the database file was deleted; waiting for a database at its path"
        : "the database file was replaced by another file",
      stamp: null,
      checkedAtMs: 0,
      nextOpenAtMs: 0,
      failures: 0,
    };
    this.#host.log.warn(
      deleted
        ? "database file was deleted; walsync let go of it and replicates whatever database appears at its path next"
        : "database file was replaced by another file; walsync let go of the old one and snapshots the new one",
      { db: this.name, path: this.path, txid: this.#lastTxid },
    );
    await this.#open();
  }

  #remember(replicator: Replicator): void {
    this.#lastTxid = replicator.txid;
    this.#lastUploadedTxid = replicator.uploadedTxid;
    this.#replicaTxid = replicator.replicaChecked ? replicator.uploadedTxid : undefined;
  }

  #idleEnough(replicator: Replicator): boolean {
    const { idleReleaseMs } = this.settings;
    return idleReleaseMs > 0 && replicator.idleForMs >= idleReleaseMs && this.releasable();
  }

  /** The snapshot policy: on start-up if asked, then whenever a trigger fires. */
  async #maybeSnapshot(replicator: Replicator): Promise<void> {
    if (replicator.stagingFull) return;
    const reason = this.startupSnapshot ? "on_startup" : snapshotDue(
      this.settings,
      replicator.snapshotHistory,
      { txid: replicator.txid, nowMs: Date.now() },
    );
    if (reason === null) return;
    this.startupSnapshot = false;
    await replicator.snapshot(reason, { scheduled: true });
    this.stats.snapshots++;
    if (this.uploadFailures === 0) this.nextUploadAt = 0;
  }

  /**
   * Logs a problem when it appears or changes, and again every few minutes while it lasts;
   * a cleared one is logged once as resolved.
   */
  #logProblem(problem: string | null, level: "warn" | "error", error?: unknown): void {
    const now = Date.now();
    const log = this.#host.log;
    if (problem === null) {
      if (this.#logged) log.info("replicating normally again", { db: this.name });
      this.#logged = null;
      return;
    }
    if (this.#logged?.message === problem && now - this.#logged.atMs < REPEAT_PROBLEM_LOG_MS) {
      return;
    }
    this.#logged = { message: problem, atMs: now };
    log[level](problem, { db: this.name, path: this.path, ...(error ? { error } : {}) });
  }
}
