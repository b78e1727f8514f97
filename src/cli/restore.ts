/** `walsync restore NAME -o OUT -b URL`: rebuilds a database from its replica, verified. */
import { formatChecksum } from "../checksum/database_checksum.ts";
import { UsageError } from "../errors.ts";
import { formatTxid } from "../ltx/ltx_header.ts";
import { openReplicaUrl } from "../replica/replica_url.ts";
import { restore } from "../restore/apply.ts";
import type { RestoreTarget } from "../restore/plan.ts";
import { absolutePath, parseCommandArgs, stringFlag } from "./args.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { makeLogger } from "./watch.ts";

export const RESTORE_HELP = `Usage: walsync restore NAME -o OUT -b URL [options]

Rebuilds database NAME (its name in the replica, e.g. app.db) into OUT: the newest snapshot
at or before the target plus every later file, each object's SHA-256 and LTX checksum
verified, the final database checksum compared with the one recorded, and PRAGMA
quick_check run, before OUT appears (written as a temp file, fsynced, renamed).

Options:
  -o, --output OUT        Where to write the database (refuses to overwrite without --force)
  -b, --bucket URL        Replica: file:///dir or s3://bucket/prefix
      --txid N            Restore to TXID N (decimal, or 16 hex digits as in file names)
      --timestamp T       Restore to the last TXID committed at or before T (RFC 3339)
      --force             Replace OUT (and remove its stale -wal/-shm) if it exists
      --log-format F      text or json
      --log-level L       debug, info, warn or error

Examples:
  walsync restore app.db -o /tmp/app.db -b file:///var/backups/walsync
  walsync restore app.db -o /tmp/app.db -b file:///var/backups/walsync --txid 42
  walsync restore app.db -o /tmp/app.db -b file:///var/backups/walsync --timestamp 2026-11-21T10:00:00Z`;

export async function restoreCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("restore", args, {
    output: { type: "string", short: "o" },
    bucket: { type: "string", short: "b" },
    txid: { type: "string" },
    timestamp: { type: "string" },
    force: { type: "boolean" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
  });
  if (parsed.values.help) {
    Deno.stdout.writeSync(new TextEncoder().encode(`${RESTORE_HELP}\n`));
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(
      'restore needs exactly one NAME, e.g. "walsync restore app.db -o out.db -b file:///dir"',
    );
  }
  const output = stringFlag(parsed, "output");
  if (!output) throw new UsageError("restore needs -o OUT, the path to write the database to");
  const url = stringFlag(parsed, "bucket");
  if (!url) throw new UsageError("restore needs a replica: -b file:///dir");
  const logger = makeLogger(parsed.values["log-format"], parsed.values["log-level"]);
  const result = await restore({
    client: await openReplicaUrl(url),
    name: parsed.positionals[0],
    output: absolutePath(output),
    target: parseTarget(stringFlag(parsed, "txid"), stringFlag(parsed, "timestamp")),
    force: parsed.values.force === true,
    logger,
  });
  logger.info("restore complete", {
    output,
    txid: formatTxid(result.txid),
    pages: result.pageCount,
    checksum: formatChecksum(result.databaseChecksum),
  });
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
