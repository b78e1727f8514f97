/**
 * `walsync restore --all -o DIR` and `walsync restore 'tenants/*' -o DIR`: every replica
 * name that matches is restored into DIR under its name, `--parallel` at a time, past
 * failures; exit 1 at the end naming each database that failed.
 */
import { UsageError, WalsyncError } from "../errors.ts";
import { formatTxid } from "../ltx/ltx_header.ts";
import { RestoreInterruptedError } from "../restore/restore_error.ts";
import {
  type BulkOutcome,
  DEFAULT_BULK_PARALLEL,
  matchReplicaNames,
  restoreMany,
} from "../restore/bulk_restore.ts";
import { absolutePath, type ParsedArgs, stringFlag } from "./args.ts";
import { loadCommandConfig, openCommandReplica } from "./command_config.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { onInterrupt } from "./interrupt.ts";
import { makeLogger, writeErr, writeJson, writeOut } from "./output.ts";
import { parseIntegrityCheck, parseTarget } from "./restore.ts";

/** Failed databases named in the final error before "and N more". */
const MAX_FAILURES_SHOWN = 20;

export async function bulkRestoreCommand(parsed: ParsedArgs): Promise<number> {
  const all = parsed.values.all === true;
  if (all && parsed.positionals.length > 0) {
    throw new UsageError(`--all restores every database; drop "${parsed.positionals[0]}"`);
  }
  if (!all && parsed.positionals.length !== 1) {
    throw new UsageError("a bulk restore takes one glob of replica names, or --all");
  }
  if (stringFlag(parsed, "txid") !== undefined) {
    throw new UsageError("--txid names one database's TXID; a bulk restore takes --timestamp");
  }
  const target = parseTarget(undefined, stringFlag(parsed, "timestamp"));
  const integrityCheck = parseIntegrityCheck(stringFlag(parsed, "integrity-check"));
  const force = parsed.values.force === true;
  const skipExisting = parsed.values["if-db-not-exists"] === true;
  if (skipExisting && force) {
    throw new UsageError("--if-db-not-exists and --force are contradictory");
  }
  const parallelText = stringFlag(parsed, "parallel");
  const parallel = parallelText === undefined ? DEFAULT_BULK_PARALLEL : Number(parallelText);
  if (!Number.isSafeInteger(parallel) || parallel < 1 || parallel > 256) {
    throw new UsageError(`--parallel must be a whole number from 1 to 256, got "${parallelText}"`);
  }
  const outputFlag = stringFlag(parsed, "output");
  const dryRun = parsed.values["dry-run"] === true;
  if (!outputFlag) throw new UsageError("a bulk restore needs -o DIR, the directory to fill");
  const outputDir = absolutePath(outputFlag).replace(/\/+$/, "") || "/";
  const json = parsed.values.json === true;
  const config = await loadCommandConfig(parsed);
  const logger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? "warn",
  );
  const client = await openCommandReplica("restore", parsed, config);
  const pattern = all ? null : parsed.positionals[0];
  const names = matchReplicaNames(await client.listDatabases(), pattern);
  if (names.length === 0) {
    if (parsed.values["if-replica-exists"] === true) {
      if (json) writeJson({ restored: [], failed: [], skipped: [], reason: "no replica" });
      writeErr(`replica ${client.location} has no databases matching; nothing to do`);
      return EXIT_OK;
    }
    throw new WalsyncError(
      `Replica ${client.location} has no databases${pattern ? ` matching "${pattern}"` : ""}`,
    );
  }
  if (dryRun) {
    const rows = names.map((name) => ({ name, output: `${outputDir}/${name}` }));
    if (json) writeJson(rows);
    else writeOut(rows.map((r) => `${r.name} -> ${r.output}`).join("\n"));
    return EXIT_OK;
  }
  await Deno.mkdir(outputDir, { recursive: true });

  const interrupt = new AbortController();
  const stopListening = onInterrupt((signal) =>
    interrupt.abort(
      new RestoreInterruptedError(
        `Bulk restore interrupted by ${signal}; databases restored so far stay, temp files were removed`,
      ),
    )
  );
  let outcomes: BulkOutcome[];
  try {
    writeErr(`restoring ${names.length} databases into ${outputDir}, ${parallel} at a time`);
    outcomes = await restoreMany({
      client,
      names,
      outputDir,
      target,
      force,
      skipExisting,
      integrityCheck,
      parallel,
      signal: interrupt.signal,
      logger,
      onOutcome: (outcome, done, total) => writeErr(`[${done}/${total}] ${describe(outcome)}`),
    });
  } finally {
    stopListening();
  }
  const failed = outcomes.filter((o) => o.status === "failed");
  if (json) {
    writeJson({
      restored: outcomes.filter((o) => o.status === "restored").map((o) => ({
        name: o.name,
        output: o.output,
        txid: o.status === "restored" ? o.result.txid : 0,
      })),
      skipped: outcomes.filter((o) => o.status === "skipped").map((o) => o.name),
      failed: failed.map((o) => ({ name: o.name, error: o.status === "failed" ? o.error : "" })),
    });
  } else {
    const restored = outcomes.filter((o) => o.status === "restored").length;
    const skipped = outcomes.length - restored - failed.length;
    writeOut(
      `restored ${restored} of ${outcomes.length} databases into ${outputDir}` +
        (skipped > 0 ? `, ${skipped} skipped (output exists)` : "") +
        (failed.length > 0 ? `, ${failed.length} failed` : ""),
    );
  }
  if (failed.length > 0) {
    const shown = failed.slice(0, MAX_FAILURES_SHOWN).map((o) =>
      `"${o.name}": ${o.status === "failed" ? o.error : ""}`
    );
    const more = failed.length - shown.length;
    throw new WalsyncError(
      `${failed.length} of ${outcomes.length} databases failed to restore: ${shown.join("; ")}${
        more > 0 ? `; and ${more} more` : ""
      }`,
    );
  }
  return EXIT_OK;
}

function describe(outcome: BulkOutcome): string {
  switch (outcome.status) {
    case "restored":
      return `restored ${outcome.name} (TXID ${formatTxid(outcome.result.txid)})`;
    case "skipped":
      return `skipped ${outcome.name}: ${outcome.reason}`;
    case "failed":
      return `FAILED ${outcome.name}: ${outcome.error}`;
  }
}
