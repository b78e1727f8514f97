/**
 * Restore, applied: streams each planned file's pages straight into `<out>.walsync-tmp`
 * (later files overwrite earlier pages), verifies every object's SHA-256 and LTX checksum,
 * truncates to the final commit, checks the rolling database checksum recorded at the
 * target and SQLite's integrity check, then fsyncs and renames. Nothing is left behind on
 * failure, and an existing database is never touched without `force`.
 */
import { DatabaseSync } from "node:sqlite";
import { formatChecksum } from "../checksum/database_checksum.ts";
import { fastSha256Stream, type StreamHash } from "../checksum/sha256.ts";
import { syncDirectory } from "../durable.ts";
import { ChecksumMismatchError, WalsyncError } from "../errors.ts";
import { LtxDecoder } from "../ltx/ltx_decoder.ts";
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import { checksumFile, PageWriter } from "./page_writer.ts";
import { describeFile, planRestore, type RestorePlan, type RestoreTarget } from "./plan.ts";

export type IntegrityCheck = "none" | "quick" | "full";

export interface RestoreOptions {
  client: ReplicaClient;
  name: string;
  output: string;
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

/** A restore that cannot proceed or produced something that does not verify. */
export class RestoreError extends WalsyncError {}

const ALL_LEVELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, SNAPSHOT_LEVEL];

/** Lists every level of one database's replica. */
export async function listAllFiles(
  client: ReplicaClient,
  name: string,
  signal?: AbortSignal,
): Promise<LtxFileInfo[]> {
  const files: LtxFileInfo[] = [];
  for (const level of ALL_LEVELS) files.push(...await client.listFiles(name, level, signal));
  return files;
}

/** Plans a restore without writing anything (`--dry-run`). */
export async function planFor(
  client: ReplicaClient,
  name: string,
  target: RestoreTarget = { kind: "latest" },
): Promise<RestorePlan> {
  return planRestore(await listAllFiles(client, name), target);
}

export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const { client, name, output } = options;
  const log = (options.logger ?? silentLogger).with({ db: name });
  await refuseToOverwrite(output, options.force ?? false);
  const plan = options.plan ?? await planFor(client, name, options.target);
  log.info("restore plan", { txid: plan.txid, files: plan.files.length });
  const onProgress = options.onProgress;
  const totalBytes = planBytes(plan);
  let doneBytes = 0;
  const onChunk = onProgress === undefined ? undefined : (sizeBytes: number) => {
    doneBytes += sizeBytes;
    onProgress(doneBytes, totalBytes);
  };
  onProgress?.(0, totalBytes);

  const temp = `${output}.walsync-tmp`;
  await removeIfExists(temp);
  const file = await Deno.open(temp, { read: true, write: true, createNew: true });
  let closed = false;
  try {
    let pageSize = 0;
    let pageCount = 0;
    let page = new Uint8Array(0);
    for (const [index, info] of plan.files.entries()) {
      options.signal?.throwIfAborted();
      const sha = await fastSha256Stream();
      const stream = await client.openFile(name, info, { signal: options.signal });
      const decoder = new LtxDecoder(hashing(stream, sha, onChunk));
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
        const writer = new PageWriter(file, pageSize);
        let pgno: number | null;
        while ((pgno = await decoder.readPage(page)) !== null) await writer.write(pgno, page);
        await writer.flush();
        await decoder.finish();
      } catch (error) {
        if (error instanceof RestoreError) throw error;
        throw new RestoreError(
          `Replica object ${describeFile(info)} of "${name}" is damaged: ${
            (error as Error).message
          }`,
          {
            cause: error,
          },
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
      throw new ChecksumMismatchError(
        `Restored database checksum ${formatChecksum(databaseChecksum)} does not match ${
          formatChecksum(last.databaseChecksum)
        } recorded with ${describeFile(last)}`,
        0,
      );
    }
    await file.sync();
    file.close();
    closed = true;
    checkIntegrity(temp, options.integrityCheck ?? "quick");
    if (options.force) {
      // A stale WAL beside the old database would be replayed onto the restored one.
      await removeIfExists(`${output}-wal`);
      await removeIfExists(`${output}-shm`);
    }
    await Deno.rename(temp, output);
    await syncDirectory(parentDir(output));
    log.info("restored", { txid: plan.txid, pageCount, output });
    return {
      txid: plan.txid,
      pageSize,
      pageCount,
      sizeBytes: pageCount * pageSize,
      databaseChecksum,
      files: plan.files,
    };
  } catch (error) {
    if (!closed) file.close();
    await removeIfExists(temp);
    await removeIfExists(`${temp}-wal`);
    await removeIfExists(`${temp}-shm`);
    throw error;
  }
}

/** The bytes a plan downloads: the sum of its files' sizes. */
export function planBytes(plan: RestorePlan): number {
  return plan.files.reduce((sum, file) => sum + file.sizeBytes, 0);
}

/** Fails unless `output` (and its `-wal`) are absent or `force` is set; nothing is touched. */
export async function refuseToOverwrite(output: string, force: boolean): Promise<void> {
  if (force) return;
  for (const path of [output, `${output}-wal`]) {
    try {
      await Deno.lstat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    throw new RestoreError(
      `Output "${path}" already exists; restore refuses to overwrite it (use --force to replace it)`,
    );
  }
}

function checkIntegrity(path: string, mode: IntegrityCheck): void {
  if (mode === "none") return;
  const db = new DatabaseSync(path);
  try {
    const pragma = mode === "full" ? "integrity_check" : "quick_check";
    const rows = db.prepare(`PRAGMA ${pragma}`).all() as Record<string, string>[];
    const result = rows.map((r) => Object.values(r)[0]).join("; ");
    if (result !== "ok") {
      throw new RestoreError(`Restored database fails PRAGMA ${pragma}: ${result}`);
    }
  } finally {
    db.close();
  }
}

async function* hashing(
  stream: ReadableStream<Uint8Array>,
  sha: StreamHash,
  onChunk?: (sizeBytes: number) => void,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) {
    sha.update(chunk);
    onChunk?.(chunk.length);
    yield chunk;
  }
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function parentDir(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
}
