/** `walsync verify NAME -b URL`: audits every object of a database's replica and every TXID. */
import { UsageError } from "../errors.ts";
import { COMPACTION_FLAG_SPEC, resolveCompactionPolicy } from "../config/compaction_settings.ts";
import { formatTxid } from "../ltx/ltx_header.ts";
import { verifyReplica } from "../restore/verify.ts";
import { parseCommandArgs, stringFlag } from "./args.ts";
import { InterruptedError, onInterrupt } from "./interrupt.ts";
import { EXIT_FAILURE, EXIT_OK } from "./exit_codes.ts";
import { makeLogger, writeOut } from "./output.ts";
import { formatBytes } from "./progress.ts";
import { loadCommandConfig, openCommandReplica, restoreNameFor } from "./command_config.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";

export const VERIFY_HELP = `Usage: walsync verify NAME -b URL [options]

Audits database NAME's replica (NAME as in "walsync list", e.g. app.db, or the path of a
database walsync.toml names). Downloads every object at every level once: checks its
SHA-256 against the recorded one, decodes it fully (LTX checksum, page index) and
compares its header with its name. Walks the chain of files from the earliest snapshot
and checks the database checksum recorded at every TXID it passes, so a restore to any of
them is known to verify; a compaction must give the checksum the level-0 files give, and
a page size may change only at a snapshot. Checks that the TXIDs have no hole a restore
would fall into, that every position retention keeps (the first of the --pitr window, the
latest, each snapshot --retain-* keeps) has a chain of files, and runs PRAGMA
integrity_check on the latest state. Files no retained position needs are noted. Every
problem is reported, not just the first. Exits 0 only when there are none, 1 otherwise.

Options:
${REPLICA_FLAGS_HELP}
      --json              Print the report as one JSON document on stdout
  The retention flags of "walsync compact" (--pitr, --retain-*, --compaction-levels,
  --l0-linger) and walsync.toml's [retention] say which positions are retained.
      --log-format F      text or json (progress on stderr)
      --log-level L       debug, info, warn or error

Output: one "problem: …" line per problem (and "note: …" for things worth knowing, such as
objects written by Litestream without a SHA-256), then a summary line.

Examples:
  walsync verify app.db -b file:///var/backups/walsync
  walsync verify tenants/a/app.db -b s3://backups/walsync --json
  walsync verify app.db -b s3://backups/walsync --endpoint http://127.0.0.1:9000`;

export async function verifyCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("verify", args, {
    ...REPLICA_FLAGS,
    ...COMPACTION_FLAG_SPEC,
    json: { type: "boolean" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
  });
  if (parsed.values.help) {
    writeOut(VERIFY_HELP);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(
      'verify needs exactly one NAME, e.g. "walsync verify app.db -b file:///dir"',
    );
  }
  const config = await loadCommandConfig(parsed);
  const logger = makeLogger(
    stringFlag(parsed, "log-format") ?? config?.log.format,
    stringFlag(parsed, "log-level") ?? config?.log.level,
  );
  const client = await openCommandReplica("verify", parsed, config);
  const { policy } = resolveCompactionPolicy(parsed.values, config?.compaction);
  // Like restore, NAME may be the path of a database walsync.toml names.
  const name = restoreNameFor(config, parsed.positionals[0]);
  // A signal stops the audit cleanly: its temporary copy of the database is removed.
  const interrupt = new AbortController();
  const stopListening = onInterrupt((signal) =>
    interrupt.abort(new InterruptedError(`Verify of "${name}" interrupted by ${signal}`))
  );
  let report;
  try {
    report = await verifyReplica({ client, name, logger, signal: interrupt.signal, policy });
  } catch (error) {
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    throw error;
  } finally {
    stopListening();
  }
  if (parsed.values.json) {
    writeOut(JSON.stringify(report));
  } else {
    const lines = [
      ...report.problems.map((p) => `problem: ${p}`),
      ...report.notes.map((n) => `note: ${n}`),
    ];
    const count = report.problems.length;
    const verdict = count === 0 ? "OK" : `${count} problem${count === 1 ? "" : "s"}`;
    lines.push(
      `verified ${name}: ${report.files} object${report.files === 1 ? "" : "s"}, ${
        formatBytes(report.bytes)
      }, latest TXID ${formatTxid(report.latestTxid)}, ${verdict}`,
    );
    writeOut(lines.join("\n"));
  }
  return report.problems.length === 0 ? EXIT_OK : EXIT_FAILURE;
}
