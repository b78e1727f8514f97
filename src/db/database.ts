/**
 * One SQLite database as walsync sees it: a `node:sqlite` connection that pins a read
 * transaction (so no checkpoint can restart the WAL past frames walsync has not copied),
 * plus long-lived handles on the database and `-wal` files for reading pages directly.
 *
 * POSIX advisory locks belong to the process: closing any descriptor of the database file
 * drops every lock SQLite holds on it. So the database-file handle lives exactly as long as
 * the connection, and walsync never opens that file any other way. Deno's *async* file
 * operations (stat, seek, read, readable) run on a duplicated descriptor and close it
 * afterwards, which drops those locks too (measured with Deno 2.9.6); the database file is
 * therefore only ever touched with synchronous calls. SQLite keeps no locks on `-wal`.
 */
import { DatabaseSync } from "node:sqlite";
import { WalsyncError } from "../errors.ts";
import type { ReadAt } from "../wal/wal_reader.ts";

/** How long our own connection waits on a lock before giving up for this round. */
export const DEFAULT_BUSY_TIMEOUT_MS = 0;

export type CheckpointMode = "PASSIVE" | "TRUNCATE";

export interface CheckpointResult {
  /** True if the checkpoint could not finish because of readers or writers. */
  busy: boolean;
  /** Frames in the WAL. */
  walFrames: number;
  /** Frames copied back into the database file. */
  checkpointedFrames: number;
}

/** The database could not be opened or read as walsync needs it. */
export class DatabaseError extends WalsyncError {}

/** True for SQLite's "database is locked"/"busy" errors, which mean "try again later". */
export function isBusyError(error: unknown): boolean {
  return error instanceof Error &&
    /database is locked|database is busy|SQLITE_BUSY/i.test(error.message);
}

export class Database implements ReadAt {
  readonly path: string;
  readonly walPath: string;
  readonly pageSize: number;
  #conn: DatabaseSync;
  #dbFile: Deno.FsFile;
  #walFile: Deno.FsFile | null = null;
  #walIno: number | null = null;
  #pinned = false;

  private constructor(path: string, conn: DatabaseSync, dbFile: Deno.FsFile, pageSize: number) {
    this.path = path;
    this.walPath = `${path}-wal`;
    this.#conn = conn;
    this.#dbFile = dbFile;
    this.pageSize = pageSize;
  }

  /**
   * Opens `path` (which must exist) and switches it to WAL mode if needed (as Litestream
   * does). The caller pins the read transaction (`pin`, retried on busy).
   */
  static open(path: string): Database {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (error) {
      throw new DatabaseError(`Database "${path}" does not exist`, { cause: error });
    }
    if (!info.isFile) throw new DatabaseError(`Database "${path}" is not a file`);
    let conn: DatabaseSync;
    try {
      conn = new DatabaseSync(path);
      conn.exec(`PRAGMA busy_timeout=${DEFAULT_BUSY_TIMEOUT_MS}`);
      const mode = conn.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
      if (mode.journal_mode.toLowerCase() !== "wal") {
        // Switching needs a moment without other connections; wait a little for it.
        conn.exec("PRAGMA busy_timeout=5000");
        const set = conn.prepare("PRAGMA journal_mode=WAL").get() as { journal_mode: string };
        conn.exec(`PRAGMA busy_timeout=${DEFAULT_BUSY_TIMEOUT_MS}`);
        if (set.journal_mode.toLowerCase() !== "wal") {
          throw new DatabaseError(
            `Database "${path}" could not be switched to WAL mode (it is "${set.journal_mode}")`,
          );
        }
      }
      // walsync's connection never writes; it must never checkpoint by accident either.
      conn.exec("PRAGMA wal_autocheckpoint=0");
    } catch (error) {
      if (error instanceof DatabaseError) throw error;
      throw new DatabaseError(
        `Database "${path}" could not be opened: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const pageSize = (conn.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
    const dbFile = Deno.openSync(path, { read: true });
    return new Database(path, conn, dbFile, pageSize);
  }

  /** Starts the long-running read transaction; retried by the caller on busy. */
  pin(): void {
    if (this.#pinned) return;
    this.#conn.exec("BEGIN");
    try {
      this.#conn.prepare("SELECT COUNT(*) FROM sqlite_schema").get();
    } catch (error) {
      this.#conn.exec("ROLLBACK");
      throw error;
    }
    this.#pinned = true;
  }

  /**
   * Moves the pinned read transaction to a fresh connection, never leaving the WAL unpinned:
   * the new read starts before the old one ends. A read begun while the WAL was fully
   * checkpointed sits in SQLite's read slot 0, which lets no checkpoint copy anything back
   * (every application auto-checkpoint then scans the whole WAL in vain, on every commit); a
   * read begun once new frames exist takes a real read mark, which still keeps the WAL from
   * restarting but lets checkpoints progress up to it. Returns false when the new connection
   * could not start its read now (busy): the old pin stays.
   */
  repin(): boolean {
    if (!this.#pinned) throw new DatabaseError("Cannot move a read transaction that is not pinned");
    let next: DatabaseSync;
    try {
      next = openExisting(this.path);
    } catch {
      return false; // deleted or replaced: keep the pin on the file we have
    }
    try {
      next.exec(`PRAGMA busy_timeout=${DEFAULT_BUSY_TIMEOUT_MS}`);
      next.exec("PRAGMA wal_autocheckpoint=0");
      next.exec("BEGIN");
      next.prepare("SELECT COUNT(*) FROM sqlite_schema").get();
      // The path must still name the file we hold; a replaced file is a different database.
      if (!this.#sameFile()) {
        next.exec("ROLLBACK");
        next.close();
        return false;
      }
    } catch (error) {
      next.close();
      if (isBusyError(error)) return false;
      throw error;
    }
    // SQLite keeps a descriptor whose inode other connections still lock open, so closing
    // the old connection leaves the new one's locks (and ours) in place.
    const previous = this.#conn;
    this.#conn = next;
    try {
      previous.exec("COMMIT");
    } finally {
      previous.close();
    }
    return true;
  }

  /** Ends the read transaction (only inside walsync's own checkpoint step). */
  unpin(): void {
    if (!this.#pinned) return;
    this.#conn.exec("COMMIT");
    this.#pinned = false;
  }

  get pinned(): boolean {
    return this.#pinned;
  }

  /** Database size in pages as of the pinned read transaction. */
  pageCount(): number {
    return (this.#conn.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
  }

  /**
   * Opens a second, short-lived connection holding the write lock (`BEGIN IMMEDIATE`), or
   * returns null if another connection holds it now. Nothing can be appended to the WAL
   * until `release()`. Never waits, so one busy database cannot stall the others.
   */
  tryWriteLock(): { release(): void } | null {
    let conn: DatabaseSync;
    try {
      conn = openExisting(this.path);
    } catch {
      return null; // deleted: nothing to checkpoint
    }
    try {
      conn.exec("PRAGMA busy_timeout=0");
      conn.exec("BEGIN IMMEDIATE");
    } catch (error) {
      conn.close();
      if (isBusyError(error)) return null;
      throw error;
    }
    return {
      release() {
        try {
          conn.exec("ROLLBACK");
        } finally {
          conn.close();
        }
      },
    };
  }

  /** Runs a checkpoint on walsync's connection; it must be unpinned. */
  checkpoint(mode: CheckpointMode): CheckpointResult {
    if (this.#pinned) {
      throw new DatabaseError("Cannot checkpoint while the read transaction is pinned");
    }
    const row = this.#conn.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as {
      busy: number;
      log: number;
      checkpointed: number;
    };
    return { busy: row.busy !== 0, walFrames: row.log, checkpointedFrames: row.checkpointed };
  }

  /**
   * A cheap fingerprint of the `-wal` file (size and modification time), or "" if it does not
   * exist. A restart rewrites the WAL in place at the same size, so size alone is not enough.
   */
  async walFingerprint(): Promise<string> {
    try {
      const info = await Deno.stat(this.walPath);
      return `${info.size}:${info.mtime?.getTime() ?? 0}:${info.ino ?? 0}`;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "";
      throw error;
    }
  }

  /** Reads from the `-wal` file at `offset`; 0 bytes if it does not exist. */
  async readAt(buffer: Uint8Array, offset: number): Promise<number> {
    const wal = await this.#wal();
    return wal ? await readFully(wal, buffer, offset) : 0;
  }

  /** Reads page `pgno` of the database file into `buffer`; returns the bytes read. */
  readPage(pgno: number, buffer: Uint8Array): number {
    return readFullySync(this.#dbFile, buffer, (pgno - 1) * this.pageSize);
  }

  /** Size of the database file in bytes. */
  fileSize(): number {
    return this.#dbFile.statSync().size;
  }

  close(): void {
    try {
      this.unpin();
    } catch { /* closing anyway */ }
    this.#conn.close();
    this.#walFile?.close();
    this.#walFile = null;
    // Only now, with SQLite's own descriptors closed, may ours go.
    this.#dbFile.close();
  }

  /** True while the path still names the database file walsync holds open. */
  #sameFile(): boolean {
    try {
      return Deno.statSync(this.path).ino === this.#dbFile.statSync().ino;
    } catch {
      return false;
    }
  }

  /** The `-wal` handle, reopened if the file was replaced since it was opened. */
  async #wal(): Promise<Deno.FsFile | null> {
    let ino: number | null;
    try {
      ino = (await Deno.stat(this.walPath)).ino;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      this.#walFile?.close();
      this.#walFile = null;
      return null;
    }
    if (this.#walFile && ino === this.#walIno) return this.#walFile;
    // SQLite keeps no POSIX locks on the -wal file, so replacing this handle is safe.
    this.#walFile?.close();
    this.#walFile = await Deno.open(this.walPath, { read: true });
    this.#walIno = ino;
    return this.#walFile;
  }
}

/**
 * A second connection to an existing database: never creates the file (a plain path would
 * recreate a database deleted meanwhile as an empty one).
 */
function openExisting(path: string): DatabaseSync {
  const url = new URL("file://");
  url.pathname = path.replaceAll("%", "%25"); // the setter encodes the rest, but not "%"
  url.search = "?mode=rw";
  return new DatabaseSync(url);
}

/**
 * Synchronous positional read: the only safe kind on a file SQLite holds locks on (see the
 * module comment).
 */
export function readFullySync(file: Deno.FsFile, buffer: Uint8Array, offset: number): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let total = 0;
  while (total < buffer.length) {
    const n = file.readSync(buffer.subarray(total));
    if (n === null) break;
    total += n;
  }
  return total;
}

/** Positional read that fills `buffer` unless the file ends first (not for locked files). */
export async function readFully(
  file: Deno.FsFile,
  buffer: Uint8Array,
  offset: number,
): Promise<number> {
  await file.seek(offset, Deno.SeekMode.Start);
  let total = 0;
  while (total < buffer.length) {
    const n = await file.read(buffer.subarray(total));
    if (n === null) break;
    total += n;
  }
  return total;
}
