/**
 * Single writer per file replica, like the S3 lease: an exclusive lock (flock) on
 * `<root>/.walsync-lock`, held for as long as the writer runs. The kernel drops the lock when
 * its holder dies, however it dies, so no expiry is needed; the holder's host, pid and start
 * time written into the file let a refused walsync name it. Litestream only reads
 * `<name>/ltx/`, so the file is invisible to it.
 *
 * The lock file is never deleted: a second process could otherwise lock a file that is being
 * unlinked while a third creates and locks a new one.
 */
import {
  encodeHolder,
  hostname,
  LeaseHeldError,
  type LeaseHolder,
  parseHolder,
} from "../lease_holder.ts";

export const FILE_LEASE_NAME = ".walsync-lock";

export class FileLease {
  readonly path: string;
  #file: Deno.FsFile | null;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /**
   * Takes the lock of the replica at `root` (a directory, created if missing), or throws
   * `LeaseHeldError` naming the walsync that holds it.
   */
  static async acquire(root: string, options: { location: string }): Promise<FileLease> {
    await Deno.mkdir(root, { recursive: true });
    const path = `${root.replace(/\/+$/, "")}/${FILE_LEASE_NAME}`;
    const file = await Deno.open(path, { read: true, write: true, create: true });
    if (!(await file.tryLock(true))) {
      file.close();
      throw new LeaseHeldError(options.location, await readHolder(path), { lock: path });
    }
    try {
      await file.truncate(0);
      await file.write(encodeHolder({
        tool: "walsync",
        host: hostname(),
        pid: Deno.pid,
        since: new Date().toISOString(),
      }));
    } catch (error) {
      file.close();
      throw error;
    }
    return new FileLease(path, file);
  }

  /** Gives the lock up (the file stays, emptied, for the next holder). */
  async release(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    this.#file = null;
    try {
      await file.truncate(0);
    } finally {
      file.close();
    }
  }
}

/** The holder named in the lock file, or null when it has not written itself yet. */
async function readHolder(path: string): Promise<LeaseHolder | null> {
  try {
    return parseHolder(await Deno.readFile(path));
  } catch {
    return null;
  }
}
