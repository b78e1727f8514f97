/** `walsync watch [DB...] [--config FILE]`: the daemon. */
import { DatabaseSync } from "node:sqlite";
import {
  resolveDatabases,
  type ResolvedDatabase,
  type WalsyncConfig,
} from "../config/config_file.ts";
import { effectiveSettings, parseSyncFlags, settingValues } from "../config/effective_settings.ts";
import {
  COMPACTION_FLAG_SPEC,
  COMPACTION_FLAGS_HELP,
  resolveCompactionPolicy,
} from "../config/compaction_settings.ts";
import type { SyncSettings } from "../config/config_schema.ts";
import { UsageError, WalsyncError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DatabaseSettings } from "../replicate/database_slot.ts";
import { type StopSummary, Supervisor } from "../replicate/supervisor.ts";
import { DEFAULT_DISCOVERY_INTERVAL_MS, Discovery } from "../watch/discovery.ts";
import { absolutePath, type FlagSpec, parseCommandArgs, stringFlag } from "./args.ts";
import {
  configDatabaseFor,
  loadCommandConfig,
  openCommandReplica,
  replicaNameFor,
  SYNC_FLAG_SPEC,
} from "./command_config.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { makeLogger, writeOut } from "./output.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";
import { type HeldLease, holdReplicaLease } from "./replica_lease.ts";
import { MeteredReplicaClient, StoreStats } from "../replica/metered_replica_client.ts";
import { OPS_FLAGS, OPS_FLAGS_HELP, opsSettings, WatchOps } from "./watch_ops.ts";

export const WATCH_HELP = `Usage: walsync watch [DB...] [-b URL] [--config FILE] [options]

Replicates every committed transaction of each database to the replica until stopped.
Databases come from the command line or, without any, from [[databases]] in walsync.toml
(files and globs; globs are listed again every 10s, so new tenants' databases are picked up
while running). SIGINT/SIGTERM do a final sync and upload (at most 30s), then exit 0, or
exit 1 naming how many files stay staged for the next start; a second signal abandons the
final upload at once.

Options:
${REPLICA_FLAGS_HELP}
      --sync-interval D   How often changes are shipped (default 1s; 0 = as soon as seen)
      --snapshot-interval D
                          Full snapshot when the last is older than D and the database
                          changed since (default 24h; 0 = off). Only level 9 holds
                          the whole database; level 0 gets the changed pages
      --max-changes N     Full snapshot once N WAL pages were shipped since the last one
                          (default 0 = off)
      --max-interval D    Full snapshot at most D after the first change since the last
                          one (default 0 = off)
      --on-idle D         Full snapshot once a changed database has been quiet for D
                          (default 0 = off)
      --on-startup[=false]
                          Full snapshot of every changed database when watch starts
      --checkpoint-pages N
                          Checkpoint (PASSIVE) once the WAL holds N frames (default 1000)
      --checkpoint-idle D Checkpoint a WAL unchanged for D (default 1m)
      --truncate-pages N  Above N frames also TRUNCATE the WAL file (default 121359)
      --idle-release D    Let go of a database's files once it is fully shipped and
                          unchanged for D; a stat per interval then watches it, and it
                          opens again at its first change (default 30s; 0 = never)
      --max-open N        Databases open at once (default 256, fewer if the fd limit says so);
                          the others wait, and idle ones are released to make room
      --max-staging SIZE  Stop capturing while this much waits for upload (default 1GiB);
                          the WAL keeps every frame meanwhile
${COMPACTION_FLAGS_HELP}
      --create            Create a database given on the command line that does not exist
      --once              Sync and upload everything once, then exit
      --log-format F      text or json (default: text on a terminal, json otherwise)
      --log-level L       debug, info, warn or error (default info)
${OPS_FLAGS_HELP}

Durations: 500ms, 5s, 1m, 1h or integer seconds. Sizes: 512MiB, 1GiB or bytes.
Precedence: a flag beats the database's [[databases]] entry, which beats [sync], which
beats the default ("walsync explain" shows where each value comes from). Databases given on
the command line replace the config's [[databases]] but keep its settings and names.

A database's replica name is its file name (/data/app.db → app.db), or what walsync.toml
says: a glob's matches are named by their path below the glob's fixed part
(tenants/*/app.db → a/app.db, b/app.db). The file replica layout is
<dir>/<name>/ltx/<level>/<min>-<max>.ltx, the one Litestream 0.5 reads.
Applications should set busy_timeout (e.g. 5000 ms): walsync briefly takes the write
lock during its checkpoints.

Examples:
  walsync watch app.db -b file:///var/backups/walsync
  walsync watch /data/a.db /data/b.db -b s3://backups/prod --endpoint http://127.0.0.1:9000
  walsync watch --config /etc/walsync.toml
  walsync watch app.db -b file:///backups --snapshot-interval 30m --max-changes 10000
  walsync watch --config /etc/walsync.toml --metrics-addr 127.0.0.1:9090
  walsync watch /data/app.db -b s3://backups/app --exec "/app/server --port 8080"`;

/** A database that keeps failing is logged again this often (and when the reason changes). */
const REPEAT_FAILURE_LOG_MS = 5 * 60_000;
/** Failing databases named in the start-up error before "and N more". */
const MAX_FAILURES_SHOWN = 5;
/** After the first signal, the final upload gets this long before it is abandoned. */
export const DEFAULT_FINAL_UPLOAD_TIMEOUT_MS = 30_000;
/** A signal this soon after the first is a copy of it (see `StopSignals`). */
const DUPLICATE_SIGNAL_MS = 1_000;
/** After a second signal, walsync exits at once if it has not stopped within this. */
const FORCE_EXIT_GRACE_MS = 5_000;

const WATCH_FLAGS: FlagSpec = {
  ...REPLICA_FLAGS,
  ...SYNC_FLAG_SPEC,
  ...COMPACTION_FLAG_SPEC,
  ...OPS_FLAGS,
  create: { type: "boolean" },
  once: { type: "boolean" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
};

interface WatchedDatabase {
  path: string;
  name: string;
  settings: SyncSettings;
}

export async function watchCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("watch", args, WATCH_FLAGS);
  if (parsed.values.help) {
    writeOut(WATCH_HELP);
    return EXIT_OK;
  }
  const flags = parseSyncFlags(parsed.values);
  const config = await loadCommandConfig(parsed);
  const logger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? config?.log.level,
  );
  const fromCommandLine = parsed.positionals.length > 0;
  if (!fromCommandLine && (config === null || config.databases.length === 0)) {
    throw new UsageError(
      'watch needs databases: give their paths, or list them as [[databases]] in walsync.toml (run "walsync help watch")',
    );
  }
  if (parsed.values.create && !fromCommandLine) {
    throw new UsageError("--create applies to databases given on the command line");
  }
  const databases = fromCommandLine
    ? commandLineDatabases(parsed.positionals, flags, config)
    : null;
  // At start-up a bad [[databases]] section (collisions, directories) is a config error;
  // later, discovery only logs what a new file breaks and keeps replicating the rest.
  const initial = databases ? null : await resolveDatabases(config!);
  if (databases && parsed.values.create) {
    for (const database of databases) createIfMissing(database.path);
  }
  const client = await openCommandReplica("watch", parsed, config, { logger });
  const global = settingValues(effectiveSettings(flags, config, null));
  const compaction = resolveCompactionPolicy(parsed.values, config?.compaction).policy;
  const ops = new WatchOps(opsSettings(parsed, config, global.syncIntervalMs), logger);

  // Listen before opening anything: a signal during startup still ends in a clean stop.
  const controller = new AbortController();
  // Exec mode: a signal goes to the application, whose exit stops walsync.
  const stop = new StopSignals(logger, ops.stopOn(controller), () => ops.childExited);
  // `walsync snapshot` on a database this daemon replicates leaves a request and sends SIGUSR1.
  const servesSnapshotRequests = Deno.build.os !== "windows";
  let lease: HeldLease | null = null;
  const storeStats = new StoreStats();
  const supervisor = new Supervisor({
    client: new MeteredReplicaClient(client, storeStats),
    syncIntervalMs: global.syncIntervalMs,
    logger,
    replicator: { maxStagingBytes: global.maxStagingBytes, servesSnapshotRequests },
    maxOpen: global.maxOpen,
    // Until the replica's lease is held, capture runs and uploads wait.
    uploadGate: { canUpload: () => lease?.canUpload() ?? false },
    abandonUploads: stop.abandon,
    compaction,
  });
  const onSnapshotRequest = () => void supervisor.serveSnapshotRequests();
  if (servesSnapshotRequests) Deno.addSignalListener("SIGUSR1", onSnapshotRequest);
  let summary: StopSummary = { stagedFiles: 0 };
  try {
    lease = await holdReplicaLease(client, {
      logger,
      controller,
      waitForStorage: !parsed.values.once,
      onHeld: () => supervisor.resumeUploads(),
    });
    const held = lease;
    ops.start({ supervisor, replica: client, store: storeStats, lease: () => held.state });
    ops.addMetrics(() => supervisor.compactionMetrics());
    const failures = new FailureLog(logger);
    const sameAs = (path: string) => supervisor.replicatedAs(path);
    let discovery: Discovery<DiscoveredDatabase>;
    let tried: number;
    if (databases) {
      // Named on the command line: each must open now; those that fail are retried below.
      for (const database of databases) {
        if (controller.signal.aborted) break;
        try {
          await supervisor.add(database.path, database.name, databaseSettings(database.settings));
        } catch (error) {
          failures.failed(database.path, error);
        }
      }
      tried = databases.length;
      discovery = new Discovery(() => Promise.resolve(databases), logger, { sameAs });
      for (const { path } of supervisor.databases) discovery.markKnown(path);
    } else {
      discovery = configDiscovery(config!, initial!, flags, logger, sameAs);
      tried = (await addDiscovered(supervisor, discovery, failures, controller.signal)).tried;
    }
    supervisor.reportFdBudget();
    if (supervisor.databases.length === 0 && failures.count > 0) {
      throw new WalsyncError(
        `No database could be replicated (${tried} tried): ${failures.summary()}`,
      );
    }
    if (parsed.values.once) {
      await supervisor.syncAll();
    } else {
      logger.info("watching", {
        databases: supervisor.databases.length,
        ...(failures.count > 0 ? { failing: failures.count } : {}),
        replica: client.location,
        syncInterval: `${global.syncIntervalMs}ms`,
      });
      const discovering = discoverUntilAborted(supervisor, discovery, failures, {
        signal: controller.signal,
        // Configured databases whose file is gone are let go; a path named on the command line
        // is waited for (the supervisor reopens it when a database appears there again).
        removeGone: databases === null,
        logger,
      });
      // A database the application created since the last listing is shipped too.
      const lastLook = () =>
        addDiscovered(supervisor, discovery, failures, new AbortController().signal);
      await ops.startChild(supervisor, controller, lastLook);
      await supervisor.run(controller.signal);
      await discovering;
    }
  } finally {
    await ops.stopChild(); // its last writes belong in the final sync
    summary = await supervisor.stop({ upload: lease?.lost === null });
    await ops.close();
    controller.abort();
    if (stop.forced) await lease?.abandon();
    else await lease?.release();
    stop.close();
    if (servesSnapshotRequests) Deno.removeSignalListener("SIGUSR1", onSnapshotRequest);
  }
  if (lease?.lost) throw lease.lost;
  const staged = `${summary.stagedFiles} staged file${summary.stagedFiles === 1 ? "" : "s"}`;
  if (stop.forced) {
    logger.warn(`second signal: abandoning the final upload; ${staged} kept for the next start`);
    throw new WalsyncError(
      `Stopped by a second signal before the final upload finished; ${staged} kept for the next start`,
    );
  }
  if (summary.stagedFiles > 0) {
    // Exit 0 would claim the replica is complete: say what is missing instead.
    throw new WalsyncError(
      `Stopped with ${staged} not uploaded (the replica did not take them); they stay staged and the next start uploads them`,
    );
  }
  return ops.childExit?.code ?? EXIT_OK;
}

type DiscoveredDatabase = { path: string; name: string; settings: SyncSettings };

/**
 * Databases that could not be replicated: logged at error level when they first fail or the
 * reason changes, and again every few minutes while it lasts, never every round.
 */
class FailureLog {
  #failing = new Map<string, { message: string; loggedAtMs: number }>();
  #log: Logger;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  get count(): number {
    return this.#failing.size;
  }

  failed(path: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const now = Date.now();
    const last = this.#failing.get(path);
    if (last?.message === message && now - last.loggedAtMs < REPEAT_FAILURE_LOG_MS) return;
    this.#failing.set(path, { message, loggedAtMs: now });
    this.#log.error("cannot replicate database; retrying", { path, error: message });
  }

  succeeded(path: string): void {
    this.#failing.delete(path);
  }

  /** One line naming every failing database and why (the first few of many). */
  summary(): string {
    const shown = [...this.#failing].slice(0, MAX_FAILURES_SHOWN)
      .map(([path, { message }]) => `"${path}": ${message}`);
    const more = this.#failing.size - shown.length;
    return `${shown.join("; ")}${more > 0 ? `; and ${more} more` : ""}`;
  }
}

/**
 * SIGINT/SIGTERM: the first stops walsync with a final sync and upload, bounded by
 * DEFAULT_FINAL_UPLOAD_TIMEOUT_MS. A second abandons the final upload (staged files stay for
 * the next start); should that not end walsync within FORCE_EXIT_GRACE_MS, or a third signal
 * come, the process exits at once: everything on disk is durable, as after a crash.
 */
class StopSignals {
  readonly #abandon = new AbortController();
  #logger: Logger;
  #controller: AbortController;
  #signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  #firstAt: number | null = null;
  #count = 0;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #onSignal = () => this.#received();

  /** Exec mode: the final upload's time starts when the application has exited. */
  #finalUploadStarts: () => Promise<void>;

  constructor(
    logger: Logger,
    controller: AbortController,
    finalUploadStarts: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.#logger = logger;
    this.#controller = controller;
    this.#finalUploadStarts = finalUploadStarts;
    for (const signal of this.#signals) Deno.addSignalListener(signal, this.#onSignal);
  }

  /** Aborted by a second signal, or when the final upload runs out of time. */
  get abandon(): AbortSignal {
    return this.#abandon.signal;
  }

  /** A second signal asked to quit without the final upload. */
  get forced(): boolean {
    return this.#count >= 2;
  }

  close(): void {
    for (const signal of this.#signals) Deno.removeSignalListener(signal, this.#onSignal);
    for (const timer of this.#timers) clearTimeout(timer);
  }

  #received(): void {
    const now = Date.now();
    if (this.#firstAt === null) {
      this.#firstAt = now;
      this.#count = 1;
      this.#logger.info("stopping: final sync and upload");
      this.#controller.abort();
      void this.#finalUploadStarts().then(() => {
        this.#timers.push(setTimeout(() => {
          this.#logger.warn("the final upload is taking too long; abandoning it", {
            timeoutMs: DEFAULT_FINAL_UPLOAD_TIMEOUT_MS,
          });
          this.#abandon.abort();
        }, DEFAULT_FINAL_UPLOAD_TIMEOUT_MS));
      });
      return;
    }
    // One Ctrl-C reaches every process of the terminal's group, and `deno task` forwards it
    // too: a copy arriving with the first is the same request.
    if (now - this.#firstAt < DUPLICATE_SIGNAL_MS) return;
    this.#count++;
    if (this.#count === 2) {
      this.#abandon.abort();
      this.#timers.push(setTimeout(() => this.#exitNow(), FORCE_EXIT_GRACE_MS));
      return;
    }
    this.#exitNow();
  }

  #exitNow(): never {
    this.#logger.error("exiting at once: the final upload is abandoned, staged files stay");
    Deno.exit(EXIT_FAILURE);
  }
}

/** Databases named on the command line, with the config's names and settings for them. */
function commandLineDatabases(
  paths: string[],
  flags: Partial<SyncSettings>,
  config: WalsyncConfig | null,
): WatchedDatabase[] {
  const byName = new Map<string, string>();
  const byFile = new Map<string, string>();
  const databases: WatchedDatabase[] = [];
  for (const arg of paths) {
    const path = absolutePath(arg);
    // Two paths to one file (a symlink, a hard link) are one database, replicated once.
    const file = fileKey(path);
    const same = file === null ? undefined : byFile.get(file);
    if (same !== undefined && same !== path) {
      throw new UsageError(
        `"${same}" and "${path}" are the same database file; name it once`,
      );
    }
    if (file !== null) byFile.set(file, path);
    const name = replicaNameFor(config, path);
    const other = byName.get(name);
    if (other === path) continue;
    if (other !== undefined) {
      throw new UsageError(
        `Databases "${other}" and "${path}" would share the replica name "${name}"; watch them from walsync.toml with distinct names`,
      );
    }
    byName.set(name, path);
    const entry = configDatabaseFor(config, path)?.entry ?? null;
    databases.push({
      path,
      name,
      settings: settingValues(effectiveSettings(flags, config, entry)),
    });
  }
  return databases;
}

/** The config's databases, as they appear: globs are listed again on every round. */
function configDiscovery(
  config: WalsyncConfig,
  initial: ResolvedDatabase[],
  flags: Partial<SyncSettings>,
  logger: Logger,
  sameAs: (path: string) => string | null,
): Discovery<DiscoveredDatabase> {
  let lastError = "";
  // The first round uses the listing start-up already made (and checked); later ones list anew.
  let first: ResolvedDatabase[] | null = initial;
  return new Discovery(
    async () => {
      let resolved: ResolvedDatabase[];
      try {
        resolved = first ?? await resolveDatabases(config);
        first = null;
      } catch (error) {
        // A new file that collides with another name must not stop the daemon: log it (once).
        const message = (error as Error).message;
        if (message !== lastError) logger.error("walsync.toml databases", { error });
        lastError = message;
        if (!(error instanceof WalsyncError)) throw error;
        return [];
      }
      lastError = "";
      return resolved.map((database) => ({
        ...database,
        settings: settingValues(effectiveSettings(flags, config, database.entry)),
      }));
    },
    logger,
    { sameAs },
  );
}

/** Adds the databases discovery found; returns how many it tried. */
async function addDiscovered(
  supervisor: Supervisor,
  discovery: Discovery<DiscoveredDatabase>,
  failures: FailureLog,
  signal: AbortSignal,
): Promise<{ tried: number }> {
  let tried = 0;
  for (const database of await discovery.findNew()) {
    if (signal.aborted) break;
    tried++;
    try {
      await supervisor.add(database.path, database.name, databaseSettings(database.settings));
      discovery.markKnown(database.path);
      failures.succeeded(database.path);
    } catch (error) {
      // Tried again next round (e.g. locked by an application creating it).
      failures.failed(database.path, error);
    }
  }
  return { tried };
}

async function discoverUntilAborted(
  supervisor: Supervisor,
  discovery: Discovery<DiscoveredDatabase>,
  failures: FailureLog,
  options: { signal: AbortSignal; removeGone: boolean; logger: Logger },
): Promise<void> {
  const { signal, logger } = options;
  while (!signal.aborted) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, DEFAULT_DISCOVERY_INTERVAL_MS);
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
    if (signal.aborted) break;
    await addDiscovered(supervisor, discovery, failures, signal);
    if (!options.removeGone) continue;
    // A database file that is gone (a tenant deleted): stop replicating it, and free its
    // connection and staging lock; its replica stays.
    for (const database of supervisor.databases) {
      if (signal.aborted || (await fileExists(database.path))) continue;
      logger.info("database file is gone; stopping its replication", {
        db: database.name,
        path: database.path,
      });
      await supervisor.remove(database.path);
      discovery.forget(database.path);
    }
  }
}

/** Path-based (never opens the file, so no SQLite lock can be dropped). */
async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function databaseSettings(settings: SyncSettings): DatabaseSettings {
  return {
    syncIntervalMs: settings.syncIntervalMs,
    snapshotIntervalMs: settings.snapshotIntervalMs,
    maxChanges: settings.maxChanges,
    maxIntervalMs: settings.maxIntervalMs,
    onIdleMs: settings.onIdleMs,
    onStartup: settings.onStartup,
    checkpointPages: settings.checkpointPages,
    truncatePages: settings.truncatePages,
    idleCheckpointMs: settings.checkpointIdleMs,
    idleReleaseMs: settings.idleReleaseMs,
  };
}

/** Device and inode of the file `path` names (symlinks followed), or null if there is none. */
function fileKey(path: string): string | null {
  try {
    const info = Deno.statSync(path);
    return info.ino === null ? null : `${info.dev}:${info.ino}`;
  } catch {
    return null;
  }
}

/** `--create`: a missing (or still empty) database becomes an empty one in WAL mode. */
function createIfMissing(path: string): void {
  try {
    if (Deno.statSync(path).size > 0) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.close();
}
