/**
 * Restore, applied: streams each planned file's pages straight into a temp file beside OUT
 * (later files overwrite earlier pages; see restore_output.ts), verifies every object's
 * SHA-256 and LTX checksum, truncates to the final commit, checks the rolling database
 * checksum recorded at the target and SQLite's integrity check, then fsyncs and renames.
 * Nothing is left behind on failure or on abort, and an existing database is never touched
 * without `force`.
 */
import { DatabaseSync } from "node:sqlite";
import { formatChecksum } from "../checksum/database_checksum.ts";
import { fastSha256Stream, type StreamHash } from "../checksum/sha256.ts";
import { ChecksumMismatchError } from "../errors.ts";
import { LtxDecoder } from "../ltx/ltx_decoder.ts";
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { type Logger, silentLogger } from "../log.ts";
import {
  isFileNotFound,
  type LtxFileInfo,
  type ReplicaClient,
  ReplicaFileNotFoundError,
} from "../replica/replica_client.ts";
import { checksumFile, PageWriter } from "./page_writer.ts";
import { describeFile, planRestore, type RestorePlan, type RestoreTarget } from "./plan.ts";
import { RestoreError } from "./restore_error.ts";
import { RestoreOutput } from "./restore_output.ts";

export type IntegrityCheck = "none" | "quick" | "full";

export interface RestoreOptions {
  client: ReplicaClient;
  name: string;
  /** OUT; refused if it exists, unless `force`. */
  output: string;
  /**
   * OUT prepared beforehand (the CLI prepares it before listing the replica, so a bad path
   * fails before any download); `output` and `force` are then not used.
   */
  outputFile?: RestoreOutput;
  target?: RestoreTarget;
  force?: boolean;
  integrityCheck?: IntegrityCheck;
  signal?: AbortSignal;
  logger?: Logger;
  /** Called after each file is applied (progress display). */
  onFile?: (index: number, plan: RestorePlan) => void;
  /**
   * Called as bytes arrive, at most once per chunk read from the replica: the bytes
   * downloaded so far, and the sum of the planned files' sizes.
   */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** A plan made beforehand (e.g. shown or checked first); else planned from a listing. */
  plan?: RestorePlan;
}

export interface RestoreResult {
  txid: number;
  pageSize: number;
  pageCount: number;
  sizeBytes: number;
  databaseChecksum: bigint;
  files: LtxFileInfo[];
}

const ALL_LEVELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, SNAPSHOT_LEVEL];
/** Metadata requests in flight while completing a plan. */
const COMPLETE_CONCURRENCY = 8;

/**
 * Lists every level of one database's replica. `metadata: false` skips per-object metadata
 * requests (S3 HEADs): fine for planning by TXID, not for times (see `listForPlan`).
 */
export async function listAllFiles(
  client: ReplicaClient,
  name: string,
  signal?: AbortSignal,
  options: { metadata?: boolean } = {},
): Promise<LtxFileInfo[]> {
  const files: LtxFileInfo[] = [];
  for (const level of ALL_LEVELS) {
    files.push(...await client.listFiles(name, level, { signal, metadata: options.metadata }));
  }
  return files;
}

/**
 * The listing a restore plans from: without per-object metadata where the client can fetch it
 * for the planned files alone (`completePlan`), unless the target is a time (the recorded
 * timestamps decide which TXID a time is).
 */
export async function listForPlan(
  client: ReplicaClient,
  name: string,
  target: RestoreTarget,
  signal?: AbortSignal,
): Promise<LtxFileInfo[]> {
  const metadata = target.kind === "timestamp" || client.statFile === undefined;
  return await listAllFiles(client, name, signal, { metadata });
}

/** The planned files with their recorded metadata (one request each where it was missing). */
export async function completePlan(
  client: ReplicaClient,
  name: string,
  plan: RestorePlan,
  signal?: AbortSignal,
): Promise<RestorePlan> {
  const statFile = client.statFile?.bind(client);
  if (!statFile) return plan;
  const files = [...plan.files];
  const missing = files.flatMap((f, i) => (f.sha256 === undefined ? [i] : []));
  // A few at a time: each is one request.
  for (let at = 0; at < missing.length; at += COMPLETE_CONCURRENCY) {
    await Promise.all(
      missing.slice(at, at + COMPLETE_CONCURRENCY).map(async (i) => {
        const file = files[i];
        const stat = await statFile(name, file, signal);
        if (!stat) {
          throw new ReplicaFileNotFoundError(
            `Replica file ${describeFile(file)} of "${name}" vanished`,
          );
        }
        files[i] = { ...file, ...stat, level: file.level };
      }),
    );
  }
  return { ...plan, files };
}

/**
 * Plans made in a row when compaction and retention delete planned files under a restore: a
 * merge deletes its inputs only after the output is uploaded, so a fresh listing finds a
 * chain; a few attempts cover a busy compactor, and the bound turns a fault into an error.
 */
export const PLAN_ATTEMPTS = 5;

/**
 * Plans a restore without writing anything (`--dry-run`), from `listed` when the caller has
 * the listing already. A planned file that vanished before its metadata was read means a
 * fresh listing and a new plan (up to `PLAN_ATTEMPTS` in all).
 */
export async function planFor(
  client: ReplicaClient,
  name: string,
  target: RestoreTarget = { kind: "latest" },
  signal?: AbortSignal,
  listed?: LtxFileInfo[],
): Promise<RestorePlan> {
  for (let attempt = 1;; attempt++) {
    const files = attempt === 1 && listed
      ? listed
      : await listForPlan(client, name, target, signal);
    try {
      return await completePlan(client, name, planRestore(files, target), signal);
    } catch (error) {
      if (!isFileNotFound(error) || attempt >= PLAN_ATTEMPTS || signal?.aborted) throw error;
    }
  }
}

export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const { client, name, signal } = options;
  const log = (options.logger ?? silentLogger).with({ db: name });
  const output = options.outputFile ??
    await RestoreOutput.create(options.output, { force: options.force, logger: log });
  try {
    let plan = options.plan ?? await planFor(client, name, options.target, signal);
    let result: RestoreResult;
    for (let attempt = 1;; attempt++) {
      log.info("restore plan", { txid: plan.txid, files: plan.files.length });
      try {
        result = await writePlan(output, plan, options);
        break;
      } catch (error) {
        // Compaction and retention may delete a planned file while a restore runs (level-0
        // files linger after compaction for this): plan again from a fresh listing.
        if (!isFileNotFound(error) || attempt >= PLAN_ATTEMPTS || signal?.aborted) throw error;
        log.warn("a planned replica file vanished; planning the restore again", {
          attempt,
          error: (error as Error).message,
        });
        plan = await planFor(client, name, options.target, signal);
        await output.file.truncate(0);
      }
    }
    checkIntegrity(output.tempPath, options.integrityCheck ?? "quick");
    // Past this point the restore is complete: a signal now is too late to matter.
    signal?.throwIfAborted();
    await output.commit();
    log.info("restored", { txid: plan.txid, pageCount: result.pageCount, output: output.path });
    return result;
  } catch (error) {
    await output.discard();
    if (signal?.aborted) throw signal.reason ?? error;
    throw error;
  }
}

/** Streams every planned file into the temp file and checks the recorded checksum. */
async function writePlan(
  output: RestoreOutput,
  plan: RestorePlan,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const { client, name, signal } = options;
  const onProgress = options.onProgress;
  const totalBytes = planBytes(plan);
  let doneBytes = 0;
  const onChunk = onProgress === undefined ? undefined : (sizeBytes: number) => {
    doneBytes += sizeBytes;
    onProgress(doneBytes, totalBytes);
  };
  onProgress?.(0, totalBytes);
  const file = output.file;
  let pageSize = 0;
  let pageCount = 0;
  let page = new Uint8Array(0);
  for (const [index, info] of plan.files.entries()) {
    signal?.throwIfAborted();
    const sha = await fastSha256Stream();
    const stream = await client.openFile(name, info, { signal });
    const decoder = new LtxDecoder(hashing(stream, sha, { onChunk, signal }));
    let header;
    try {
      header = await decoder.readHeader();
      if (pageSize === 0) {
        pageSize = header.pageSize;
        page = new Uint8Array(pageSize);
      } else if (header.pageSize !== pageSize) {
        throw new RestoreError(
          `${describeFile(info)} has page size ${header.pageSize}, the others ${pageSize}`,
        );
      }
      const writer = new PageWriter(file, pageSize, { path: output.tempPath });
      let pgno: number | null;
      while ((pgno = await decoder.readPage(page)) !== null) await writer.write(pgno, page);
      await writer.flush();
      await decoder.finish();
    } catch (error) {
      if (signal?.aborted || error instanceof RestoreError) throw error;
      throw new RestoreError(
        `Replica object ${describeFile(info)} of "${name}" is damaged: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const sha256 = sha.digestHex();
    if (info.sha256 !== undefined && sha256 !== info.sha256) {
      throw new ChecksumMismatchError(
        `Replica object ${
          describeFile(info)
        } of "${name}" has SHA-256 ${sha256}, expected ${info.sha256}`,
        0,
      );
    }
    pageCount = header.commit;
    options.onFile?.(index, plan);
  }
  await file.truncate(pageCount * pageSize);

  const databaseChecksum = await checksumFile(file, pageSize, pageCount);
  const last = plan.files.at(-1)!;
  if (last.databaseChecksum !== undefined && last.databaseChecksum !== databaseChecksum) {
    throw new RestoreError(
      `Restored database checksum ${formatChecksum(databaseChecksum)} does not match ${
        formatChecksum(last.databaseChecksum)
      } recorded with ${describeFile(last)}`,
    );
  }
  return {
    txid: plan.txid,
    pageSize,
    pageCount,
    sizeBytes: pageCount * pageSize,
    databaseChecksum,
    files: plan.files,
  };
}

/** The bytes a plan downloads: the sum of its files' sizes. */
export function planBytes(plan: RestorePlan): number {
  return plan.files.reduce((sum, file) => sum + file.sizeBytes, 0);
}

/** Runs SQLite's quick or full integrity check on a database file; throws unless "ok". */
export function checkIntegrity(path: string, mode: IntegrityCheck): void {
  if (mode === "none") return;
  const result = integrityResult(path, mode);
  if (result !== "ok") {
    throw new RestoreError(`Restored database fails PRAGMA ${pragmaFor(mode)}: ${result}`);
  }
}

/** "ok", or what SQLite finds wrong (including a file it cannot open as a database). */
export function integrityResult(path: string, mode: Exclude<IntegrityCheck, "none">): string {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    const rows = db.prepare(`PRAGMA ${pragmaFor(mode)}`).all() as Record<string, string>[];
    return rows.map((r) => Object.values(r)[0]).join("; ");
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    db?.close();
  }
}

function pragmaFor(mode: Exclude<IntegrityCheck, "none">): string {
  return mode === "full" ? "integrity_check" : "quick_check";
}

/** The stream's chunks, hashed and counted; a signal stops it between chunks. */
async function* hashing(
  stream: ReadableStream<Uint8Array>,
  sha: StreamHash,
  options: { onChunk?: (sizeBytes: number) => void; signal?: AbortSignal },
): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await readOrAbort(reader, options.signal);
      if (done) return;
      sha.update(value);
      options.onChunk?.(value.length);
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The next chunk, or the signal's reason as soon as it fires (a stalled read is not awaited). */
export function readOrAbort<T>(
  reader: ReadableStreamDefaultReader<T>,
  signal?: AbortSignal,
): Promise<ReadableStreamReadResult<T>> {
  if (signal === undefined) return reader.read();
  signal.throwIfAborted();
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([reader.read(), aborted]).finally(() =>
    signal.removeEventListener("abort", onAbort)
  );
}
