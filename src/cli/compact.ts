/**
 * `walsync compact NAME|--all -b URL [--force] [--json]`: compaction and retention on a
 * replica without the daemon (cron, a replica Litestream wrote, after an outage). A dry run
 * unless `--force`; with it, the replica's lease is held while it writes and deletes.
 */
import {
  COMPACTION_FLAG_SPEC,
  COMPACTION_FLAGS_HELP,
  resolveCompactionPolicy,
} from "../config/compaction_settings.ts";
import { LevelIndex } from "../compact/level_index.ts";
import { type MaintenanceReport, runMaintenance } from "../compact/maintain.ts";
import { UsageError, WalsyncError } from "../errors.ts";
import { formatLtxFilename, formatTxid } from "../ltx/ltx_header.ts";
import { LeaseHeldError } from "../replica/lease_holder.ts";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { parseCommandArgs, stringFlag } from "./args.ts";
import { loadCommandConfig, openCommandReplica, restoreNameFor } from "./command_config.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { makeLogger, writeOut } from "./output.ts";
import { formatBytes } from "./progress.ts";
import { type HeldLease, holdReplicaLease } from "./replica_lease.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";

export const COMPACT_HELP = `Usage: walsync compact NAME|--all -b URL [--force] [--json] [options]

Runs compaction and retention on database NAME's replica (or every database in it with
--all) once, without the daemon: for cron, for a replica Litestream wrote, after an outage.
By default it only prints what it would merge and delete (a dry run); --force does it,
holding the replica's lease like watch (it refuses while a running walsync writes the
replica: that one compacts by itself). Merges stream page by page (memory does not grow
with the database), and nothing a retained position needs is deleted: every position in
the --pitr window, the snapshots --retain-* keep, and the newest file of every level.

Options:
${REPLICA_FLAGS_HELP}
      --all               Every database in the replica
      --force             Merge and delete (default: print what would be done)
      --json              Print the report as one JSON document on stdout
${COMPACTION_FLAGS_HELP}
      --log-format F      text or json
      --log-level L       debug, info, warn or error

Exit codes: 0 done (or nothing to do), 1 a database failed, 2 usage or config error.

Examples:
  walsync compact app.db -b file:///var/backups/walsync
  walsync compact --all -b s3://backups/walsync --force --pitr 72h --retain-daily 14
  walsync compact app.db -b s3://backups/walsync --json`;

export async function compactCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("compact", args, {
    ...REPLICA_FLAGS,
    ...COMPACTION_FLAG_SPEC,
    all: { type: "boolean" },
    force: { type: "boolean" },
    json: { type: "boolean" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
  });
  if (parsed.values.help) {
    writeOut(COMPACT_HELP);
    return EXIT_OK;
  }
  const all = parsed.values.all === true;
  if (all === (parsed.positionals.length === 1) || parsed.positionals.length > 1) {
    throw new UsageError(
      'compact needs one NAME or --all, e.g. "walsync compact app.db -b file:///dir"',
    );
  }
  const config = await loadCommandConfig(parsed);
  const logger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? config?.log.level,
  );
  const { policy } = resolveCompactionPolicy(parsed.values, config?.compaction);
  const client = await openCommandReplica("compact", parsed, config, { logger });
  const force = parsed.values.force === true;
  const names = all
    ? await client.listDatabases()
    : [restoreNameFor(config, parsed.positionals[0])];

  const controller = new AbortController();
  let lease: HeldLease | null = null;
  if (force) {
    try {
      lease = await holdReplicaLease(client, { logger, controller });
    } catch (error) {
      if (!(error instanceof LeaseHeldError)) throw error;
      throw new WalsyncError(
        `compact --force refuses to write: ${error.message}. A running walsync watch compacts ` +
          `this replica by itself; stop it first to compact by hand`,
        { cause: error },
      );
    }
  }
  const results: { name: string; report?: MaintenanceReport; error?: string }[] = [];
  try {
    for (const name of names) {
      try {
        const index = await LevelIndex.load(
          client,
          name,
          policy.levelIntervalsMs.length,
          controller.signal,
        );
        const report = await runMaintenance(client, name, index, {
          nowMs: Date.now(),
          policy,
          dryRun: !force,
          signal: controller.signal,
          logger,
        });
        results.push({ name, report });
      } catch (error) {
        if (lease?.lost) throw lease.lost;
        logger.error("compaction failed", { db: name, error });
        results.push({ name, error: (error as Error).message });
      }
    }
  } finally {
    await lease?.release();
  }
  if (parsed.values.json) {
    writeOut(JSON.stringify({ dryRun: !force, databases: results.map(jsonOf) }));
  } else {
    writeOut(results.map((r) => textOf(r, force)).join("\n") || "no databases in the replica");
  }
  return results.some((r) => r.error !== undefined) ? EXIT_FAILURE : EXIT_OK;
}

const fileName = (f: LtxFileInfo) => `${f.level}/${formatLtxFilename(f.minTxid, f.maxTxid)}`;

function jsonOf(r: { name: string; report?: MaintenanceReport; error?: string }) {
  if (!r.report) return { name: r.name, error: r.error };
  const report = r.report;
  return {
    name: r.name,
    merges: report.merges.map((m) => ({
      level: m.output.level,
      file: fileName(m.output),
      inputs: m.inputs.map(fileName),
      inputBytes: m.inputs.reduce((n, f) => n + f.sizeBytes, 0),
    })),
    deletions: report.deletions.map((f) => ({ file: fileName(f), sizeBytes: f.sizeBytes })),
    deletedBytes: report.deletions.reduce((n, f) => n + f.sizeBytes, 0),
    latestTxid: report.head,
    windowStartTxid: report.windowStart,
    keptSnapshots: report.keptSnapshots,
    notes: report.notes,
  };
}

function textOf(r: { name: string; report?: MaintenanceReport; error?: string }, force: boolean) {
  if (!r.report) return `${r.name}: failed: ${r.error}`;
  const { merges, deletions, windowStart, head, notes } = r.report;
  const verb = force ? ["merged", "deleted"] : ["would merge", "would delete"];
  const lines: string[] = [];
  for (const m of merges) {
    lines.push(
      `${r.name}: ${verb[0]} ${m.inputs.length} file${m.inputs.length === 1 ? "" : "s"} of level ${
        m.output.level - 1
      } into ${fileName(m.output)}`,
    );
  }
  if (deletions.length > 0) {
    const byLevel = new Map<number, number>();
    for (const f of deletions) byLevel.set(f.level, (byLevel.get(f.level) ?? 0) + 1);
    const bytes = deletions.reduce((n, f) => n + f.sizeBytes, 0);
    lines.push(
      `${r.name}: ${verb[1]} ${deletions.length} files (${
        [...byLevel].map(([l, n]) => `level ${l}: ${n}`).join(", ")
      }), ${formatBytes(bytes)}`,
    );
  }
  for (const note of notes) lines.push(`${r.name}: note: ${note}`);
  const window = windowStart === null
    ? "every position is inside the window"
    : `every position from TXID ${formatTxid(windowStart)} restorable`;
  lines.push(
    `${r.name}: ${merges.length + deletions.length === 0 ? "nothing to do; " : ""}latest TXID ${
      formatTxid(head)
    }, ${window}`,
  );
  return lines.join("\n");
}
