/** `walsync list -b URL`: the databases in a replica, their latest TXID, size and footprint. */
import { FormatError, UsageError, WalsyncError } from "../errors.ts";
import { formatTxid, LTX_HEADER_SIZE, parseLtxHeader } from "../ltx/ltx_header.ts";
import type { Logger } from "../log.ts";
import { FileReplicaClient } from "../replica/file/file_replica_client.ts";
import { type LtxFileInfo, readAll, type ReplicaClient } from "../replica/replica_client.ts";
import { listAllFiles } from "../restore/apply.ts";
import { describeFile } from "../restore/plan.ts";
import { parseCommandArgs } from "./args.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { openReplicaFromFlags, REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";
import { makeLogger, writeErr, writeOut } from "./output.ts";
import { formatBytes } from "./progress.ts";

/** Databases summarized at once (each costs a listing per level and one small read). */
export const DEFAULT_LIST_CONCURRENCY = 8;

export const LIST_HELP = `Usage: walsync list -b URL [options]

Lists every database in the replica with its latest TXID, when that TXID was written, the
database's size at that TXID (from the newest file's LTX header), and how many objects and
bytes the replica keeps for it. Only listings and one 100-byte read per database: nothing is
downloaded or verified (that is "walsync verify").

Options:
${REPLICA_FLAGS_HELP}
      --json              Print one JSON document on stdout instead of the table
      --log-format F      text or json
      --log-level L       debug, info, warn or error

Columns: NAME (as "restore" and "verify" take it), TXID (16 hex digits, as in file names),
UPDATED (RFC 3339, UTC), SIZE (the database at TXID), OBJECTS and STORED (all levels),
LEVELS (objects and bytes per level: 0 per sync, 1-8 compactions, 9 snapshots).

Examples:
  walsync list -b file:///var/backups/walsync
  walsync list -b s3://backups/walsync --json
  walsync list -b s3://backups/walsync --endpoint http://127.0.0.1:9000`;

/** One database in the replica, as `list --json` prints it. */
export interface DatabaseSummary {
  name: string;
  /** The highest TXID of any file at any level. */
  txid: number;
  txidHex: string;
  /** When the file holding `txid` was written (RFC 3339). */
  updatedAt: string;
  /** Page count × page size at `txid`; null when the newest file's header is unreadable. */
  sizeBytes: number | null;
  pageSize: number | null;
  objectCount: number;
  storedBytes: number;
  /** The newest snapshot's TXID (a file starting at TXID 1, normally level 9), or null. */
  snapshotTxid: number | null;
  /** Objects and bytes per level that holds any, ascending. */
  levels: { level: number; objects: number; bytes: number }[];
}

export async function listCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("list", args, {
    ...REPLICA_FLAGS,
    json: { type: "boolean" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
  });
  if (parsed.values.help) {
    writeOut(LIST_HELP);
    return EXIT_OK;
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError(
      `list takes no positional arguments, got "${parsed.positionals[0]}"; use -b URL`,
    );
  }
  const logger = makeLogger(parsed.values["log-format"], parsed.values["log-level"]);
  const client = await openReplicaFromFlags("list", parsed);
  if (client instanceof FileReplicaClient) await assertReplicaDirectory(client.root);
  const databases = await summarizeReplica(client, { logger });
  if (databases.length === 0) writeErr(`no databases in ${client.location}`);
  if (parsed.values.json) {
    writeOut(JSON.stringify({ replica: client.location, databases }));
  } else if (databases.length > 0) {
    writeOut(formatTable(databases));
  }
  return EXIT_OK;
}

/**
 * A file replica's directory must exist for `list`: a mistyped path would otherwise read as an
 * empty replica ("no databases"), which looks like lost backups or like all is well.
 */
async function assertReplicaDirectory(root: string): Promise<void> {
  const hint = "check the replica URL (-b or [s3] bucket)";
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      throw new WalsyncError(`Replica directory "${root}" does not exist; ${hint}`);
    }
    throw error;
  }
  if (!info.isDirectory) {
    throw new WalsyncError(`Replica directory "${root}" is not a directory; ${hint}`);
  }
}

/** Summaries of every database in the replica, sorted by name. */
export async function summarizeReplica(
  client: ReplicaClient,
  options: { logger?: Logger; signal?: AbortSignal; concurrency?: number } = {},
): Promise<DatabaseSummary[]> {
  const names = (await client.listDatabases(options.signal)).sort();
  const summaries: (DatabaseSummary | null)[] = new Array(names.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const index = next++;
      summaries[index] = await summarizeDatabase(client, names[index], options);
    }
  };
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_LIST_CONCURRENCY);
  await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
  // A database whose files vanished between the two listings is simply not there any more.
  return summaries.filter((s): s is DatabaseSummary => s !== null);
}

/** One database's summary from its listings and the newest file's header; null if empty. */
export async function summarizeDatabase(
  client: ReplicaClient,
  name: string,
  options: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<DatabaseSummary | null> {
  const files = await listAllFiles(client, name, options.signal);
  if (files.length === 0) return null;
  const txid = files.reduce((max, f) => Math.max(max, f.maxTxid), 0);
  // Several files may end at the latest TXID (a level-0 file and a snapshot): take the newest.
  const newest = files.filter((f) => f.maxTxid === txid).reduce((a, b) =>
    b.createdAt > a.createdAt ? b : a
  );
  const snapshots = files.filter((f) => f.minTxid === 1);
  let sizeBytes: number | null = null;
  let pageSize: number | null = null;
  try {
    const header = await readHeader(client, name, newest, options.signal);
    pageSize = header.pageSize;
    sizeBytes = header.commit * header.pageSize;
  } catch (error) {
    if (options.signal?.aborted) throw error;
    options.logger?.warn("cannot read the newest file's header; size unknown", {
      db: name,
      file: describeFile(newest),
      error,
    });
  }
  return {
    name,
    txid,
    txidHex: formatTxid(txid),
    updatedAt: newest.createdAt.toISOString(),
    sizeBytes,
    pageSize,
    objectCount: files.length,
    storedBytes: files.reduce((sum, f) => sum + f.sizeBytes, 0),
    snapshotTxid: snapshots.length === 0
      ? null
      : snapshots.reduce((max, f) => Math.max(max, f.maxTxid), 0),
    levels: levelTotals(files),
  };
}

async function readHeader(
  client: ReplicaClient,
  name: string,
  file: LtxFileInfo,
  signal?: AbortSignal,
) {
  const stream = await client.openFile(name, file, {
    offset: 0,
    length: LTX_HEADER_SIZE,
    signal,
  });
  const bytes = await readAll(stream);
  if (bytes.length < LTX_HEADER_SIZE) {
    throw new FormatError(`LTX header is truncated: ${bytes.length} bytes`, bytes.length);
  }
  return parseLtxHeader(bytes);
}

function levelTotals(files: LtxFileInfo[]): DatabaseSummary["levels"] {
  const byLevel = new Map<number, { level: number; objects: number; bytes: number }>();
  for (const f of files) {
    const entry = byLevel.get(f.level) ?? { level: f.level, objects: 0, bytes: 0 };
    entry.objects++;
    entry.bytes += f.sizeBytes;
    byLevel.set(f.level, entry);
  }
  return [...byLevel.values()].sort((a, b) => a.level - b.level);
}

/** "L0 6 12.0 KiB, L9 1 4.0 KiB": objects and bytes per level. */
export function formatLevels(levels: DatabaseSummary["levels"]): string {
  return levels.map((l) => `L${l.level} ${l.objects} ${formatBytes(l.bytes)}`).join(", ");
}

/** The text table: one header row, columns aligned, numbers right-aligned. */
export function formatTable(databases: DatabaseSummary[]): string {
  const rows = databases.map((d) => [
    d.name,
    d.txidHex,
    d.updatedAt.replace(/\.\d+Z$/, "Z"),
    d.sizeBytes === null ? "?" : formatBytes(d.sizeBytes),
    String(d.objectCount),
    formatBytes(d.storedBytes),
    formatLevels(d.levels),
  ]);
  const header = ["NAME", "TXID", "UPDATED", "SIZE", "OBJECTS", "STORED", "LEVELS"];
  const rightAligned = [false, false, false, true, true, true, true];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => r[col].length)));
  return [header, ...rows].map((row) =>
    row.map((cell, col) =>
      rightAligned[col] ? cell.padStart(widths[col]) : cell.padEnd(widths[col])
    )
      .join("  ")
  ).join("\n");
}
