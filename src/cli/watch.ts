/** `walsync watch [DB...] [--config FILE]`: the daemon. */
import { DatabaseSync } from "node:sqlite";
import { resolveDatabases } from "../config/config_file.ts";
import { effectiveSettings, parseSyncFlags, settingValues } from "../config/effective_settings.ts";
import {
  COMPACTION_FLAG_SPEC,
  COMPACTION_FLAGS_HELP,
  resolveCompactionPolicy,
} from "../config/compaction_settings.ts";
import { UsageError, WalsyncError } from "../errors.ts";
import { type StopSummary, Supervisor } from "../replicate/supervisor.ts";
import { Discovery } from "../watch/discovery.ts";
import { type FlagSpec, parseCommandArgs, stringFlag } from "./args.ts";
import { loadCommandConfig, openCommandReplica, SYNC_FLAG_SPEC } from "./command_config.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { makeLogger, writeOut } from "./output.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";
import { type HeldLease, holdReplicaLease } from "./replica_lease.ts";
import { MeteredReplicaClient, StoreStats } from "../replica/metered_replica_client.ts";
import { OPS_FLAGS, OPS_FLAGS_HELP, opsSettings, WatchOps } from "./watch_ops.ts";
import { StopSignals } from "./stop_signals.ts";
import {
  addDiscovered,
  commandLineDatabases,
  configDiscovery,
  databaseSettings,
  type DiscoveredDatabase,
  discoverUntilAborted,
  FailureLog,
} from "./watch_databases.ts";

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
