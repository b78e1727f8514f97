/**
 * Runs many databases from one process: polls each one every sync interval (a stat when
 * nothing changed), syncs sooner on file-system hints, and uploads staged files with bounded
 * concurrency and backoff, so an object-storage outage delays uploads but never blocks capture
 * or checkpoints. Each database's life (active, released when idle, reopened when its file is
 * replaced) is its `DatabaseSlot`; the supervisor schedules them and keeps the number of open
 * databases within the file-descriptor budget, releasing the longest-idle ones to make room.
 */
import { DatabaseError } from "../db/database.ts";
import { WalsyncError } from "../errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { ChangeWatcher } from "../watch/change_watcher.ts";
import type { CompactionPolicy } from "../compact/policy.ts";
import { CompactionScheduler } from "../compact/scheduler.ts";
import {
  type DatabaseObservation,
  type DatabaseSettings,
  DatabaseSlot,
  type DatabaseStatus,
  type OpenExtra,
  type SlotHost,
} from "./database_slot.ts";
import { FdBudget, FdBudgetError } from "./fd_budget.ts";
import { OpenRoom } from "./open_room.ts";
import { Replicator, type ReplicatorOptions } from "./replicator.ts";
import { countStagedFiles } from "./staging.ts";
import { UploadQueue } from "./upload_queue.ts";
import { type OnDemand, serveSnapshotRequests, snapshotNow } from "./snapshot_on_demand.ts";

export const DEFAULT_SYNC_INTERVAL_MS = 1000;
export const DEFAULT_SYNC_CONCURRENCY = 8;
/** Databases uploading at once: enough to keep up with many databases on a remote store. */
export const DEFAULT_UPLOAD_CONCURRENCY = 16;
/** Databases open at once unless the file-descriptor limit allows fewer. */
export const DEFAULT_MAX_OPEN = 256;
/**
 * A full snapshot a day (Litestream's default): compaction keeps restores short in between;
 * idle databases are never snapshotted.
 */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 86_400_000;
/** A database fully shipped and unchanged this long lets go of its files. */
export const DEFAULT_IDLE_RELEASE_MS = 30_000;
/** How often the loop wakes when the sync interval is 0 (events drive it otherwise). */
const MIN_TICK_MS = 50;

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
  /** How many databases may be open at once (default: from this process's fd limit). */
  fdBudget?: FdBudget;
  /**
   * At most this many databases open at once (default `DEFAULT_MAX_OPEN`): each open one
   * holds a SQLite connection (about 115 KB), and memory freed later is rarely given back,
   * so a start-up that opened every database at once would set the process's size for good.
   */
  maxOpen?: number;
  /**
   * Asked before every upload: false pauses them (e.g. while the replica's lease is being
   * taken or is in doubt) while capture goes on. Default: always true.
   */
  uploadGate?: UploadGate;
  /** Aborting it ends running and final uploads at once; their files stay staged. */
  abandonUploads?: AbortSignal;
  /**
   * Compaction levels and retention, applied to each database after it shipped something
   * new (see compact/scheduler.ts). Default: none (the replica keeps every file).
   */
  compaction?: CompactionPolicy;
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

export { UploadsPausedError } from "./upload_queue.ts";

/** Two paths (symlinks, hard links) name one database file: it is replicated once. */
export class DuplicateDatabaseError extends WalsyncError {}

export class Supervisor {
  readonly client: ReplicaClient;
  readonly syncIntervalMs: number;
  #log: Logger;
  #options: SupervisorOptions;
  #slots = new Map<string, DatabaseSlot>();
  /** Real database path → slot, for file-system hints. */
  #byRealPath = new Map<string, DatabaseSlot>();
  #watcher: ChangeWatcher | null;
  #wake: (() => void) | null = null;
  #stopping: Promise<StopSummary> | null = null;
  #syncSlots: number;
  #uploads: UploadQueue;
  #room: OpenRoom;
  #host: SlotHost;
  #onDemand: OnDemand;
  #compaction: CompactionScheduler | null = null;
  #stopCompaction = new AbortController();

  constructor(options: SupervisorOptions) {
    this.client = options.client;
    this.syncIntervalMs = options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.#log = options.logger ?? silentLogger;
    this.#options = options;
    this.#syncSlots = options.syncConcurrency ?? DEFAULT_SYNC_CONCURRENCY;
    this.#uploads = new UploadQueue({
      concurrency: options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
      log: this.#log,
      canUpload: () => this.#canUpload(),
      abandon: options.abandonUploads,
      wake: () => this.#wake?.(),
    });
    const budget = options.fdBudget ?? FdBudget.forProcess();
    budget.capTo(options.maxOpen ?? DEFAULT_MAX_OPEN);
    this.#room = new OpenRoom(budget, this.#log);
    this.#watcher = options.watch === false
      ? null
      : new ChangeWatcher((path) => this.notify(path), this.#log);
    if (options.compaction && options.compaction.levelIntervalsMs.length > 0) {
      this.#compaction = new CompactionScheduler({
        client: this.client,
        policy: options.compaction,
        logger: this.#log,
        signal: this.#stopCompaction.signal,
        onLevelZeroHole: (name, from, to) => this.#healLevelZeroHole(name, from, to),
      });
    }
    const uploads = this.#uploads;
    this.#onDemand = { uploads, log: this.#log, location: this.client.location };
    this.#host = {
      log: this.#log,
      open: (slot, extra) => this.#openFor(slot, extra),
      closed: (slot) => {
        this.#compaction?.release(slot.name);
        // Room for one: the longest-waiting database opens at the next round.
        const next = this.#room.closed();
        if (next) {
          next.openSoon();
          this.#wake?.();
        }
      },
      waiting: (slot) => this.#room.wait(slot),
      get replicaReachable() {
        return uploads.reachable;
      },
    };
  }

  /**
   * Starts replicating the database at `path` (absolute) under `name`, with `overrides` of the
   * supervisor's defaults for this database. Returns null when no file descriptor is free for
   * it now: it is then opened as soon as another database goes idle.
   */
  async add(
    path: string,
    name: string,
    overrides: Partial<DatabaseSettings> = {},
  ): Promise<Replicator | null> {
    if (this.#slots.has(path)) {
      throw new WalsyncError(`Database "${path}" is already being replicated`);
    }
    for (const slot of this.#slots.values()) {
      if (slot.name === name) {
        throw new WalsyncError(
          `Replica name "${name}" is used by both "${slot.path}" and "${path}"`,
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
      idleReleaseMs: DEFAULT_IDLE_RELEASE_MS,
      ...withoutUndefined(this.#options.defaults ?? {}),
      ...withoutUndefined(overrides),
    };
    const slot = new DatabaseSlot(this.#host, path, name, settings);
    let replicator: Replicator;
    try {
      // Said once for all databases by `reportFdBudget`, when the count is known.
      replicator = await this.#openFor(slot, { deferReplicaCheck: !this.#uploads.reachable }, {
        quiet: true,
      });
    } catch (error) {
      if (!(error instanceof FdBudgetError)) throw error;
      this.#slots.set(path, slot);
      slot.waitForRoom(error);
      this.#log.debug("waiting for a free file descriptor", { db: name, path });
      return null;
    }
    slot.attach(replicator);
    // A snapshot taken while opening (first sync, discontinuity) already serves.
    slot.startupSnapshot = settings.onStartup &&
      replicator.snapshotHistory.txid !== replicator.txid;
    this.#slots.set(path, slot);
    this.#byRealPath.set(replicator.path, slot);
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
   * Opens a replicator for `slot`: symlinks resolved (SQLite keeps the WAL beside the real
   * file), a file another slot holds under another path refused, room made under the budget.
   */
  async #openFor(
    slot: DatabaseSlot,
    extra: OpenExtra,
    options: { quiet?: boolean } = {},
  ): Promise<Replicator> {
    let realPath: string;
    try {
      realPath = await Deno.realPath(slot.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new DatabaseError(`Database "${slot.path}" does not exist`, { cause: error });
      }
      throw error;
    }
    this.#refuseDuplicate(slot.path, realPath, slot);
    return await this.#room.opening(slot, this.#slots, options.quiet ?? false, async () => {
      const replicator = await Replicator.open(realPath, {
        ...this.#options.replicator,
        ...withoutUndefined({
          checkpointPages: slot.settings.checkpointPages,
          truncatePages: slot.settings.truncatePages,
          idleCheckpointMs: slot.settings.idleCheckpointMs,
        }),
        ...extra,
        onUploaded: this.#compaction
          ? (info, mode) => this.#compaction?.shipped(slot.name, slot.stagingDir, info, mode)
          : undefined,
        watchedPath: slot.path,
        name: slot.name,
        client: this.client,
        logger: this.#log,
      });
      if (realPath !== slot.realPath) this.#byRealPath.delete(slot.realPath);
      this.#byRealPath.set(realPath, slot);
      return replicator;
    });
  }

  /**
   * After start-up: if the databases do not all fit under the file-descriptor limit, says so
   * once, naming how many there are and the limit that would keep them all open.
   */
  reportFdBudget(): void {
    this.#room.report(this.#slots.size);
  }

  /** Throws when another slot holds the file `realPath` names (one database, two paths). */
  #refuseDuplicate(path: string, realPath: string, self: DatabaseSlot): void {
    const info = Deno.statSync(realPath);
    if (info.ino === null) return;
    for (const slot of this.#slots.values()) {
      if (slot === self) continue;
      if (slot.identity.ino === info.ino && slot.identity.dev === info.dev) {
        throw new DuplicateDatabaseError(
          `"${path}" and "${slot.path}" are the same database file ("${realPath}"); walsync replicates it once, as "${slot.name}"`,
        );
      }
    }
  }

  /**
   * Stops replicating `path` (e.g. its file was deleted): finishes what runs, does a final
   * sync and upload, then releases the database.
   */
  async remove(path: string): Promise<void> {
    const slot = this.#slots.get(path);
    if (!slot) return;
    this.#slots.delete(path);
    this.#byRealPath.delete(slot.realPath);
    this.#watcher?.remove(slot.realPath);
    slot.removed = true;
    this.#compaction?.forget(slot.name);
    await this.#idle(slot);
    await slot.close({ upload: this.#canUpload(), signal: this.#options.abandonUploads });
    this.#log.info("stopped replicating", { db: slot.name, path });
  }

  /** A hint that the database at real path `path` changed: look at it soon. */
  notify(path: string): void {
    const slot = this.#byRealPath.get(path);
    if (!slot) return;
    slot.dirty = true;
    const replicator = slot.replicator;
    if (replicator?.pinMayBeIdle && !slot.movingPin) {
      // Right after walsync's checkpoint the pin may block every application checkpoint
      // (read slot 0): move it at once rather than at the next sync.
      slot.movingPin = true;
      const run = slot.busy.then(() => slot.replicator?.movePin()).catch((error) => {
        this.#log.warn("could not move the read pin", { db: slot.name, error });
      }).finally(() => {
        slot.movingPin = false;
      });
      slot.busy = run;
    }
    this.#wake?.();
  }

  get databases(): DatabaseStatus[] {
    return [...this.#slots.values()].map((slot) => slot.status());
  }

  /** Every database's status, counters and lag now (read-only; see src/observe/). */
  observe(nowMs = Date.now()): DatabaseObservation[] {
    return [...this.#slots.values()].map((slot) => slot.observe(nowMs));
  }

  /** Databases holding files open, and how many may (file-descriptor budget, max_open). */
  get openBudget(): { open: number; maxOpen: number; fdLimit: number | null } {
    return this.#room.usage;
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
    if (info.ino === null) return this.#slots.get(path)?.name ?? null;
    for (const slot of this.#slots.values()) {
      if (slot.identity.ino === info.ino && slot.identity.dev === info.dev) return slot.name;
    }
    return null;
  }

  /** Compaction's counters in the Prometheus text format ("" without compaction). */
  compactionMetrics(): string {
    return this.#compaction?.counters.render() ?? "";
  }

  /** Runs the compaction and retention passes due now, and waits for them (tests). */
  async compactDue(): Promise<void> {
    this.#compaction?.pump();
    await this.#compaction?.idle();
  }

  /** Syncs and uploads everything once (used by `--once`, tests and shutdown). */
  async syncAll(options: { force?: boolean } = {}): Promise<void> {
    await this.#forEach(this.#syncSlots, (slot) => this.#step(slot, options.force ?? true));
    await this.#forEach(this.#uploads.concurrency, (slot) => this.#uploads.upload(slot, true));
  }

  /** Runs until `signal` aborts, then does a final sync and upload and closes everything. */
  async run(signal: AbortSignal): Promise<void> {
    const tickMs = Math.max(MIN_TICK_MS, Math.min(this.syncIntervalMs, 1000));
    while (!signal.aborted) {
      const now = Date.now();
      const due = new Set(
        [...this.#slots.values()].filter((slot) =>
          now >= slot.dueAtMs &&
          (slot.dirty || slot.settings.syncIntervalMs > 0 || now - slot.dueAtMs >= 1000)
        ),
      );
      await this.#forEach(this.#syncSlots, async (slot) => {
        if (due.has(slot)) await this.#step(slot, false);
      });
      let nextAt = Date.now() + tickMs;
      for (const slot of this.#slots.values()) {
        // Only databases with staged files cost an upload attempt (idle ones cost nothing).
        if (slot.replicator?.hasPending) this.#uploads.enqueue(slot);
        nextAt = Math.min(nextAt, slot.dueAtMs);
      }
      this.#uploads.pump();
      this.#compaction?.pump();
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
    this.#uploads.resume(this.#slots.values());
    this.#wake?.();
  }

  /**
   * Final sync and upload of every database, then releases them (a released one changed since
   * it let go is opened for it). `upload: false` stops without writing to the replica; so does
   * a closed upload gate. Each database gets one upload attempt (it stops at its first
   * failure), and `abandonUploads` ends them at once; what is not uploaded stays staged.
   * Calling it again returns the same summary.
   */
  stop(options: { upload?: boolean } = {}): Promise<StopSummary> {
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: { upload?: boolean }): Promise<StopSummary> {
    this.#uploads.close();
    await this.#watcher?.close();
    this.#stopCompaction.abort();
    await this.#compaction?.idle();
    const abandon = this.#options.abandonUploads;
    let stagedFiles = 0;
    await this.#forEach(this.#syncSlots, async (slot) => {
      await this.#idle(slot);
      if (!slot.replicator && !abandon?.aborted) await slot.step(true).catch(() => {});
      const upload = (options.upload ?? true) && this.#canUpload() && !abandon?.aborted;
      await slot.close({ upload, signal: abandon, quiet: abandon?.aborted });
      if (slot.stagingDir) stagedFiles += await countStagedFiles(slot.stagingDir).catch(() => 0);
    });
    this.#slots.clear();
    this.#byRealPath.clear();
    return { stagedFiles };
  }

  #canUpload(): boolean {
    return this.#options.uploadGate?.canUpload() ?? true;
  }

  /** Waits until nothing runs on `slot`: its queue and any upload. */
  async #idle(slot: DatabaseSlot): Promise<void> {
    await slot.busy;
    await this.#uploads.idle(slot);
  }

  async #step(slot: DatabaseSlot, force: boolean): Promise<void> {
    const run = slot.busy.then(() => slot.step(force));
    slot.busy = run;
    await run;
  }

  /**
   * Answers `walsync snapshot` requests waiting in the databases' staging directories (the
   * command sends SIGUSR1 after writing one). Only called on demand.
   */
  async serveSnapshotRequests(): Promise<void> {
    await serveSnapshotRequests(this.#slots.values(), this.#onDemand);
  }

  /**
   * Compaction found TXIDs `fromTxid..toTxid` missing from level 0, no snapshot bridging them.
   * While staging still holds them (not uploaded yet), their upload heals the hole: false.
   * Otherwise they are lost for good, and only a snapshot starts a new chain past them: it is
   * taken now, in the database's queue, as `walsync snapshot` would (true).
   */
  #healLevelZeroHole(name: string, fromTxid: number, toTxid: number): Promise<boolean> {
    const slot = [...this.#slots.values()].find((s) => s.name === name);
    if (!slot || slot.removed || this.#stopping) return Promise.resolve(false);
    const run = slot.busy.then(async () => {
      if (slot.removed || this.#stopping) return false;
      if (!slot.replicator) await slot.step(true, { open: true });
      const uploaded = slot.replicator?.uploadedTxid ?? 0;
      if (uploaded < fromTxid) return false; // still staged: its upload heals the hole
      this.#log.warn(
        "level 0 of the replica lost TXIDs that staging no longer holds; taking a snapshot so compaction continues past them",
        { db: name, missingTxids: `${fromTxid}-${toTxid}` },
      );
      const { txid } = await snapshotNow(slot, "a hole in level 0", this.#onDemand);
      this.#log.info("snapshot taken to heal a hole in level 0", { db: name, txid });
      return true;
    });
    slot.busy = run.then(() => {}, () => {});
    return run;
  }

  async #forEach(limit: number, fn: (slot: DatabaseSlot) => Promise<void>): Promise<void> {
    const slots = [...this.#slots.values()];
    let next = 0;
    const workers = Array.from(
      { length: Math.max(1, Math.min(limit, slots.length)) },
      async () => {
        while (next < slots.length) await fn(slots[next++]);
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
