/**
 * The local staging area next to a database (`.<file>-walsync/` by default): LTX files
 * written durably before upload, so an object-storage outage never blocks checkpoints and
 * a restart uploads whatever was staged. An exclusive lock keeps a second walsync process
 * off the same database.
 */
import { fastSha256Stream, Sha256Stream, type StreamHash } from "../checksum/sha256.ts";
import { syncDirectory, writeChunk, writeFileDurably } from "../durable.ts";
import { WalsyncError } from "../errors.ts";
import { formatTxid } from "../ltx/ltx_header.ts";
import type { LtxFileKey } from "../replica/replica_client.ts";

const PENDING = "pending";
const META_SUFFIX = ".meta.json";
/** Encoded pages are gathered into writes of this size. */
const WRITE_BUFFER_BYTES = 256 * 1024;
const PENDING_NAME = /^(\d+)-([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/;

/** A staged LTX file waiting for upload. */
export interface StagedFile extends LtxFileKey {
  path: string;
  sizeBytes: number;
  sha256: string;
  databaseChecksum: bigint;
  createdAt: Date;
}

/** Another process holds the staging lock. */
export class StagingLockedError extends WalsyncError {
  /** The staging directory whose lock is held. */
  readonly dir: string;

  constructor(message: string, dir: string) {
    super(message);
    this.dir = dir;
  }
}

/** What the lock holder writes into the lock file: who it is and what it answers. */
export interface LockOwner {
  pid: number;
  /** The holder serves `snapshot-request.json` files when sent SIGUSR1. */
  snapshotRequests: boolean;
}

/** The lock file's owner record, or null if there is none (or it is unreadable). */
export async function readLockOwner(dir: string): Promise<LockOwner | null> {
  try {
    const owner = JSON.parse(await Deno.readTextFile(`${dir}/lock`));
    if (Number.isSafeInteger(owner?.pid) && owner.pid > 0) {
      return { pid: owner.pid, snapshotRequests: owner.snapshotRequests === true };
    }
  } catch { /* no owner record */ }
  return null;
}

/** Staged files waiting for upload in staging directory `dir` (0 when it does not exist). */
export async function countStagedFiles(dir: string): Promise<number> {
  let count = 0;
  try {
    for await (const entry of Deno.readDir(`${dir}/${PENDING}`)) {
      if (PENDING_NAME.test(entry.name)) count++;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return count;
}

/** The default staging directory for a database file. */
export function defaultStagingDir(dbPath: string): string {
  const slash = dbPath.lastIndexOf("/");
  const dir = slash >= 0 ? dbPath.slice(0, slash) || "/" : ".";
  const base = slash >= 0 ? dbPath.slice(slash + 1) : dbPath;
  return `${dir}/.${base}-walsync`;
}

export class Staging {
  readonly dir: string;
  #lock: Deno.FsFile;

  private constructor(dir: string, lock: Deno.FsFile) {
    this.dir = dir;
    this.#lock = lock;
  }

  /** Opens (creating) the staging directory and takes its exclusive lock. */
  static async open(
    dir: string,
    dbPath: string,
    options: { servesSnapshotRequests?: boolean } = {},
  ): Promise<Staging> {
    await Deno.mkdir(`${dir}/${PENDING}`, { recursive: true });
    const lock = await Deno.open(`${dir}/lock`, { read: true, write: true, create: true });
    if (!(await lock.tryLock(true))) {
      lock.close();
      throw new StagingLockedError(
        `Another walsync process is replicating "${dbPath}" (lock "${dir}/lock" is held); stop it first`,
        dir,
      );
    }
    const owner: LockOwner = {
      pid: Deno.pid,
      snapshotRequests: options.servesSnapshotRequests === true,
    };
    await lock.truncate(0);
    await lock.write(new TextEncoder().encode(JSON.stringify(owner)));
    // Remove temp files a crash may have left; they were never acknowledged.
    for await (const entry of Deno.readDir(`${dir}/${PENDING}`)) {
      if (entry.name.endsWith(".tmp")) await Deno.remove(`${dir}/${PENDING}/${entry.name}`);
    }
    return new Staging(dir, lock);
  }

  get statePath(): string {
    return `${this.dir}/state`;
  }

  /**
   * Stages one LTX file: `produce` writes its bytes through `write`; the file is hashed as it
   * goes, made durable, and only then becomes visible to `list()`. `large` (a snapshot of a big
   * database) hashes with `node:crypto`, which is faster but costs memory once loaded.
   */
  async stage(
    key: LtxFileKey,
    info: { databaseChecksum: bigint; createdAt: Date },
    produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
    options: { large?: boolean } = {},
  ): Promise<StagedFile> {
    const path = `${this.dir}/${PENDING}/${key.level}-${formatTxid(key.minTxid)}-${
      formatTxid(key.maxTxid)
    }.ltx`;
    const hash: StreamHash = options.large ? await fastSha256Stream() : new Sha256Stream();
    const temp = `${path}.tmp`;
    const file = await Deno.open(temp, { write: true, create: true, truncate: true });
    const buffer = new Uint8Array(WRITE_BUFFER_BYTES);
    let buffered = 0;
    try {
      await produce(async (chunk) => {
        hash.update(chunk);
        if (buffered + chunk.length > buffer.length) {
          await writeChunk(file, buffer.subarray(0, buffered));
          buffered = 0;
        }
        if (chunk.length >= buffer.length) {
          await writeChunk(file, chunk);
        } else {
          buffer.set(chunk, buffered);
          buffered += chunk.length;
        }
      });
      await writeChunk(file, buffer.subarray(0, buffered));
      await file.sync();
    } catch (error) {
      file.close();
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
    file.close();
    const staged: StagedFile = {
      ...key,
      path,
      sizeBytes: hash.sizeBytes,
      sha256: hash.digestHex(),
      ...info,
    };
    const meta = {
      sha256: staged.sha256,
      databaseChecksum: staged.databaseChecksum.toString(16),
      createdAt: staged.createdAt.toISOString(),
    };
    await writeFileDurably(
      `${path}${META_SUFFIX}`,
      new TextEncoder().encode(JSON.stringify(meta)),
      { syncDir: false },
    );
    await Deno.rename(temp, path);
    await syncDirectory(`${this.dir}/${PENDING}`);
    return staged;
  }

  /** Staged files in upload order: by MaxTXID, level 0 before snapshots. */
  async list(): Promise<StagedFile[]> {
    const files: StagedFile[] = [];
    for await (const entry of Deno.readDir(`${this.dir}/${PENDING}`)) {
      const match = PENDING_NAME.exec(entry.name);
      if (!match) continue;
      const path = `${this.dir}/${PENDING}/${entry.name}`;
      let meta: { sha256: string; databaseChecksum: string; createdAt: string };
      try {
        meta = JSON.parse(await Deno.readTextFile(`${path}${META_SUFFIX}`));
      } catch {
        // A file without its metadata was never completely staged.
        await Deno.remove(path).catch(() => {});
        continue;
      }
      files.push({
        level: Number(match[1]),
        minTxid: parseInt(match[2], 16),
        maxTxid: parseInt(match[3], 16),
        path,
        sizeBytes: (await Deno.stat(path)).size,
        sha256: meta.sha256,
        databaseChecksum: BigInt(`0x${meta.databaseChecksum}`),
        createdAt: new Date(meta.createdAt),
      });
    }
    return files.sort((a, b) => a.maxTxid - b.maxTxid || a.level - b.level);
  }

  /** Removes a staged file after upload, or because it was never acknowledged. */
  async remove(file: StagedFile): Promise<void> {
    await Deno.remove(`${file.path}${META_SUFFIX}`).catch(() => {});
    await Deno.remove(file.path).catch(() => {});
  }

  close(): void {
    this.#lock.close();
  }
}
