/**
 * The replica auditor behind `walsync verify`: downloads every object of one database once
 * and checks it (SHA-256 against the recorded one, a full LTX decode, header against key),
 * walks the chain of files from the earliest snapshot checking the database checksum at
 * every TXID it passes (verify_chain.ts), checks that the TXID sequence has no hole a restore
 * would fall into, and runs SQLite's full integrity check on the latest state the walk
 * rebuilt. Every problem is collected; none stops the audit, so one run tells the whole story.
 */
import { formatChecksum } from "../checksum/database_checksum.ts";
import { fastSha256Stream, type StreamHash } from "../checksum/sha256.ts";
import { FormatError } from "../errors.ts";
import { LtxDecoder } from "../ltx/ltx_decoder.ts";
import { formatTxid, isSnapshot, SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { type Logger, silentLogger } from "../log.ts";
import { isFileNotFound, type LtxFileInfo, type ReplicaClient } from "../replica/replica_client.ts";
import { integrityResult, listAllFiles, PLAN_ATTEMPTS, readOrAbort } from "./apply.ts";
import { describeFile } from "./plan.ts";
import { RestoreError } from "./restore_error.ts";
import { type Fetched, Prefetcher } from "./prefetch.ts";
import { ChainChecker, type ObjectApply } from "./verify_chain.ts";
import { type CompactionPolicy, DEFAULT_COMPACTION_POLICY } from "../compact/policy.ts";
import { retentionFindings } from "../compact/retention_check.ts";
import { planVerifyWalk, type WalkItem } from "./verify_walk.ts";

/** Objects downloaded ahead of the one being checked. */
export const DEFAULT_VERIFY_CONCURRENCY = 4;
/** Objects named one by one in each kind of note before the rest are counted. */
const MAX_NAMED_NOTES = 20;
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
  /** Objects downloaded at once (ahead of the one being checked). */
  concurrency?: number;
  /**
   * The retention policy: every position it retains must have a chain, and files none needs
   * are noted. Default: compaction's defaults.
   */
  policy?: CompactionPolicy;
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
  /** The latest state's rolling checksum (16 hex digits), when it was rebuilt and sound. */
  databaseChecksum?: string;
}

/**
 * Audits one database's replica; throws only when aborted or when listing fails. A listed
 * object that is gone when read, and no longer listed, was deleted by compaction or retention
 * meanwhile (a daemon compacts the replica while it is audited): the audit starts again from a
 * fresh listing, up to `PLAN_ATTEMPTS` in all; one still listed but not readable is a problem.
 */
export async function verifyReplica(options: VerifyOptions): Promise<VerifyReport> {
  const { client, name, signal } = options;
  const log = (options.logger ?? silentLogger).with({ db: name });
  let files = await listAllFiles(client, name, signal);
  for (let attempt = 1;; attempt++) {
    const vanished: LtxFileInfo[] = [];
    const report = await auditOnce(options, log, files, vanished);
    if (vanished.length === 0 || attempt >= PLAN_ATTEMPTS) return report;
    // The next audit's listing, and whether the unreadable objects are still in it.
    files = await listAllFiles(client, name, signal);
    const listed = new Set(files.map(fileKey));
    const gone = vanished.filter((f) => !listed.has(fileKey(f)));
    if (gone.length === 0) return report;
    log.warn(
      "replica objects were deleted while being audited (compaction or retention); auditing again from a fresh listing",
      { objects: gone.map(describeFile).slice(0, 5), attempt },
    );
  }
}

const fileKey = (f: LtxFileInfo) => `${f.level}/${f.minTxid}-${f.maxTxid}`;

async function auditOnce(
  options: VerifyOptions,
  log: Logger,
  files: LtxFileInfo[],
  vanished: LtxFileInfo[],
): Promise<VerifyReport> {
  const { client, name } = options;
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

  const walk = planVerifyWalk(files);
  const dir = await Deno.makeTempDir({ prefix: "walsync-verify-" });
  const dbPath = `${dir}/latest.db`;
  const db = await Deno.open(dbPath, { read: true, write: true, createNew: true, mode: 0o600 });
  try {
    // Step 1: every object once, in the walk's order, checked and applied as it arrives.
    const chain = new ChainChecker(walk.items, { file: db, path: dbPath });
    const unhashed = await checkAll(walk.items, chain, options, { log, report, vanished });
    chain.finish(walk.reach);
    report.problems.push(...chain.findings.problems);

    // Step 2: the TXID sequence and every retained position's chain, from the listing alone.
    const holes = coverageProblems(files);
    report.problems.push(...holes);
    if (holes.length === 0) {
      // (A hole already says which positions cannot be restored.)
      const retention = retentionFindings(
        files,
        options.policy ?? DEFAULT_COMPACTION_POLICY,
        Date.now(),
      );
      report.problems.push(...retention.problems);
      report.notes.push(...retention.notes);
    }

    // Step 3: SQLite's own check of the latest state, rebuilt by the walk.
    const latest = chain.latest;
    if (latest !== null && latest.txid === latestTxid) {
      await db.sync();
      const result = integrityResult(latest.dbPath, "full");
      if (result === "ok") {
        report.databaseChecksum = formatChecksum(latest.checksum);
        log.info("latest state verified", {
          txid: formatTxid(latest.txid),
          checksum: report.databaseChecksum,
        });
      } else {
        report.problems.push(
          `The database at the latest TXID ${
            formatTxid(latestTxid)
          } fails PRAGMA integrity_check: ${result}`,
        );
      }
    } else if (report.problems.length === 0) {
      report.problems.push(
        `The latest TXID ${
          formatTxid(latestTxid)
        } could not be rebuilt for SQLite's integrity check`,
      );
    }
    report.notes.push(
      ...namedNotes(
        unhashed.filter((f) => !chain.findings.unrecorded.includes(f)),
        (label) =>
          `${label}: no SHA-256 recorded (written by another tool?); its LTX checksum was verified`,
        "more objects have no SHA-256 recorded",
      ),
      ...namedNotes(
        chain.findings.unrecorded,
        (label, file) =>
          `${label}: no ${
            unhashed.includes(file) ? "SHA-256 or database checksum" : "database checksum"
          } recorded (written by another tool?); its LTX checksum was verified`,
        "more objects have no database checksum recorded",
      ),
      ...namedNotes(
        chain.findings.unreached,
        (label) =>
          `${label}: no restorable position comes before it, so only the object itself was checked`,
        "more objects are out of every restore's reach",
      ),
    );
  } finally {
    db.close();
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

/** Reads every object in the walk's order; returns those without a recorded SHA-256. */
async function checkAll(
  items: WalkItem[],
  chain: ChainChecker,
  options: VerifyOptions,
  context: { log: Logger; report: VerifyReport; vanished: LtxFileInfo[] },
): Promise<LtxFileInfo[]> {
  const { client, name, signal } = options;
  const { log, report, vanished } = context;
  const prefetcher = new Prefetcher(
    items.map((item) => item.file),
    (file) => client.openFile(name, file, { signal }),
    { objects: options.concurrency ?? DEFAULT_VERIFY_CONCURRENCY },
  );
  prefetcher.start();
  const progress: VerifyProgress = {
    files: 0,
    bytes: 0,
    totalFiles: items.length,
    totalBytes: report.bytes,
  };
  const unhashed: LtxFileInfo[] = [];
  let nextLogAt = PROGRESS_STEP;
  for (const [index, item] of items.entries()) {
    signal?.throwIfAborted();
    const fetched = await prefetcher.take(index);
    report.problems.push(...await checkObject(item, fetched, chain, { signal, vanished }));
    if (item.file.sha256 === undefined) unhashed.push(item.file);
    progress.files++;
    progress.bytes += item.file.sizeBytes;
    options.onProgress?.({ ...progress });
    const done = progress.totalBytes > 0
      ? progress.bytes / progress.totalBytes
      : progress.files / progress.totalFiles;
    if (done >= nextLogAt || progress.files === progress.totalFiles) {
      log.info("objects checked", {
        files: progress.files,
        totalFiles: progress.totalFiles,
        bytes: progress.bytes,
        totalBytes: progress.totalBytes,
        percent: Math.floor(done * 100),
      });
      while (nextLogAt <= done) nextLogAt += PROGRESS_STEP;
    }
  }
  return unhashed;
}

/**
 * Reads one object, hashing and decoding it as the bytes arrive and handing its pages to the
 * chain; returns the problems with the object itself (the chain keeps its own).
 */
async function checkObject(
  item: WalkItem,
  fetched: Fetched,
  chain: ChainChecker,
  { signal, vanished }: { signal?: AbortSignal; vanished: LtxFileInfo[] },
): Promise<string[]> {
  const info = item.file;
  const label = describeFile(info);
  const problems: string[] = [];
  if (fetched.kind === "failed") {
    if (signal?.aborted) throw fetched.error;
    if (isFileNotFound(fetched.error)) vanished.push(info);
    problems.push(`${label} cannot be read: ${messageOf(fetched.error)}`);
    chain.fail(item);
    return problems;
  }
  const sha = await fastSha256Stream();
  const chunks = hashedChunks(fetched, sha, signal);
  // A read failure leaves the hash incomplete: only a decode failure still allows comparing it.
  let complete = true;
  let applying: ObjectApply | undefined;
  try {
    const decoder = new LtxDecoder(chunks);
    const header = await decoder.readHeader();
    if (header.minTxid !== info.minTxid || header.maxTxid !== info.maxTxid) {
      problems.push(
        `${label}: its header says TXIDs ${formatTxid(header.minTxid)}..${
          formatTxid(header.maxTxid)
        }, not the range in its name`,
      );
    }
    if (info.level === SNAPSHOT_LEVEL && !isSnapshot(header)) {
      problems.push(`${label} is at the snapshot level but does not start at TXID 1`);
    }
    applying = await chain.begin(item, header);
    const page = new Uint8Array(header.pageSize);
    let pgno: number | null;
    while ((pgno = await decoder.readPage(page)) !== null) await applying.page(pgno, page);
    const summary = await decoder.finish();
    await chain.end(applying, summary.trailer);
    applying = undefined;
  } catch (error) {
    // Aborted, or the rebuilt database could not be written (a full disk): not the object's fault.
    if (signal?.aborted || error instanceof RestoreError) throw error;
    chain.fail(item, applying);
    if (error instanceof FormatError) {
      problems.push(`${label} is damaged: ${error.message}`);
      // Hash the rest too: a SHA-256 mismatch tells damage in storage from a bad writer.
      try {
        for await (const _ of chunks) { /* hashed as it passes */ }
      } catch (readError) {
        if (signal?.aborted) throw readError;
        complete = false;
      }
    } else {
      complete = false;
      if (isFileNotFound(error)) vanished.push(info);
      problems.push(`${label} cannot be read: ${messageOf(error)}`);
    }
  } finally {
    await chunks.return(undefined).catch(() => {});
  }
  if (!complete) return problems;
  if (sha.sizeBytes !== info.sizeBytes) {
    problems.push(`${label} has ${sha.sizeBytes} bytes, but is listed with ${info.sizeBytes}`);
  }
  if (info.sha256 !== undefined) {
    const sha256 = sha.digestHex();
    if (sha256 !== info.sha256) {
      problems.push(
        `${label} has SHA-256 ${sha256}, but ${info.sha256} is recorded; restores that read it fail`,
      );
    }
  }
  return problems;
}

/** An object's chunks, read ahead or streamed, each hashed as it passes. */
async function* hashedChunks(
  fetched: Exclude<Fetched, { kind: "failed" }>,
  sha: StreamHash,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  if (fetched.kind === "buffered") {
    for (const chunk of fetched.chunks) {
      sha.update(chunk);
      yield chunk;
    }
    if (fetched.error !== undefined) throw fetched.error;
    return;
  }
  const reader = fetched.stream.getReader();
  try {
    while (true) {
      const { done, value } = await readOrAbort(reader, signal);
      if (done) return;
      sha.update(value);
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** One note per object, the first few named and the rest counted. */
function namedNotes(
  files: LtxFileInfo[],
  note: (label: string, file: LtxFileInfo) => string,
  more: string,
): string[] {
  const notes = files.slice(0, MAX_NAMED_NOTES).map((file) => note(describeFile(file), file));
  if (files.length > MAX_NAMED_NOTES) notes.push(`${files.length - MAX_NAMED_NOTES} ${more}`);
  return notes;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
