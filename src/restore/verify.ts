/**
 * The replica auditor behind `walsync verify`: downloads every object of one database and
 * checks it (SHA-256 against the recorded one, a full LTX decode, header against key, page
 * size, a snapshot's pages against its recorded database checksum), checks that the TXID
 * sequence has no hole a restore would fall into, and restores the latest position into a
 * temporary directory with a full integrity check. Every problem is collected; none stops
 * the audit, so one run tells the whole story.
 */
import { DatabaseChecksum, formatChecksum } from "../checksum/database_checksum.ts";
import { fastSha256Stream } from "../checksum/sha256.ts";
import { FormatError } from "../errors.ts";
import { LtxDecoder } from "../ltx/ltx_decoder.ts";
import { formatTxid, hasChecksums, isSnapshot, SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import { listAllFiles, restore } from "./apply.ts";
import { describeFile } from "./plan.ts";

/** Objects downloaded at once: enough to hide object-store latency, little memory each. */
export const DEFAULT_VERIFY_CONCURRENCY = 4;
/** Objects without a recorded SHA-256 named one by one before the rest are counted. */
const MAX_NAMED_UNHASHED = 20;
/** Progress is logged each time this share of the bytes (or objects) more is done. */
const PROGRESS_STEP = 0.1;

export interface VerifyProgress {
  files: number;
  bytes: number;
  totalFiles: number;
  totalBytes: number;
}

export interface VerifyOptions {
  client: ReplicaClient;
  /** The database's name in the replica, e.g. "app.db" or "tenants/a/app.db". */
  name: string;
  signal?: AbortSignal;
  logger?: Logger;
  /** Called after each object is checked (progress display). */
  onProgress?: (progress: VerifyProgress) => void;
  concurrency?: number;
}

export interface VerifyReport {
  name: string;
  /** The replica's location, without credentials. */
  replica: string;
  /** Objects checked. */
  files: number;
  /** Their total size as listed. */
  bytes: number;
  /** The highest TXID of any object (0 when there are none). */
  latestTxid: number;
  /** Everything wrong, each naming the object or TXID range; empty when the replica is sound. */
  problems: string[];
  /** Worth knowing but not wrong (e.g. objects written without a SHA-256 by Litestream). */
  notes: string[];
  /** The restored database's rolling checksum (16 hex digits), when the restore succeeded. */
  databaseChecksum?: string;
}

/** What one object's check found. */
interface FileCheck {
  problems: string[];
  /** False when the writer recorded no SHA-256 to compare with. */
  hashed: boolean;
  /** Page size from the header, when it could be read. */
  pageSize?: number;
}

/** Audits one database's replica; throws only when aborted or when listing fails. */
export async function verifyReplica(options: VerifyOptions): Promise<VerifyReport> {
  const { client, name, signal } = options;
  const log = (options.logger ?? silentLogger).with({ db: name });
  const files = await listAllFiles(client, name, signal);
  const totalBytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);
  const latestTxid = files.reduce((max, f) => Math.max(max, f.maxTxid), 0);
  const report: VerifyReport = {
    name,
    replica: client.location,
    files: files.length,
    bytes: totalBytes,
    latestTxid,
    problems: [],
    notes: [],
  };
  if (files.length === 0) {
    report.problems.push(`No LTX files for "${name}" in ${client.location}`);
    return report;
  }
  log.info("verifying", { files: files.length, bytes: totalBytes, txid: formatTxid(latestTxid) });

  // Step 1: download and check every object; results keep the listing's order.
  const checks = await checkAll(files, options, log, totalBytes);
  for (const check of checks) report.problems.push(...check.problems);
  report.problems.push(...pageSizeProblems(files, checks));
  const unhashed = files.filter((_, i) => !checks[i].hashed);
  for (const file of unhashed.slice(0, MAX_NAMED_UNHASHED)) {
    report.notes.push(
      `${
        describeFile(file)
      }: no SHA-256 recorded (written by another tool?); its LTX checksum was verified`,
    );
  }
  if (unhashed.length > MAX_NAMED_UNHASHED) {
    report.notes.push(
      `${unhashed.length - MAX_NAMED_UNHASHED} more objects have no SHA-256 recorded`,
    );
  }

  // Step 2: the TXID sequence, from the listing alone.
  report.problems.push(...coverageProblems(files));

  // Step 3: a real restore of the latest position, with the full integrity check.
  const dir = await Deno.makeTempDir({ prefix: "walsync-verify-" });
  try {
    const result = await restore({
      client,
      name,
      output: `${dir}/restored.db`,
      integrityCheck: "full",
      signal,
    });
    report.databaseChecksum = formatChecksum(result.databaseChecksum);
    if (result.txid !== latestTxid) {
      report.problems.push(
        `Restore reached TXID ${formatTxid(result.txid)}, not the latest ${formatTxid(latestTxid)}`,
      );
    }
    log.info("restore verified", {
      txid: formatTxid(result.txid),
      pages: result.pageCount,
      checksum: report.databaseChecksum,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    report.problems.push(
      `Restoring the latest TXID ${formatTxid(latestTxid)} fails: ${messageOf(error)}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return report;
}

/**
 * TXID ranges that no object covers, from the earliest snapshot (a file starting at TXID 1)
 * to the latest TXID. A later snapshot would cover the hole, so none exists: every position
 * from the hole to the latest TXID is out of a restore's reach. Pure: the listing is all it
 * needs.
 */
export function coverageProblems(files: LtxFileInfo[]): string[] {
  if (files.length === 0) return [];
  const problems: string[] = [];
  const latest = files.reduce((max, f) => Math.max(max, f.maxTxid), 0);
  const snapshots = files.filter((f) => f.minTxid === 1);
  let at: number;
  if (snapshots.length === 0) {
    const first = files.reduce((min, f) => Math.min(min, f.minTxid), Infinity);
    problems.push(
      `No snapshot: no file starts at TXID ${formatTxid(1)}, so no position from ${
        formatTxid(first)
      } to ${formatTxid(latest)} can be restored`,
    );
    at = first - 1;
  } else {
    at = snapshots.reduce((min, f) => Math.min(min, f.maxTxid), Infinity);
  }
  const sorted = [...files].sort((a, b) => a.minTxid - b.minTxid || a.maxTxid - b.maxTxid);
  for (const file of sorted) {
    if (file.maxTxid <= at) continue;
    if (file.minTxid > at + 1) {
      const from = at + 1;
      const to = file.minTxid - 1;
      problems.push(
        from === to
          ? `TXID ${
            formatTxid(from)
          } is in no file: restores to that position and to every later one up to ${
            formatTxid(latest)
          } are impossible`
          : `TXIDs ${formatTxid(from)}..${
            formatTxid(to)
          } are in no file: restores to those positions and to every later one up to ${
            formatTxid(latest)
          } are impossible`,
      );
    }
    at = file.maxTxid;
  }
  return problems;
}

async function checkAll(
  files: LtxFileInfo[],
  options: VerifyOptions,
  log: Logger,
  totalBytes: number,
): Promise<FileCheck[]> {
  const checks = new Array<FileCheck>(files.length);
  const progress: VerifyProgress = { files: 0, bytes: 0, totalFiles: files.length, totalBytes };
  let nextLogAt = PROGRESS_STEP;
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const index = next++;
      const file = files[index];
      options.signal?.throwIfAborted();
      checks[index] = await checkFile(options.client, options.name, file, options.signal);
      progress.files++;
      progress.bytes += file.sizeBytes;
      options.onProgress?.({ ...progress });
      const done = totalBytes > 0 ? progress.bytes / totalBytes : progress.files / files.length;
      if (done >= nextLogAt || progress.files === files.length) {
        log.info("objects checked", {
          files: `${progress.files}/${files.length}`,
          bytes: progress.bytes,
          percent: Math.floor(done * 100),
        });
        while (nextLogAt <= done) nextLogAt += PROGRESS_STEP;
      }
    }
  };
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_VERIFY_CONCURRENCY);
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return checks;
}

/** Downloads one object once, hashing and decoding it as the bytes arrive. */
async function checkFile(
  client: ReplicaClient,
  name: string,
  info: LtxFileInfo,
  signal?: AbortSignal,
): Promise<FileCheck> {
  const label = describeFile(info);
  const check: FileCheck = { problems: [], hashed: info.sha256 !== undefined };
  const sha = await fastSha256Stream();
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = (await client.openFile(name, info, { signal })).getReader();
  } catch (error) {
    if (signal?.aborted) throw error;
    check.problems.push(`${label} cannot be read: ${messageOf(error)}`);
    return check;
  }
  async function* hashed(): AsyncGenerator<Uint8Array> {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      sha.update(value);
      yield value;
    }
  }
  // A read failure leaves the hash incomplete: only a decode failure still allows comparing it.
  let complete = true;
  try {
    const decoder = new LtxDecoder(hashed());
    const header = await decoder.readHeader();
    check.pageSize = header.pageSize;
    if (header.minTxid !== info.minTxid || header.maxTxid !== info.maxTxid) {
      check.problems.push(
        `${label}: its header says TXIDs ${formatTxid(header.minTxid)}..${
          formatTxid(header.maxTxid)
        }, not the range in its name`,
      );
    }
    if (info.level === SNAPSHOT_LEVEL && !isSnapshot(header)) {
      check.problems.push(`${label} is at the snapshot level but does not start at TXID 1`);
    }
    // A snapshot holds every page, so its database checksum can be recomputed here.
    const checksum = isSnapshot(header) ? new DatabaseChecksum() : null;
    const page = new Uint8Array(header.pageSize);
    let pgno: number | null;
    while ((pgno = await decoder.readPage(page)) !== null) checksum?.toggle(pgno, page);
    const summary = await decoder.finish();
    const recorded = info.databaseChecksum;
    if (recorded !== undefined && checksum && checksum.value !== recorded) {
      check.problems.push(
        `${label}: its pages give database checksum ${formatChecksum(checksum.value)}, but ${
          formatChecksum(recorded)
        } is recorded`,
      );
    } else if (
      recorded !== undefined && !checksum && hasChecksums(header) &&
      summary.trailer.postApplyChecksum !== recorded
    ) {
      check.problems.push(
        `${label}: its post-apply checksum ${
          formatChecksum(summary.trailer.postApplyChecksum)
        } differs from the recorded ${formatChecksum(recorded)}`,
      );
    }
  } catch (error) {
    if (signal?.aborted) throw error;
    if (error instanceof FormatError) {
      check.problems.push(`${label} is damaged: ${error.message}`);
      // Hash the rest too: a SHA-256 mismatch tells damage in storage from a bad writer.
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          sha.update(value);
        }
      } catch (readError) {
        if (signal?.aborted) throw readError;
        complete = false;
      }
    } else {
      complete = false;
      check.problems.push(`${label} cannot be read: ${messageOf(error)}`);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (!complete) return check;
  if (sha.sizeBytes !== info.sizeBytes) {
    check.problems.push(
      `${label} has ${sha.sizeBytes} bytes, but is listed with ${info.sizeBytes}`,
    );
  }
  if (info.sha256 !== undefined) {
    const sha256 = sha.digestHex();
    if (sha256 !== info.sha256) {
      check.problems.push(`${label} has SHA-256 ${sha256}, but ${info.sha256} is recorded`);
    }
  }
  return check;
}

/** Objects whose page size differs from the one most objects have. */
function pageSizeProblems(files: LtxFileInfo[], checks: FileCheck[]): string[] {
  const counts = new Map<number, number>();
  for (const check of checks) {
    if (check.pageSize !== undefined) {
      counts.set(check.pageSize, (counts.get(check.pageSize) ?? 0) + 1);
    }
  }
  if (counts.size <= 1) return [];
  const [usual] = [...counts].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0];
  return checks.flatMap((check, i) =>
    check.pageSize === undefined || check.pageSize === usual ? [] : [
      `${describeFile(files[i])} has page size ${check.pageSize}, the other objects ${usual}`,
    ]
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
