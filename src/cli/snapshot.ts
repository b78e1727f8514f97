/** `walsync snapshot DB -b URL`: an immediate full snapshot (level 9) of one database. */
import { formatChecksum } from "../checksum/database_checksum.ts";
import { formatTxid, SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { Replicator } from "../replicate/replicator.ts";
import { UsageError, WalsyncError } from "../errors.ts";
import { processAlive } from "../process_alive.ts";
import type { Logger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { readLockOwner, StagingLockedError } from "../replicate/staging.ts";
import { waitForSnapshotAnswer, writeSnapshotRequest } from "../replicate/snapshot_request.ts";
import { parseCommandArgs, stringFlag } from "./args.ts";
import { resolveCommandDatabase } from "./command_config.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { createProgress } from "./progress.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";
import { type HeldLease, holdReplicaLease } from "./replica_lease.ts";
import { makeLogger, writeJson, writeOut } from "./output.ts";

/** How long to wait for a running walsync to take and upload a requested snapshot. */
const REQUEST_TIMEOUT_MS = 30 * 60_000;

export const SNAPSHOT_HELP = `Usage: walsync snapshot DB [-b URL] [options]

Takes a full snapshot of database DB now: first ships any commits not yet replicated, then
stores the whole database as the next TXID at level 0 and as a level-9 snapshot (1-TXID),
and uploads both before exiting. Restores after this read the snapshot plus what follows.
DB is a database file, or a replica name walsync.toml gives one (as "walsync list" shows
it: a/app.db for tenants/*/app.db), as restore and verify take it.

When a running "walsync watch" replicates the database (it holds the database's staging
lock), the command asks it instead (a request file beside the database, then SIGUSR1) and
waits for it to take and upload the snapshot; the replica must be the one it writes to. A
daemon also takes snapshots by itself (see [sync] snapshot_interval, max_changes,
max_interval, on_idle, on_startup in walsync.toml).

Options:
${REPLICA_FLAGS_HELP}
      --json              Print the result as JSON on stdout
      --log-format F      text or json (default: text on a terminal, json otherwise)
      --log-level L       debug, info, warn or error (default info)

Progress goes to stderr: a bar on a terminal, a line every few seconds otherwise.

Examples:
  walsync snapshot /var/lib/app/app.db -b file:///var/backups/walsync
  walsync snapshot app.db -b s3://backups/prod --endpoint http://127.0.0.1:9000 --json
  walsync snapshot /srv/tenants/a/app.db --config /etc/walsync.toml
  walsync snapshot a/app.db --config /etc/walsync.toml`;

export async function snapshotCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("snapshot", args, {
    ...REPLICA_FLAGS,
    json: { type: "boolean" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
  });
  if (parsed.values.help) {
    writeOut(SNAPSHOT_HELP);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(
      'snapshot needs exactly one database path, e.g. "walsync snapshot app.db -b file:///dir"',
    );
  }
  const { path, name, client, config } = await resolveCommandDatabase(
    "snapshot",
    parsed,
    parsed.positionals[0],
  );
  const logger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? config?.log.level,
  );
  const startedAt = performance.now();
  const json = parsed.values.json === true;
  let replicator: Replicator;
  try {
    // The real file, as watch opens it: its staging folder (and lock) is beside that one.
    const realPath = await Deno.realPath(path).catch(() => path);
    replicator = await Replicator.open(realPath, { name, client, logger, watchedPath: path });
  } catch (error) {
    if (!(error instanceof StagingLockedError)) throw error;
    // A running `walsync watch` holds the database: ask it to take the snapshot.
    const answer = await askRunningWalsync(error, client.location, logger);
    const sizeBytes = await snapshotSize(client, { name, txid: answer.txid, logger });
    report({ name, path, ...answer, startedAt, json, sizeBytes, by: "the running walsync" });
    return EXIT_OK;
  }
  const controller = new AbortController();
  let closed = false;
  let lease: HeldLease | null = null;
  try {
    lease = await holdReplicaLease(client, { logger, controller });
    await replicator.sync({ force: true });
    const progress = createProgress({ label: `snapshot ${name}` });
    const result = await replicator.snapshot("requested by walsync snapshot", {
      scheduled: true,
      onProgress: (done, total) => progress.update(done, total),
    });
    progress.done();
    const txid = result.txid!;
    const checksum = formatChecksum(replicator.databaseChecksum);
    await replicator.close({ upload: true, signal: controller.signal });
    closed = true;
    if (lease.lost) throw lease.lost;
    const sizeBytes = await snapshotSize(client, { name, txid, logger });
    report({ name, path, replica: client.location, txid, checksum, startedAt, json, sizeBytes });
    return EXIT_OK;
  } finally {
    if (!closed) await replicator.close({ upload: false }).catch(() => {});
    controller.abort();
    await lease?.release();
  }
}

function report(result: {
  name: string;
  path: string;
  replica: string;
  txid: number;
  checksum: string;
  startedAt: number;
  json: boolean;
  sizeBytes: number | null;
  /** Who took it, when not this process. */
  by?: string;
}): void {
  const { name, txid, replica, checksum } = result;
  if (result.json) {
    writeJson({
      name,
      path: result.path,
      replica,
      txid,
      txidHex: formatTxid(txid),
      level: SNAPSHOT_LEVEL,
      sizeBytes: result.sizeBytes,
      checksum,
      takenBy: result.by ?? "this process",
      elapsedMs: Math.round(performance.now() - result.startedAt),
    });
    return;
  }
  const by = result.by ? ` (taken by ${result.by})` : "";
  writeOut(
    `snapshot ${name}: TXID ${txid} (${
      formatTxid(txid)
    }) at level ${SNAPSHOT_LEVEL} in ${replica}, checksum ${checksum}${by}`,
  );
}

/**
 * The stored snapshot's size, or null when the replica cannot be listed. The snapshot is in the
 * replica by then, so a failed listing must not fail the command: a `snapshot` answered by the
 * daemon may run without credentials of its own.
 */
async function snapshotSize(
  client: ReplicaClient,
  options: { name: string; txid: number; logger: Logger },
): Promise<number | null> {
  const { name, txid, logger } = options;
  try {
    const files = await client.listFiles(name, SNAPSHOT_LEVEL);
    return files.find((f) => f.maxTxid === txid)?.sizeBytes ?? null;
  } catch (error) {
    logger.warn("snapshot size unknown: the replica could not be listed", { db: name, error });
    return null;
  }
}

/**
 * Asks the `walsync watch` that holds the database's staging lock to take the snapshot: a
 * request file, SIGUSR1, then its answer (see snapshot_request.ts).
 */
async function askRunningWalsync(
  locked: StagingLockedError,
  replica: string,
  logger: Logger,
): Promise<{ txid: number; checksum: string; replica: string }> {
  const owner = await readLockOwner(locked.dir);
  if (!owner?.snapshotRequests || Deno.build.os === "windows") {
    throw new WalsyncError(
      `${locked.message}; it does not take snapshot requests (walsync watch on Linux or macOS does)`,
    );
  }
  const id = crypto.randomUUID();
  await writeSnapshotRequest(locked.dir, { id, replica });
  try {
    Deno.kill(owner.pid, "SIGUSR1");
  } catch (error) {
    throw new WalsyncError(
      `The walsync process ${owner.pid} holding "${locked.dir}/lock" could not be signalled: ${
        (error as Error).message
      }`,
    );
  }
  logger.info("asked the running walsync to take the snapshot", { pid: owner.pid });
  const answer = await waitForSnapshotAnswer(locked.dir, id, {
    timeoutMs: REQUEST_TIMEOUT_MS,
    isAlive: () => processAlive(owner.pid),
  });
  if (!answer.ok) {
    throw new WalsyncError(
      `The running walsync (pid ${owner.pid}) could not take the snapshot: ${answer.error}`,
    );
  }
  return answer;
}
