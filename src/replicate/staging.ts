/**
 * The local staging area next to a database (`.<file>-walsync/` by default): LTX files
 * written durably before upload, so an object-storage outage never blocks checkpoints and
 * a restart uploads whatever was staged. An exclusive lock keeps a second walsync process
 * off the same database. Everything in it takes the database's mode (`fileMode`), the
 * directories that mode plus search where it grants read, so a private database stays private.
 */
import { fastSha256Stream, sha256Hex, type StreamHash } from "../checksum/sha256.ts";
import {
  directoryModeFor,
  openForWrite,
  setMode,
  syncDirectory,
  writeChunk,
  writeFileDurably,
} from "../durable.ts";
import { WalsyncError } from "../errors.ts";
import { BufferPool } from "./buffer_pool.ts";
import { processStartTicks, sameProcessAlive } from "../process_alive.ts";
import { formatTxid } from "../ltx/ltx_header.ts";
import type { LtxFileKey } from "../replica/replica_client.ts";

const PENDING = "pending";
const META_SUFFIX = ".meta.json";
/** Encoded pages are gathered into writes of this size. */
const WRITE_BUFFER_BYTES = 256 * 1024;
/**
 * A staged object up to this size is kept in memory and hashed with one WebCrypto call
 * (native, 5–6× faster than the plain-TypeScript hash walsync used before). WebCrypto cannot
 * hash incrementally, so a larger object (a big snapshot, a huge transaction) is hashed as it
 * streams, with `node:crypto`: its recorded SHA-256 is still that of the whole object.
 */
export const DEFAULT_HASH_IN_MEMORY_BYTES = 8 * 1024 * 1024;
/** First allocation for an object hashed in memory; doubled as it grows. */
const INITIAL_HELD_BYTES = 64 * 1024;
/** The first held buffer of each staged object, reused (a batch is usually smaller). */
const HELD_BUFFERS = new BufferPool(INITIAL_HELD_BYTES, 8);
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
  /** The holder serves `snapshot-request.json` files when sent SIGUSR1 (a `watch`). */
  snapshotRequests: boolean;
  /** When the holder started (Linux clock ticks), so a reused pid is not taken for it. */
  startTicks?: number | null;
}

/** The lock file's owner record, or null if there is none (or it is unreadable). */
export async function readLockOwner(dir: string): Promise<LockOwner | null> {
  try {
    const owner = JSON.parse(await Deno.readTextFile(`${dir}/lock`));
    if (Number.isSafeInteger(owner?.pid) && owner.pid > 0) {
      return {
        pid: owner.pid,
        snapshotRequests: owner.snapshotRequests === true,
        startTicks: Number.isSafeInteger(owner.startTicks) ? owner.startTicks : null,
      };
    }
  } catch { /* no owner record */ }
  return null;
}

/**
 * The `walsync` process that replicates the database whose staging directory is `dir`, or
 * null: one holding the lock, or a running `watch` that let go of the database while it was
 * idle (its owner record stays, and it takes the lock again at the database's next change).
 */
export async function daemonOwner(dir: string): Promise<LockOwner | null> {
  let lock: Deno.FsFile;
  try {
    lock = await Deno.open(`${dir}/lock`, { read: true });
  } catch {
    return null;
  }
  let held: boolean;
  try {
    held = !(await lock.tryLock(true));
    if (!held) await lock.unlock();
  } finally {
    lock.close();
  }
  const owner = await readLockOwner(dir);
  if (held) return owner ?? { pid: 0, snapshotRequests: false };
  if (
    owner && owner.pid !== Deno.pid && owner.snapshotRequests &&
    sameProcessAlive(owner.pid, owner.startTicks)
  ) {
    return owner;
  }
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

export interface StagingOptions {
  /** Recorded in the lock file: this process answers `walsync snapshot` requests. */
  servesSnapshotRequests?: boolean;
  /**
   * Permission bits for every file in the staging area (the database's, see `copyFileModeOf`);
   * directories get `directoryModeFor` of it. Default: the process's umask decides.
   */
  fileMode?: number;
}

export class Staging {
  readonly dir: string;
  /** Permission bits of the staged files (undefined: the umask decides). */
  readonly fileMode: number | undefined;
  #lock: Deno.FsFile;

  private constructor(dir: string, lock: Deno.FsFile, options: StagingOptions) {
    this.dir = dir;
    this.#lock = lock;
    this.fileMode = options.fileMode;
  }

  /** Opens (creating) the staging directory and takes its exclusive lock. */
  static async open(dir: string, dbPath: string, options: StagingOptions = {}): Promise<Staging> {
    const { fileMode } = options;
    const dirMode = fileMode === undefined ? undefined : directoryModeFor(fileMode);
    await Deno.mkdir(`${dir}/${PENDING}`, { recursive: true, mode: dirMode });
    // Existing directories too: the database's mode may have changed since they were made.
    await setMode(dir, dirMode);
    await setMode(`${dir}/${PENDING}`, dirMode);
    const lock = await Deno.open(`${dir}/lock`, {
      read: true,
      write: true,
      create: true,
      mode: fileMode,
    });
    if (!(await lock.tryLock(true))) {
      lock.close();
      throw new StagingLockedError(
        `Another walsync process is replicating "${dbPath}" (lock "${dir}/lock" is held); stop it first`,
        dir,
      );
    }
    try {
      await setMode(`${dir}/lock`, fileMode);
      await setMode(`${dir}/state`, fileMode);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        lock.close();
        throw error;
      }
    }
    // A running watch that let go of this database while idle still replicates it.
    const previous = await readLockOwner(dir);
    if (
      previous && previous.pid !== Deno.pid && previous.snapshotRequests &&
      sameProcessAlive(previous.pid, previous.startTicks)
    ) {
      lock.close();
      throw new StagingLockedError(
        `Another walsync process (pid ${previous.pid}) is replicating "${dbPath}" (it holds the database while it changes, "${dir}/lock"); stop it first`,
        dir,
      );
    }
    const owner: LockOwner = {
      pid: Deno.pid,
      snapshotRequests: options.servesSnapshotRequests === true,
      startTicks: processStartTicks(Deno.pid),
    };
    await lock.truncate(0);
    await lock.write(new TextEncoder().encode(JSON.stringify(owner)));
    // Remove temp files a crash may have left; they were never acknowledged.
    for await (const entry of Deno.readDir(`${dir}/${PENDING}`)) {
      if (entry.name.endsWith(".tmp")) await Deno.remove(`${dir}/${PENDING}/${entry.name}`);
    }
    return new Staging(dir, lock, options);
  }

  get statePath(): string {
    return `${this.dir}/state`;
  }

  /**
   * Stages one LTX file: `produce` writes its bytes through `write`; the file is hashed (see
   * `DEFAULT_HASH_IN_MEMORY_BYTES`), made durable, and only then becomes visible to `list()`.
   * `large` (a snapshot of a big database) says it will not fit in memory: it is hashed as it
   * streams from the start.
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
    const temp = `${path}.tmp`;
    const file = await openForWrite(temp, this.fileMode);
    const writer = new HashingWriter(file, options.large ? 0 : DEFAULT_HASH_IN_MEMORY_BYTES);
    let written: { sizeBytes: number; sha256: string };
    try {
      await produce((chunk) => writer.write(chunk));
      written = await writer.finish();
      await file.sync();
    } catch (error) {
      file.close();
      await Deno.remove(temp).catch(() => {});
      throw error;
    } finally {
      writer.dispose();
    }
    file.close();
    const staged: StagedFile = { ...key, path, ...written, ...info };
    const meta = {
      sha256: staged.sha256,
      databaseChecksum: staged.databaseChecksum.toString(16),
      createdAt: staged.createdAt.toISOString(),
    };
    await writeFileDurably(
      `${path}${META_SUFFIX}`,
      new TextEncoder().encode(JSON.stringify(meta)),
      { syncDir: false, mode: this.fileMode },
    );
    Deno.renameSync(temp, path);
    await syncDirectory(`${this.dir}/${PENDING}`);
    return staged;
  }

  /**
   * Staged files in upload order: by MaxTXID, level 0 before snapshots. Synchronous reads of a
   * small directory: cheaper than Deno's asynchronous operations (see durable.ts).
   */
  // deno-lint-ignore require-await
  async list(): Promise<StagedFile[]> {
    const files: StagedFile[] = [];
    for (const entry of Deno.readDirSync(`${this.dir}/${PENDING}`)) {
      const match = PENDING_NAME.exec(entry.name);
      if (!match) continue;
      const path = `${this.dir}/${PENDING}/${entry.name}`;
      let meta: { sha256: string; databaseChecksum: string; createdAt: string };
      try {
        meta = JSON.parse(Deno.readTextFileSync(`${path}${META_SUFFIX}`));
      } catch (error) {
        // Staging writes the metadata before the file appears: a file without it (or with
        // unreadable metadata) was never completely staged. Anything else (no file descriptor
        // left, an I/O error) fails the listing and is tried again, never taken for that.
        if (!(error instanceof Deno.errors.NotFound) && !(error instanceof SyntaxError)) {
          throw error;
        }
        removeQuietly(path);
        continue;
      }
      files.push({
        level: Number(match[1]),
        minTxid: parseInt(match[2], 16),
        maxTxid: parseInt(match[3], 16),
        path,
        sizeBytes: Deno.statSync(path).size,
        sha256: meta.sha256,
        databaseChecksum: BigInt(`0x${meta.databaseChecksum}`),
        createdAt: new Date(meta.createdAt),
      });
    }
    return files.sort((a, b) => a.maxTxid - b.maxTxid || a.level - b.level);
  }

  /** Removes a staged file after upload, or because it was never acknowledged. */
  // deno-lint-ignore require-await
  async remove(file: StagedFile): Promise<void> {
    removeQuietly(`${file.path}${META_SUFFIX}`);
    removeQuietly(file.path);
  }

  close(): void {
    this.#lock.close();
  }
}

/**
 * Writes a staged object in `WRITE_BUFFER_BYTES` writes and hashes it: while it fits in
 * `inMemoryBytes`, every byte is kept and digested at the end with one WebCrypto call; past
 * that, the bytes so far and all that follow go through an incremental `node:crypto` hash.
 */
class HashingWriter {
  #file: Deno.FsFile;
  #inMemoryBytes: number;
  /** Every byte so far, while the object fits in memory; null once streaming. */
  #held: Uint8Array | null;
  #heldBytes = 0;
  /** How much of `#held` is already in the file. */
  #flushedBytes = 0;
  #stream: StreamHash | null = null;
  #buffer: Uint8Array | null = null;
  #buffered = 0;

  constructor(file: Deno.FsFile, inMemoryBytes: number) {
    this.#file = file;
    this.#inMemoryBytes = inMemoryBytes;
    this.#held = inMemoryBytes >= INITIAL_HELD_BYTES
      ? HELD_BUFFERS.take()
      : inMemoryBytes > 0
      ? new Uint8Array(inMemoryBytes)
      : null;
  }

  /** Gives a pooled buffer back: the object is written and hashed, or failed. */
  dispose(): void {
    if (this.#held) HELD_BUFFERS.give(this.#held);
    this.#held = null;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#held && this.#heldBytes + chunk.length <= this.#inMemoryBytes) {
      this.#hold(chunk);
      if (this.#heldBytes - this.#flushedBytes >= WRITE_BUFFER_BYTES) await this.#flushHeld();
      return;
    }
    if (!this.#stream) await this.#startStreaming();
    this.#stream!.update(chunk);
    const buffer = this.#buffer!;
    if (this.#buffered + chunk.length > buffer.length) {
      await writeChunk(this.#file, buffer.subarray(0, this.#buffered));
      this.#buffered = 0;
    }
    if (chunk.length >= buffer.length) {
      await writeChunk(this.#file, chunk);
    } else {
      buffer.set(chunk, this.#buffered);
      this.#buffered += chunk.length;
    }
  }

  /** Writes what is left and returns the object's size and SHA-256. */
  async finish(): Promise<{ sizeBytes: number; sha256: string }> {
    if (this.#held) {
      await this.#flushHeld();
      const held = this.#held.subarray(0, this.#heldBytes);
      return { sizeBytes: held.length, sha256: await sha256Hex(held) };
    }
    if (!this.#stream) await this.#startStreaming();
    await writeChunk(this.#file, this.#buffer!.subarray(0, this.#buffered));
    return { sizeBytes: this.#stream!.sizeBytes, sha256: this.#stream!.digestHex() };
  }

  /** Copies `chunk` into `#held` (the caller may reuse its buffer), growing it by doubling. */
  #hold(chunk: Uint8Array): void {
    let held = this.#held!;
    const needed = this.#heldBytes + chunk.length;
    if (needed > held.length) {
      let length = held.length;
      while (length < needed) length *= 2;
      const grown = new Uint8Array(Math.min(length, this.#inMemoryBytes));
      grown.set(held.subarray(0, this.#heldBytes));
      this.#held = held = grown;
    }
    held.set(chunk, this.#heldBytes);
    this.#heldBytes = needed;
  }

  async #flushHeld(): Promise<void> {
    await writeChunk(this.#file, this.#held!.subarray(this.#flushedBytes, this.#heldBytes));
    this.#flushedBytes = this.#heldBytes;
  }

  /** The object outgrew memory: hash what is held, write it out, and stream from here on. */
  async #startStreaming(): Promise<void> {
    this.#stream = await fastSha256Stream();
    if (this.#held) {
      this.#stream.update(this.#held.subarray(0, this.#heldBytes));
      await this.#flushHeld();
      HELD_BUFFERS.give(this.#held);
      this.#held = null;
    }
    this.#buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  }
}

/** Removes `path` if it is there. */
function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* gone already */ }
}
