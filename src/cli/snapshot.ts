/** `walsync snapshot DB -b URL`: an immediate full snapshot (level 9) of one database. */
import { formatChecksum } from "../checksum/database_checksum.ts";
import { formatTxid, SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { Replicator } from "../replicate/replicator.ts";
import { UsageError } from "../errors.ts";
import { absolutePath, parseCommandArgs, stringFlag } from "./args.ts";
import { resolveCommandDatabase } from "./command_config.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { createProgress } from "./progress.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";
import { holdReplicaLease } from "./replica_lease.ts";
import { makeLogger, writeJson, writeOut } from "./output.ts";

export const SNAPSHOT_HELP = `Usage: walsync snapshot DB [-b URL] [options]

Takes a full snapshot of database DB now: first ships any commits not yet replicated, then
stores the whole database as the next TXID at level 0 and as a level-9 snapshot (1-TXID),
and uploads both before exiting. Restores after this read the snapshot plus what follows.

The database must not be replicated by a running "walsync watch" at the same time (it holds
the database's staging lock); a daemon takes scheduled snapshots itself (see [sync]
snapshot_interval, max_changes, max_interval, on_idle, on_startup in walsync.toml).

Options:
${REPLICA_FLAGS_HELP}
      --json              Print the result as JSON on stdout
      --log-format F      text or json (default: text on a terminal, json otherwise)
      --log-level L       debug, info, warn or error (default info)

Progress goes to stderr: a bar on a terminal, a line every few seconds otherwise.

Examples:
  walsync snapshot /var/lib/app/app.db -b file:///var/backups/walsync
  walsync snapshot app.db -b s3://backups/prod --endpoint http://127.0.0.1:9000 --json
  walsync snapshot /srv/tenants/a/app.db --config /etc/walsync.toml`;

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
    absolutePath(parsed.positionals[0]),
  );
  const logger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? config?.log.level,
  );
  await assertDatabaseFile(path);
  const startedAt = performance.now();
  const controller = new AbortController();
  const lease = await holdReplicaLease(client, { logger, controller });
  let replicator: Replicator | null = null;
  try {
    replicator = await Replicator.open(path, { name, client, logger });
    await replicator.sync({ force: true });
    const progress = createProgress({ label: `snapshot ${name}` });
    const result = await replicator.snapshot("requested by walsync snapshot", {
      onProgress: (done, total) => progress.update(done, total),
    });
    progress.done();
    const txid = result.txid!;
    const checksum = formatChecksum(replicator.databaseChecksum);
    await replicator.close({ upload: true, signal: controller.signal });
    replicator = null;
    if (lease.lost) throw lease.lost;
    const files = await client.listFiles(name, SNAPSHOT_LEVEL);
    const stored = files.find((f) => f.maxTxid === txid);
    const report = {
      name,
      path,
      replica: client.location,
      txid,
      txidHex: formatTxid(txid),
      level: SNAPSHOT_LEVEL,
      sizeBytes: stored?.sizeBytes ?? null,
      checksum,
      elapsedMs: Math.round(performance.now() - startedAt),
    };
    if (parsed.values.json) writeJson(report);
    else {
      writeOut(
        `snapshot ${name}: TXID ${txid} (${
          formatTxid(txid)
        }) at level ${SNAPSHOT_LEVEL} in ${client.location}, checksum ${checksum}`,
      );
    }
    return EXIT_OK;
  } finally {
    await replicator?.close({ upload: false }).catch(() => {});
    controller.abort();
    await lease.release();
  }
}

async function assertDatabaseFile(path: string): Promise<void> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new UsageError(`Database "${path}" is not a file`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`Database "${path}" does not exist`);
    }
    throw error;
  }
}
