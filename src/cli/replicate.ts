/**
 * `walsync replicate NAME -b URL -o PATH`: a read replica. Restores NAME (verified), then keeps
 * the copy current, applying each new TXID atomically for SQLite readers.
 * `walsync replicate --all -o DIR` (or a glob over replica names) follows many in one process.
 */
import { parseDuration } from "../config/duration.ts";
import { globToRegExp, isGlob } from "../config/glob.ts";
import { UsageError } from "../errors.ts";
import { refuseForeignCopy } from "../follow/copy_restore.ts";
import { acquireFollowLock, followLockPath } from "../follow/follow_lock.ts";
import { FollowSet, type FollowTargets } from "../follow/follow_set.ts";
import { startControlSocket } from "../observe/control_socket.ts";
import { startFollowerMetricsServer } from "../observe/follower_metrics.ts";
import { followerStatusReport } from "../observe/follower_status_report.ts";
import { parseListenAddress } from "../observe/http_server.ts";
import { absolutePath, type FlagSpec, parseCommandArgs, stringFlag } from "./args.ts";
import { loadCommandConfig, openCommandReplica, restoreNameFor } from "./command_config.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { onInterrupt } from "./interrupt.ts";
import { makeLogger, writeOut } from "./output.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";

export const REPLICATE_HELP = `Usage: walsync replicate NAME -b URL -o PATH [options]
       walsync replicate --all -b URL -o DIR [options]
       walsync replicate 'PATTERN' -b URL -o DIR [options]

A read replica: restores database NAME from the replica into PATH (every object's SHA-256
and the database checksum verified, as "walsync restore" does), then polls the replica and
applies every new TXID in order, each one atomically for readers. With --all, every
database in the replica is followed into DIR/NAME, and databases that appear later are
picked up; a PATTERN (*, ?, [..], ** over replica names, e.g. 'tenants/*.db') follows the
matching ones. One process follows thousands of databases; none holds a file open between
polls.

The copy is a rollback-journal database (journal_mode=DELETE). Open it read-only with any
SQLite and set busy_timeout (e.g. 5000 ms): while walsync applies a TXID it holds SQLite's
EXCLUSIVE lock, so a reader waits briefly or reads the previous state, never a mix. Do not
write to the copy. Beside it walsync keeps PATH.walsync-follow (the TXID and database
checksum reached): on restart the copy is checked against it, a journal left by a killed
apply is rolled back, and a copy that does not match is restored again. Level-0 files
compacted away are bridged from higher levels; a reset primary or a TXID larger than
16 MiB restores the latest state and copies it over the copy in place, atomically; a
page-size change renames a new file onto PATH (readers must reopen to see it). An object
that does not verify stops following that database at error level; anything else is
logged and retried. "walsync status" lists a running replicate as a follower (per
database: copy TXID, replica TXID, lag, state, last error) through its control socket,
as it lists "watch".

Options:
  -o, --output PATH       The copy (with --all or a PATTERN: the directory for copies)
${REPLICA_FLAGS_HELP}
      --all               Follow every database in the replica
      --interval D        How often each database polls the replica (default 1s)
      --discover-interval D
                          How often --all or a PATTERN lists the replica for new
                          databases (default 10s)
      --once              Catch up once and exit (0 if every database followed verified)
      --metrics-addr A    Serve GET /metrics (per database: TXID, lag, last poll age),
                          GET /health (503 while a database fails or stopped) and
                          GET /status (what "walsync status" shows) on A, e.g.
                          127.0.0.1:9091 (":9091" binds loopback); default off
      --log-format F      text or json
      --log-level L       debug, info, warn or error

Exit codes: 0 stopped by SIGINT/SIGTERM (or --once caught up), 1 a database stopped or
failed, 2 usage error.

Examples:
  walsync replicate app.db -b s3://backups/wal -o /srv/replica/app.db
  walsync replicate app.db -b file:///var/backups/walsync -o ./app.db --interval 500ms
  walsync replicate --all -b s3://backups/wal -o /srv/replicas
  walsync replicate 'tenants/*.db' -b s3://backups/wal -o /srv/replicas --interval 5s`;

const REPLICATE_FLAGS: FlagSpec = {
  ...REPLICA_FLAGS,
  output: { type: "string", short: "o" },
  all: { type: "boolean" },
  interval: { type: "string" },
  "discover-interval": { type: "string" },
  once: { type: "boolean" },
  "metrics-addr": { type: "string" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
};

/** Tests only: apply without lock or journal, to show the reader test catches torn reads. */
const UNSAFE_ENV = "WALSYNC_FOLLOW_UNSAFE_APPLY";

export async function replicateCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("replicate", args, REPLICATE_FLAGS);
  if (parsed.values.help) {
    writeOut(REPLICATE_HELP);
    return EXIT_OK;
  }
  const all = parsed.values.all === true;
  if (all ? parsed.positionals.length !== 0 : parsed.positionals.length !== 1) {
    throw new UsageError(
      all
        ? "replicate --all takes no NAME; use a PATTERN without --all to follow some databases"
        : 'replicate needs exactly one NAME or PATTERN, or --all, e.g. "walsync replicate app.db -b file:///dir -o app.db"',
    );
  }
  const outputFlag = stringFlag(parsed, "output");
  if (!outputFlag) {
    throw new UsageError(
      "replicate needs -o PATH, the copy (with --all or a PATTERN, a directory)",
    );
  }
  const output = absolutePath(outputFlag).replace(/\/+$/, "") || "/";
  const intervalMs = durationFlag(parsed.values.interval, "--interval", 1000);
  const discoverIntervalMs = durationFlag(
    parsed.values["discover-interval"],
    "--discover-interval",
    10_000,
  );
  const config = await loadCommandConfig(parsed);
  const logger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? config?.log.level,
  );
  const pattern = all ? null : parsed.positionals[0];
  let targets: FollowTargets;
  if (pattern === null || isGlob(pattern)) {
    if (isDirectoryOrMissing(output) === false) {
      throw new UsageError(`-o "${output}" must be a directory when following many databases`);
    }
    targets = { kind: "many", dir: output, match: pattern === null ? null : globToRegExp(pattern) };
  } else {
    if (isDirectoryOrMissing(output) === true) {
      throw new UsageError(`-o "${output}" is a directory; give the path of the copy`);
    }
    targets = { kind: "one", name: restoreNameFor(config, pattern), path: output };
    refuseForeignCopy(output, { name: targets.name });
  }
  const metricsFlag = stringFlag(parsed, "metrics-addr");
  const metricsAddress = metricsFlag === undefined
    ? undefined
    : parseListenAddress(metricsFlag, "--metrics-addr");
  const client = await openCommandReplica("replicate", parsed, config);
  const unsafe = Deno.env.get(UNSAFE_ENV) === "1";
  if (unsafe) logger.warn(`${UNSAFE_ENV}=1: applying WITHOUT locks or journal (tests only)`);
  const lock = await acquireFollowLock(followLockPath(targets));
  const interrupt = new AbortController();
  const stopListening = onInterrupt(() => interrupt.abort());
  try {
    const set = new FollowSet({
      client,
      logger,
      targets,
      intervalMs,
      discoverIntervalMs,
      once: parsed.values.once === true,
      unsafe,
    });
    const startedAtMs = Date.now();
    const report = () =>
      followerStatusReport({ statuses: set.status(), replica: client.location, startedAtMs });
    const metrics = metricsAddress &&
      startFollowerMetricsServer({
        address: metricsAddress,
        status: () => set.status(),
        report,
        logger,
      });
    // `walsync status` finds this process as it finds a `watch` (not with --once: it exits).
    const socket = parsed.values.once === true ? null : startControlSocket(report, logger);
    let summary;
    try {
      summary = await set.run(interrupt.signal);
    } finally {
      await socket?.close();
      await metrics?.close();
    }
    logger.info("replicate stopped", {
      followed: summary.followed,
      stopped: summary.stopped.length,
      failing: summary.failing.length,
    });
    return summary.stopped.length + summary.failing.length > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    stopListening();
    lock.close();
  }
}

function durationFlag(value: unknown, flag: string, fallback: number): number {
  if (typeof value !== "string") return fallback;
  const ms = parseDuration(value, flag);
  if (ms <= 0) throw new UsageError(`${flag} "${value}" must be longer than 0`);
  return ms;
}

/** True for a directory, false for anything else that exists, null if nothing is there. */
function isDirectoryOrMissing(path: string): boolean | null {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
