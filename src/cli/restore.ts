/** `walsync restore NAME -o OUT -b URL`: rebuilds a database from its replica, verified. */
import { formatChecksum } from "../checksum/database_checksum.ts";
import { UsageError } from "../errors.ts";
import { Logger } from "../log.ts";
import { formatTxid } from "../ltx/ltx_header.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import {
  type IntegrityCheck,
  listForPlan,
  planBytes,
  planFor,
  restore,
  type RestoreOptions,
  type RestoreResult,
} from "../restore/apply.ts";
import { RestoreInterruptedError } from "../restore/restore_error.ts";
import { RestoreOutput } from "../restore/restore_output.ts";
import { onInterrupt } from "./interrupt.ts";
import { type RestorePlan, RestorePlanError, type RestoreTarget } from "../restore/plan.ts";
import { isGlob } from "../config/glob.ts";
import { absolutePath, type FlagSpec, parseCommandArgs, stringFlag } from "./args.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { createProgress, formatBytes, type Progress } from "./progress.ts";
import { loadCommandConfig, openCommandReplica, restoreNameFor } from "./command_config.ts";
import { makeLogger, writeJson, writeOut } from "./output.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";

export const DEFAULT_INTEGRITY_CHECK: IntegrityCheck = "quick";
const INTEGRITY_CHECKS: readonly string[] = ["none", "quick", "full"];

export const RESTORE_HELP = `Usage: walsync restore NAME -o OUT -b URL [options]

Rebuilds database NAME (its name in the replica, e.g. app.db, or the path of a database
walsync.toml names, e.g. /srv/tenants/a/app.db → a/app.db) into OUT: the newest snapshot
at or before the target plus every later file, each object's SHA-256 and LTX checksum
verified, the final database checksum compared with the one recorded, and SQLite's
integrity check run, before OUT appears (written as OUT.<random>.walsync-tmp, fsynced,
renamed). A new OUT gets mode 0600; --force keeps the mode of the OUT it replaces. OUT is
refused while a running "walsync watch" replicates it. SIGINT or SIGTERM stop the
restore, remove the temp file and exit 1; a temp file left by a killed restore is removed
by the next restore of the same OUT. The result goes to stdout as one line (or JSON with
--json). Progress goes to stderr: a bar on a terminal, otherwise a line per quarter (or
every 5s).

Options:
  -o, --output OUT        Where to write the database (never overwritten without --force)
${REPLICA_FLAGS_HELP}
      --txid N            Restore to TXID N (decimal, or 16 hex digits as in file names)
      --timestamp T       Restore to the last TXID committed at or before T (RFC 3339)
      --force             Replace OUT (and remove its stale -wal/-shm) if it exists
      --if-db-not-exists  If OUT already exists, do nothing and exit 0 (replica untouched)
      --if-replica-exists If the replica has nothing for NAME, do nothing and exit 0
                          (without it that is an error, exit 1)
      --integrity-check M none, quick (PRAGMA quick_check, the default) or full
                          (PRAGMA integrity_check, slower on large databases)
      --dry-run           Print the plan (target TXID, files, sizes) and write nothing;
                          -o is then optional and OUT may exist
      --json              Print the result (or with --dry-run the plan) as JSON on stdout;
                          when there is nothing to do, {"restored": false, "reason": …}
      --log-format F      text or json
      --log-level L       debug, info, warn or error

      --all               Restore every database of the replica into -o DIR (see below)
      --parallel N        Bulk restore: databases restored at once (default 4)

Exit codes: 0 restored (or nothing to do), 1 failure, 2 usage error.

Bulk restore (every database, or those a quoted glob of replica names matches): each
is restored into DIR/<name>, --parallel at a time, verified like one; progress goes to
stderr as [done/total] lines; a failure does not stop the others, and the command exits 1
at the end naming every database that failed. --timestamp applies to all; --txid cannot.
--if-db-not-exists skips existing files; --force replaces them.

Examples:
  walsync restore app.db -o /tmp/app.db -b file:///var/backups/walsync
  walsync restore app.db -o /tmp/app.db -b file:///var/backups/walsync --txid 42
  walsync restore app.db -o /tmp/app.db -b file:///bak --timestamp 2026-11-21T10:00:00Z
  walsync restore app.db --dry-run -b s3://backups/wal --endpoint http://127.0.0.1:9000
  walsync restore app.db -o /data/app.db -b s3://b --if-db-not-exists --if-replica-exists
  walsync restore app.db -o /tmp/app.db -b file:///backups --integrity-check full --json
  walsync restore --all -o /restore -b s3://backups/prod --parallel 8
  walsync restore 'tenants/*' -o /restore -b file:///var/backups/walsync`;

const RESTORE_FLAGS: FlagSpec = {
  ...REPLICA_FLAGS,
  output: { type: "string", short: "o" },
  txid: { type: "string" },
  timestamp: { type: "string" },
  force: { type: "boolean" },
  "if-db-not-exists": { type: "boolean" },
  "if-replica-exists": { type: "boolean" },
  "integrity-check": { type: "string" },
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  all: { type: "boolean" },
  parallel: { type: "string" },
};

export async function restoreCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("restore", args, RESTORE_FLAGS);
  if (parsed.values.help) {
    writeOut(RESTORE_HELP);
    return EXIT_OK;
  }
  // `--all`, or a glob of replica names: many databases into one directory.
  if (
    parsed.values.all === true || (parsed.positionals.length === 1 && isGlob(parsed.positionals[0]))
  ) {
    const { bulkRestoreCommand } = await import("./restore_bulk.ts");
    return await bulkRestoreCommand(parsed);
  }
  if (parsed.values.parallel !== undefined) {
    throw new UsageError("--parallel applies to a bulk restore (--all, or a glob of names)");
  }
  // Every usage error before anything is read or written.
  if (parsed.positionals.length !== 1) {
    throw new UsageError(
      'restore needs exactly one NAME, e.g. "walsync restore app.db -o out.db -b file:///dir"',
    );
  }
  const target = parseTarget(stringFlag(parsed, "txid"), stringFlag(parsed, "timestamp"));
  const integrityCheck = parseIntegrityCheck(stringFlag(parsed, "integrity-check"));
  const force = parsed.values.force === true;
  const dryRun = parsed.values["dry-run"] === true;
  const json = parsed.values.json === true;
  const ifDbNotExists = parsed.values["if-db-not-exists"] === true;
  const ifReplicaExists = parsed.values["if-replica-exists"] === true;
  if (ifDbNotExists && force) {
    throw new UsageError(
      "--if-db-not-exists and --force are contradictory: one keeps an existing OUT, the other replaces it",
    );
  }
  const outputFlag = stringFlag(parsed, "output");
  if (!outputFlag && !dryRun) {
    throw new UsageError("restore needs -o OUT, the path to write the database to");
  }
  const output = outputFlag ? absolutePath(outputFlag) : undefined;
  const config = await loadCommandConfig(parsed);
  const baseLogger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? config?.log.level,
  );
  const client = await openCommandReplica("restore", parsed, config);
  // NAME may be a database path walsync.toml names: restore it under its replica name.
  const name = restoreNameFor(config, parsed.positionals[0]);

  if (ifDbNotExists && output !== undefined && await exists(output)) {
    baseLogger.info(`${output} already exists; nothing to do`, { db: name });
    if (json) writeJson({ name, output, restored: false, reason: "output exists" });
    return EXIT_OK;
  }
  if (dryRun) {
    const files = await listForPlan(client, name, target);
    if (files.length === 0) {
      return noReplica(name, output, client, { ifReplicaExists, json, logger: baseLogger });
    }
    const plan = await planFor(client, name, target, undefined, files);
    writeOut(
      json
        ? JSON.stringify(planJson(name, client, plan))
        : formatPlan(name, client, plan, output, output !== undefined && await exists(output)),
    );
    return EXIT_OK;
  }

  // From here on a signal stops the restore cleanly: the temp file goes, OUT stays untouched.
  const interrupt = new AbortController();
  const stopListening = onInterrupt((signal) =>
    interrupt.abort(
      new RestoreInterruptedError(
        `Restore interrupted by ${signal}; "${output}" was not written (its temp file was removed)`,
      ),
    )
  );
  const signal = interrupt.signal;
  let outputFile: RestoreOutput | undefined;
  try {
    // OUT is checked and its temp file created before the replica is listed: a bad -o fails
    // before anything is downloaded.
    outputFile = await RestoreOutput.create(output!, {
      force,
      logger: baseLogger.with({ db: name }),
    });
    const files = await listForPlan(client, name, target, signal);
    signal.throwIfAborted();
    if (files.length === 0) {
      return noReplica(name, output, client, { ifReplicaExists, json, logger: baseLogger });
    }
    const plan = await planFor(client, name, target, signal, files);
    const result = await restoreWithProgress({
      client,
      name,
      output: output!,
      outputFile,
      target,
      plan,
      integrityCheck,
      signal,
      logger: baseLogger,
    });
    report(name, output!, result, json);
    return EXIT_OK;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    await outputFile?.discard();
    stopListening();
  }
}

/** Runs the restore behind a progress display that ends only once everything verified. */
async function restoreWithProgress(
  options: RestoreOptions & { plan: RestorePlan; logger: Logger },
): Promise<RestoreResult & { elapsedMs: number }> {
  const progress = createProgress({
    label: `restore ${options.name}`,
    totalBytes: planBytes(options.plan),
  });
  const logger = progressAwareLogger(options.logger, progress);
  const startedAt = performance.now();
  let result;
  try {
    // The bar stays short of 100% while the download is checked: a restore that fails its
    // last check must not have looked finished.
    result = await restore({
      ...options,
      logger,
      onProgress: (doneBytes, totalBytes) => progress.update(doneBytes, totalBytes),
    });
  } catch (error) {
    progress.cancel();
    throw error;
  }
  progress.done();
  const elapsedMs = Math.round(performance.now() - startedAt);
  logger.info("restore complete", {
    output: options.output,
    txid: formatTxid(result.txid),
    pages: result.pageCount,
    checksum: formatChecksum(result.databaseChecksum),
  });
  return { ...result, elapsedMs };
}

/** The result on stdout: one line, or with --json one document. */
function report(
  name: string,
  output: string,
  result: RestoreResult & { elapsedMs: number },
  json: boolean,
): void {
  if (!json) {
    writeOut(
      `restored ${name} to ${output}: TXID ${result.txid} (${
        formatTxid(result.txid)
      }), ${result.pageCount} pages, ${formatBytes(result.sizeBytes)}, checksum ${
        formatChecksum(result.databaseChecksum)
      }`,
    );
    return;
  }
  writeJson({
    name,
    output,
    txid: result.txid,
    txidHex: formatTxid(result.txid),
    pageSize: result.pageSize,
    pageCount: result.pageCount,
    sizeBytes: result.sizeBytes,
    checksum: formatChecksum(result.databaseChecksum),
    files: result.files.map(fileJson),
    elapsedMs: result.elapsedMs,
  });
}

/** The replica has nothing for NAME: an error, or with --if-replica-exists nothing to do. */
function noReplica(
  name: string,
  output: string | undefined,
  client: ReplicaClient,
  options: { ifReplicaExists: boolean; json: boolean; logger: Logger },
): number {
  if (!options.ifReplicaExists) {
    throw new RestorePlanError(
      `Replica ${client.location} has no files for "${name}"; check NAME and -b, or pass --if-replica-exists to treat this as nothing to do`,
    );
  }
  options.logger.info(`replica ${client.location} has no files for "${name}"; nothing to do`, {
    db: name,
  });
  if (options.json) {
    writeJson({ name, output, replica: client.location, restored: false, reason: "no replica" });
  }
  return EXIT_OK;
}

/** `--txid` (decimal or 16 hex digits) or `--timestamp` (RFC 3339), not both. */
export function parseTarget(
  txid: string | undefined,
  timestamp: string | undefined,
): RestoreTarget {
  if (txid !== undefined && timestamp !== undefined) {
    throw new UsageError("Use either --txid or --timestamp, not both");
  }
  if (txid !== undefined) {
    let value: number;
    if (/^[0-9a-fA-F]{16}$/.test(txid)) value = parseInt(txid, 16);
    else if (/^\d+$/.test(txid)) value = Number(txid);
    else {throw new UsageError(
        `--txid "${txid}" is not a TXID; use a decimal number or 16 hex digits`,
      );}
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new UsageError(`--txid "${txid}" is out of range`);
    }
    return { kind: "txid", txid: value };
  }
  if (timestamp !== undefined) {
    const at = new Date(timestamp);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(timestamp) || Number.isNaN(at.getTime())) {
      throw new UsageError(
        `--timestamp "${timestamp}" is not an RFC 3339 time, e.g. 2026-11-21T10:00:00Z`,
      );
    }
    return { kind: "timestamp", at };
  }
  return { kind: "latest" };
}

/** `--integrity-check none|quick|full`; quick when absent. */
export function parseIntegrityCheck(value: string | undefined): IntegrityCheck {
  if (value === undefined) return DEFAULT_INTEGRITY_CHECK;
  if (!INTEGRITY_CHECKS.includes(value)) {
    throw new UsageError(
      `--integrity-check "${value}" is invalid; use none, quick or full`,
    );
  }
  return value as IntegrityCheck;
}

/** The `--dry-run --json` document. */
export function planJson(name: string, client: ReplicaClient, plan: RestorePlan): unknown {
  return {
    name,
    replica: client.location,
    txid: plan.txid,
    txidHex: formatTxid(plan.txid),
    files: plan.files.map(fileJson),
    totalBytes: planBytes(plan),
  };
}

/** The `--dry-run` text: the target, one row per file, the totals. */
export function formatPlan(
  name: string,
  client: ReplicaClient,
  plan: RestorePlan,
  output: string | undefined,
  outputExists: boolean,
): string {
  const rows = plan.files.map((f) =>
    [
      String(f.level).padStart(5),
      formatTxid(f.minTxid),
      formatTxid(f.maxTxid),
      formatBytes(f.sizeBytes).padStart(10),
      f.createdAt.toISOString(),
    ].join("  ")
  );
  const totalBytes = planBytes(plan);
  const lines = [
    `Restore plan for "${name}" from ${client.location}`,
    `Target TXID ${plan.txid} (${formatTxid(plan.txid)})`,
  ];
  if (output !== undefined) {
    lines.push(
      `Output ${output}${outputExists ? " (exists: the restore needs --force to replace it)" : ""}`,
    );
  }
  lines.push(
    "",
    `${"LEVEL".padStart(5)}  ${"MIN TXID".padEnd(16)}  ${"MAX TXID".padEnd(16)}  ${
      "SIZE".padStart(10)
    }  CREATED`,
    ...rows,
    "",
    `${plan.files.length} ${plan.files.length === 1 ? "file" : "files"}, ${
      formatBytes(totalBytes)
    } (${totalBytes} bytes) to download`,
  );
  return lines.join("\n");
}

function fileJson(file: LtxFileInfo) {
  return {
    level: file.level,
    minTxid: file.minTxid,
    maxTxid: file.maxTxid,
    sizeBytes: file.sizeBytes,
    createdAt: file.createdAt.toISOString(),
  };
}

/** The same logger, its lines written above the progress bar rather than through it. */
function progressAwareLogger(logger: Logger, progress: Progress): Logger {
  return new Logger({
    format: logger.format,
    level: logger.level,
    write: (line) => progress.print(line),
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
