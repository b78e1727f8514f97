/**
 * Runs many replicators from one process: polls each database every sync interval (a stat
 * when nothing changed), syncs sooner on file-system hints, applies the checkpoint policy,
 * and uploads staged files with bounded concurrency and backoff, so an object-storage outage
 * delays uploads but never blocks capture or checkpoints.
 */
import type { FileIdentity } from "../db/database.ts";
import { DatabaseError } from "../db/database.ts";
import { WalsyncError } from "../errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { ChangeWatcher } from "../watch/change_watcher.ts";
import { DatabaseReplacedError, Replicator, type ReplicatorOptions } from "./replicator.ts";
import { snapshotDue, type SnapshotPolicy } from "./snapshot_policy.ts";
import { countStagedFiles } from "./staging.ts";
import {
  type SnapshotAnswer,
  takeSnapshotRequests,
  writeSnapshotAnswer,
} from "./snapshot_request.ts";
import { formatChecksum } from "../checksum/database_checksum.ts";

export const DEFAULT_SYNC_INTERVAL_MS = 1000;
export const DEFAULT_SYNC_CONCURRENCY = 8;
export const DEFAULT_UPLOAD_CONCURRENCY = 4;
/** A full snapshot an hour keeps restores short; idle databases are never snapshotted. */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 3_600_000;
/** How often the loop wakes when the sync interval is 0 (events drive it otherwise). */
const MIN_TICK_MS = 50;
/**
 * Failed uploads are retried at least this often, so catching up starts within seconds of
 * the store answering again (staged files wait safely meanwhile).
 */
const MAX_UPLOAD_BACKOFF_MS = 4_000;
/** Opening a database again (its file was replaced or deleted) backs off up to this. */
const MAX_REOPEN_BACKOFF_MS = 30_000;
/** A problem that lasts is logged again this often (and whenever it changes). */
const REPEAT_PROBLEM_LOG_MS = 5 * 60_000;
/** How often a waiter looks whether a running upload has finished. */
const UPLOAD_POLL_MS = 10;

/** Settings one database may override (walsync.toml `[[databases]]`). */
export interface DatabaseSettings extends SnapshotPolicy {
  syncIntervalMs: number;
  /** Take a full snapshot when the database is added (i.e. at start-up). */
  onStartup: boolean;
  checkpointPages?: number;
  truncatePages?: number;
  idleCheckpointMs?: number;
}

export interface SupervisorOptions {
  client: ReplicaClient;
  syncIntervalMs?: number;
  syncConcurrency?: number;
  uploadConcurrency?: number;
  logger?: Logger;
  /** Passed to every replicator (checkpoint thresholds, staging directory). */
  replicator?: Partial<Omit<ReplicatorOptions, "name" | "client" | "logger">>;
  /** Defaults for every database's settings (`add` may override them per database). */
  defaults?: Partial<DatabaseSettings>;
  /** Watch `-wal` files of databases synced "as soon as seen" (interval 0; default true). */
  watch?: boolean;
  /**
   * Asked before every upload: false pauses them (e.g. while the replica's lease is being
   * taken or is in doubt) while capture goes on. Default: always true.
   */
  uploadGate?: UploadGate;
  /** Aborting it ends running and final uploads at once; their files stay staged. */
  abandonUploads?: AbortSignal;
}

/** Whether uploads may go ahead now (see `SupervisorOptions.uploadGate`). */
export interface UploadGate {
  canUpload(): boolean;
}

/** What `stop` left behind. */
export interface StopSummary {
  /** Staged files not uploaded (they are uploaded at the next start). */
  stagedFiles: number;
}

/** Thrown by an upload that must wait: the gate is closed. */
export class UploadsPausedError extends WalsyncError {}

/** Two paths (symlinks, hard links) name one database file: it is replicated once. */
export class DuplicateDatabaseError extends WalsyncError {}

/** What status and health show for one database. */
export interface DatabaseStatus {
  path: string;
  name: string;
  txid: number;
  uploadedTxid: number;
  /** "active", or "reopening" while its file is replaced or gone and walsync waits. */
  state: "active" | "reopening";
  lastError: string | null;
  /** A lasting abnormal condition (e.g. an unreadable WAL), else null. */
  problem: string | null;
}

interface Entry {
  /** The path as given (absolute; may be a symlink). */
  path: string;
  name: string;
  /** Null while the database is let go (its file was replaced or deleted) until reopened. */
  replicator: Replicator | null;
  /** The file the replicator holds, to refuse a second path to the same database. */
  identity: FileIdentity;
  /** TXIDs as last known, while `replicator` is null. */
  lastTxid: number;
  lastUploadedTxid: number;
  /** Why the replicator was let go, while it is null. */
  reopenReason: string | null;
  /** The replica's last TXID known to this process, for the reopened replicator. */
  replicaTxid: number | undefined;
  nextOpenAt: number;
  openFailures: number;
  /** The last problem logged and when, so a lasting one is not logged every round. */
  logged: { message: string; atMs: number } | null;
  settings: DatabaseSettings;
  /** `onStartup`: a snapshot is owed before anything else. */
  startupSnapshot: boolean;
  movingPin: boolean;
  /** Set by `remove`: no new work starts on it. */
  removed: boolean;
  /** Serializes sync/checkpoint/close on one database. */
  busy: Promise<unknown>;
  dirty: boolean;
  nextSyncAt: number;
  uploading: boolean;
  uploadFailures: number;
  nextUploadAt: number;
  lastError: string | null;
}

export class Supervisor {
  readonly client: ReplicaClient;
  readonly syncIntervalMs: number;
  #log: Logger;
  #options: SupervisorOptions;
  #entries = new Map<string, Entry>();
  #watcher: ChangeWatcher | null;
  #wake: (() => void) | null = null;
  #stopping: Promise<StopSummary> | null = null;
  #syncSlots: number;
  #uploadSlots: number;
  /** False after an upload failed, until one succeeds: new databases then skip the listing. */
  #replicaReachable = true;

  constructor(options: SupervisorOptions) {
    this.client = options.client;
    this.syncIntervalMs = options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.#log = options.logger ?? silentLogger;
    this.#options = options;
    this.#syncSlots = options.syncConcurrency ?? DEFAULT_SYNC_CONCURRENCY;
    this.#uploadSlots = options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
    this.#watcher = options.watch === false
      ? null
      : new ChangeWatcher((path) => this.notify(path), this.#log);
  }

  /**
   * Starts replicating the database at `path` (absolute) under `name`, with `settings`
   * overriding the supervisor's defaults for this database.
   */
  async add(
    path: string,
    name: string,
    overrides: Partial<DatabaseSettings> = {},
  ): Promise<Replicator> {
    if (this.#entries.has(path)) {
      throw new WalsyncError(`Database "${path}" is already being replicated`);
    }
    for (const entry of this.#entries.values()) {
      if (entry.name === name) {
        throw new WalsyncError(
          `Replica name "${name}" is used by both "${entry.path}" and "${path}"`,
        );
      }
    }
    const settings: DatabaseSettings = {
      syncIntervalMs: this.syncIntervalMs,
      snapshotIntervalMs: DEFAULT_SNAPSHOT_INTERVAL_MS,
      maxChanges: 0,
      maxIntervalMs: 0,
      onIdleMs: 0,
      onStartup: false,
      ...withoutUndefined(this.#options.defaults ?? {}),
      ...withoutUndefined(overrides),
    };
    const replicator = await this.#open(path, name, settings, {
      deferReplicaCheck: !this.#replicaReachable,
    });
    const entry: Entry = {
      path,
      name,
      replicator,
      identity: replicator.identity,
      lastTxid: replicator.txid,
      lastUploadedTxid: replicator.uploadedTxid,
      reopenReason: null,
      replicaTxid: undefined,
      nextOpenAt: 0,
      openFailures: 0,
      logged: null,
      settings,
      // A snapshot taken while opening (first sync, discontinuity) already serves.
      startupSnapshot: settings.onStartup && replicator.snapshotHistory.txid !== replicator.txid,
      movingPin: false,
      removed: false,
      busy: Promise.resolve(),
      dirty: true,
      nextSyncAt: 0,
      uploading: false,
      uploadFailures: 0,
      nextUploadAt: 0,
      lastError: null,
    };
    this.#entries.set(path, entry);
    // Events only matter to "ship as soon as seen" (interval 0): with an interval, every
    // database is looked at (one stat) each interval anyway, and a writer committing flat out
    // raises an event per write, which cost 0.7 of a core in measurements.
    if (settings.syncIntervalMs === 0) this.#watcher?.add(replicator.path);
    this.#log.info("replicating", {
      db: name,
      path,
      ...(replicator.path !== path ? { file: replicator.path } : {}),
      txid: replicator.txid,
    });
    this.#wake?.();
    return replicator;
  }

  /**
   * Opens the database at `path` (symlinks resolved: SQLite keeps the WAL beside the real
   * file), refusing a file another entry already replicates under another path.
   */
  async #open(
    path: string,
    name: string,
    settings: DatabaseSettings,
    extra: Pick<ReplicatorOptions, "deferReplicaCheck" | "replicaTxid" | "reopenedBecause">,
    self?: Entry,
  ): Promise<Replicator> {
    let realPath: string;
    try {
      realPath = await Deno.realPath(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new DatabaseError(`Database "${path}" does not exist`, { cause: error });
      }
      throw error;
    }
    this.#refuseDuplicate(path, realPath, self);
    return await Replicator.open(realPath, {
      ...this.#options.replicator,
      ...withoutUndefined({
        checkpointPages: settings.checkpointPages,
        truncatePages: settings.truncatePages,
        idleCheckpointMs: settings.idleCheckpointMs,
      }),
      ...extra,
      watchedPath: path,
      name,
      client: this.client,
      logger: this.#log,
    });
  }

  /** Throws when another entry holds the file `realPath` names (one database, two paths). */
  #refuseDuplicate(path: string, realPath: string, self?: Entry): void {
    const info = Deno.statSync(realPath);
    for (const entry of this.#entries.values()) {
      if (entry === self || info.ino === null) continue;
      if (entry.identity.ino === info.ino && entry.identity.dev === info.dev) {
        throw new DuplicateDatabaseError(
          `"${path}" and "${entry.path}" are the same database file ("${realPath}"); walsync replicates it once, as "${entry.name}"`,
        );
      }
    }
  }

  /**
   * Stops replicating `path` (e.g. its file was deleted): finishes what runs, does a final
   * sync and upload, then releases the database.
   */
  async remove(path: string): Promise<void> {
    const entry = this.#entries.get(path);
    if (!entry) return;
    this.#entries.delete(path);
    this.#watcher?.remove(path);
    entry.removed = true;
    await this.#idle(entry);
    try {
      await entry.replicator?.close({
        upload: this.#canUpload(),
        signal: this.#options.abandonUploads,
      });
    } catch (error) {
      this.#log.error("final sync or upload failed; staged files stay for the next start", {
        db: entry.name,
        error,
      });
    }
    this.#log.info("stopped replicating", { db: entry.name, path });
  }

  /** A hint that `path` changed: sync it as soon as the interval allows. */
  notify(path: string): void {
    const entry = this.#entries.get(path);
    if (!entry) return;
    entry.dirty = true;
    if (entry.replicator?.pinMayBeIdle && !entry.movingPin) {
      // Right after walsync's checkpoint the pin may block every application checkpoint
      // (read slot 0): move it at once rather than at the next sync.
      entry.movingPin = true;
      const run = entry.busy.then(() => entry.replicator?.movePin()).catch((error) => {
        this.#log.warn("could not move the read pin", { db: entry.name, error });
      }).finally(() => {
        entry.movingPin = false;
      });
      entry.busy = run;
    }
    this.#wake?.();
  }

  get databases(): DatabaseStatus[] {
    return [...this.#entries.values()].map((e) => ({
      path: e.path,
      name: e.name,
      txid: e.replicator?.txid ?? e.lastTxid,
      uploadedTxid: e.replicator?.uploadedTxid ?? e.lastUploadedTxid,
      state: e.replicator ? "active" : "reopening",
      lastError: e.lastError,
      problem: e.replicator?.problem ?? e.reopenReason,
    }));
  }

  /**
   * The replica name of the database `path` names when this process replicates that file
   * already (under this or another path: a symlink or hard link), else null. One stat.
   */
  replicatedAs(path: string): string | null {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      return null;
    }
    if (info.ino === null) return this.#entries.get(path)?.name ?? null;
    for (const entry of this.#entries.values()) {
      if (entry.identity.ino === info.ino && entry.identity.dev === info.dev) return entry.name;
    }
    return null;
  }

  /** Syncs and uploads everything once (used by `--once`, tests and shutdown). */
  async syncAll(options: { force?: boolean } = {}): Promise<void> {
    await this.#forEach(this.#syncSlots, (entry) => this.#syncEntry(entry, options.force ?? true));
    await this.#forEach(this.#uploadSlots, (entry) => this.#uploadEntry(entry, true));
  }

  /** Runs until `signal` aborts, then does a final sync and upload and closes everything. */
  async run(signal: AbortSignal): Promise<void> {
    const tickMs = Math.max(MIN_TICK_MS, Math.min(this.syncIntervalMs, 1000));
    while (!signal.aborted) {
      const now = Date.now();
      const due = new Set(
        [...this.#entries.values()].filter((e) =>
          now >= e.nextSyncAt &&
          (e.dirty || e.settings.syncIntervalMs > 0 || now - e.nextSyncAt >= 1000)
        ),
      );
      await this.#forEach(this.#syncSlots, async (entry) => {
        if (due.has(entry)) await this.#syncEntry(entry, false);
      });
      let nextAt = Date.now() + tickMs;
      for (const entry of this.#entries.values()) {
        // Only databases with staged files cost an upload attempt (idle ones cost nothing).
        if (
          entry.replicator?.hasPending && !entry.uploading && Date.now() >= entry.nextUploadAt &&
          this.#canUpload()
        ) {
          void this.#uploadEntry(entry, false);
        }
        nextAt = Math.min(nextAt, entry.nextSyncAt);
      }
      // Sleep until the next database is due, so an early wake-up never costs a whole tick.
      const sleepMs = Math.max(MIN_TICK_MS, nextAt - Date.now());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, sleepMs);
        const onAbort = () => done();
        signal.addEventListener("abort", onAbort, { once: true });
        this.#wake = done;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          resolve();
        }
      });
      this.#wake = null;
    }
    await this.stop();
  }

  /** Uploads may resume at once (the gate opened again): forget every backoff. */
  resumeUploads(): void {
    for (const entry of this.#entries.values()) {
      entry.uploadFailures = 0;
      entry.nextUploadAt = 0;
    }
    this.#wake?.();
  }

  /**
   * Final sync and upload of every database, then releases them. `upload: false` stops
   * without writing to the replica; so does a closed upload gate. Each database gets one
   * upload attempt (it stops at its first failure), and `abandonUploads` ends them at once;
   * what is not uploaded stays staged. Calling it again returns the same summary.
   */
  stop(options: { upload?: boolean } = {}): Promise<StopSummary> {
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: { upload?: boolean }): Promise<StopSummary> {
    await this.#watcher?.close();
    const abandon = this.#options.abandonUploads;
    let stagedFiles = 0;
    await this.#forEach(this.#syncSlots, async (entry) => {
      await this.#idle(entry);
      const upload = (options.upload ?? true) && this.#canUpload() && !abandon?.aborted;
      const stagingDir = entry.replicator?.stagingDir;
      try {
        await entry.replicator?.close({ upload, signal: abandon });
      } catch (error) {
        if (!abandon?.aborted) {
          this.#log.error("final sync or upload failed; staged files stay for the next start", {
            db: entry.name,
            error,
          });
        }
      }
      if (stagingDir) stagedFiles += await countStagedFiles(stagingDir).catch(() => 0);
    });
    this.#entries.clear();
    return { stagedFiles };
  }

  #canUpload(): boolean {
    return this.#options.uploadGate?.canUpload() ?? true;
  }

  /** Waits until nothing runs on `entry`: its queue and any upload. */
  async #idle(entry: Entry): Promise<void> {
    await entry.busy;
    while (entry.uploading) await sleep(UPLOAD_POLL_MS);
  }

  async #syncEntry(entry: Entry, force: boolean): Promise<void> {
    const run = entry.busy.then(async () => {
      if (entry.removed) return;
      entry.dirty = false;
      entry.nextSyncAt = Date.now() + entry.settings.syncIntervalMs;
      if (!entry.replicator) {
        if (force || Date.now() >= entry.nextOpenAt) await this.#reopen(entry);
        if (!entry.replicator) return;
      }
      const replicator = entry.replicator;
      try {
        const result = await replicator.sync({ force });
        // New data ships at once, unless uploads are failing: then the backoff holds.
        if (result.txid !== null && entry.uploadFailures === 0) entry.nextUploadAt = 0;
        await replicator.maybeCheckpoint();
        await this.#maybeSnapshot(entry);
        entry.lastError = null;
        this.#logProblem(entry, replicator.problem, "warn");
      } catch (error) {
        if (error instanceof DatabaseReplacedError) {
          await this.#letGo(entry, error);
          return;
        }
        entry.lastError = (error as Error).message;
        this.#logProblem(entry, `sync failed: ${entry.lastError}`, "error", error);
      }
    });
    entry.busy = run;
    await run;
  }

  /**
   * The database's path names another file now (or none): release the old file, keeping what
   * it staged for the new replicator to upload, and open the new one (which snapshots it).
   */
  async #letGo(entry: Entry, error: DatabaseReplacedError): Promise<void> {
    const previous = entry.replicator!;
    while (entry.uploading) await sleep(UPLOAD_POLL_MS);
    entry.lastTxid = previous.txid;
    entry.lastUploadedTxid = previous.uploadedTxid;
    entry.replicaTxid = previous.replicaChecked ? previous.uploadedTxid : undefined;
    this.#watcher?.remove(previous.path);
    await previous.close({ sync: false, upload: false }).catch(() => {});
    entry.replicator = null;
    entry.reopenReason = error.change === "deleted"
      ? "the database file was deleted; waiting for a database at its path"
      : "the database file was replaced by another file";
    entry.nextOpenAt = 0;
    entry.openFailures = 0;
    this.#log.warn(
      error.change === "deleted"
        ? "database file was deleted; walsync let go of it and replicates whatever database appears at its path next"
        : "database file was replaced by another file; walsync let go of the old one and snapshots the new one",
      { db: entry.name, path: entry.path, txid: entry.lastTxid },
    );
    await this.#reopen(entry);
  }

  /** Tries to open a let-go database's path again; backs off while that fails. */
  async #reopen(entry: Entry): Promise<void> {
    try {
      const replicator = await this.#open(entry.path, entry.name, entry.settings, {
        replicaTxid: entry.replicaTxid,
        deferReplicaCheck: entry.replicaTxid === undefined && !this.#replicaReachable,
        reopenedBecause: entry.reopenReason ?? undefined,
      }, entry);
      entry.replicator = replicator;
      entry.identity = replicator.identity;
      entry.reopenReason = null;
      entry.openFailures = 0;
      entry.lastError = null;
      entry.logged = null;
      entry.nextUploadAt = 0;
      if (entry.settings.syncIntervalMs === 0) this.#watcher?.add(replicator.path);
      this.#log.info("replicating", { db: entry.name, path: entry.path, txid: replicator.txid });
    } catch (error) {
      entry.openFailures++;
      entry.nextOpenAt = Date.now() +
        Math.min(MAX_REOPEN_BACKOFF_MS, 1000 * 2 ** (entry.openFailures - 1));
      entry.lastError = (error as Error).message;
      this.#logProblem(entry, `cannot open the database: ${entry.lastError}`, "error", error);
    }
  }

  /**
   * Logs a database's problem when it appears or changes, and again every few minutes while
   * it lasts; a cleared problem is logged once as resolved.
   */
  #logProblem(
    entry: Entry,
    problem: string | null,
    level: "warn" | "error",
    error?: unknown,
  ): void {
    const now = Date.now();
    if (problem === null) {
      if (entry.logged) this.#log.info("replicating normally again", { db: entry.name });
      entry.logged = null;
      return;
    }
    if (
      entry.logged?.message === problem && now - entry.logged.atMs < REPEAT_PROBLEM_LOG_MS
    ) {
      return;
    }
    entry.logged = { message: problem, atMs: now };
    this.#log[level](problem, { db: entry.name, path: entry.path, ...(error ? { error } : {}) });
  }

  /**
   * Answers `walsync snapshot` requests waiting in the databases' staging directories (the
   * command sends SIGUSR1 after writing one): snapshot, upload, answer, each in its
   * database's queue. Only called on demand, so it costs nothing otherwise.
   */
  async serveSnapshotRequests(): Promise<void> {
    for (const entry of this.#entries.values()) {
      const stagingDir = entry.replicator?.stagingDir;
      if (stagingDir === undefined) continue;
      let requests;
      try {
        requests = await takeSnapshotRequests(stagingDir);
      } catch (error) {
        this.#log.warn("could not read snapshot requests", { db: entry.name, error });
        continue;
      }
      for (const request of requests) {
        const run = entry.busy.then(async () => {
          let answer: SnapshotAnswer;
          try {
            answer = await this.#requestedSnapshot(entry, request.replica);
          } catch (error) {
            answer = { ok: false, error: (error as Error).message };
          }
          this.#log.info("snapshot requested by walsync snapshot", { db: entry.name, ...answer });
          await writeSnapshotAnswer(stagingDir, request.id, answer);
        }).catch((error) => {
          this.#log.error("could not answer a snapshot request", { db: entry.name, error });
        });
        entry.busy = run;
      }
    }
  }

  async #requestedSnapshot(entry: Entry, replica: string): Promise<SnapshotAnswer> {
    if (replica !== this.client.location) {
      throw new WalsyncError(
        `This walsync replicates "${entry.name}" to ${this.client.location}, not to ${replica}`,
      );
    }
    const { replicator } = entry;
    if (!replicator) {
      throw new WalsyncError(`"${entry.name}" is not replicated now: ${entry.reopenReason}`);
    }
    const { txid } = await replicator.snapshot("requested by walsync snapshot");
    const checksum = formatChecksum(replicator.databaseChecksum);
    while (entry.uploading) await sleep(UPLOAD_POLL_MS);
    await this.#uploadEntry(entry, true);
    if (txid === null || replicator.uploadedTxid < txid) {
      throw new WalsyncError(`The snapshot of "${entry.name}" was staged but not uploaded yet`);
    }
    return { ok: true, txid, checksum, replica: this.client.location };
  }

  /** The snapshot policy: on start-up if asked, then whenever a trigger fires. */
  async #maybeSnapshot(entry: Entry): Promise<void> {
    const { replicator } = entry;
    if (!replicator || replicator.stagingFull) return;
    const reason = entry.startupSnapshot ? "on_startup" : snapshotDue(
      entry.settings,
      replicator.snapshotHistory,
      { txid: replicator.txid, nowMs: Date.now() },
    );
    if (reason === null) return;
    entry.startupSnapshot = false;
    await replicator.snapshot(reason);
    if (entry.uploadFailures === 0) entry.nextUploadAt = 0;
  }

  async #uploadEntry(entry: Entry, final: boolean): Promise<void> {
    const replicator = entry.replicator;
    if (!replicator || entry.removed || entry.uploading || (this.#uploadSlots <= 0 && !final)) {
      return;
    }
    if (!this.#canUpload()) {
      if (!final) return;
      throw new UploadsPausedError(
        `Uploads of "${entry.name}" are paused: the replica's lease is not held right now (the replica does not answer); its files stay staged`,
      );
    }
    entry.uploading = true;
    this.#uploadSlots--;
    try {
      await replicator.upload(this.#options.abandonUploads);
      entry.uploadFailures = 0;
      entry.nextUploadAt = Date.now() + entry.settings.syncIntervalMs;
      this.#replicaReachable = true;
      if (replicator.needsSync) {
        // The replica must be re-seeded first: that happens in the database's sync.
        entry.dirty = true;
        entry.nextSyncAt = 0;
        this.#wake?.();
      }
    } catch (error) {
      entry.uploadFailures++;
      this.#replicaReachable = false;
      const backoff = Math.min(MAX_UPLOAD_BACKOFF_MS, 1000 * 2 ** (entry.uploadFailures - 1));
      entry.nextUploadAt = Date.now() + backoff * (0.5 + Math.random() / 2);
      entry.lastError = (error as Error).message;
      this.#log.warn("upload failed; staged files are kept and retried", {
        db: entry.name,
        error,
        retryInMs: Math.round(entry.nextUploadAt - Date.now()),
      });
      if (final) throw error;
    } finally {
      this.#uploadSlots++;
      entry.uploading = false;
    }
  }

  async #forEach(limit: number, fn: (entry: Entry) => Promise<void>): Promise<void> {
    const entries = [...this.#entries.values()];
    let next = 0;
    const workers = Array.from(
      { length: Math.max(1, Math.min(limit, entries.length)) },
      async () => {
        while (next < entries.length) await fn(entries[next++]);
      },
    );
    await Promise.all(workers);
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
