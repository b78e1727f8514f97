/**
 * One SQLite database as walsync sees it: a `node:sqlite` connection that pins a read
 * transaction (so no checkpoint can restart the WAL past frames walsync has not copied),
 * plus a handle on the database file that lives as long as the connection, and one on the
 * `-wal` file for the length of each operation (sync, snapshot), for reading pages directly.
 *
 * POSIX advisory locks belong to the process: closing any descriptor of the database file
 * drops every lock SQLite holds on it. So the database-file handle lives exactly as long as
 * the connection, and walsync never opens that file any other way. Deno's *async* file
 * operations (stat, seek, read, readable) run on a duplicated descriptor and close it
 * afterwards, which drops those locks too (measured with Deno 2.9.6); the database file is
 * therefore only ever touched with synchronous calls. SQLite keeps no locks on `-wal`.
 */
import { backup, DatabaseSync } from "node:sqlite";
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

/** The file is not (yet) a SQLite database: empty, or without SQLite's header. */
export class NotADatabaseError extends DatabaseError {}

const SQLITE_MAGIC = new TextEncoder().encode("SQLite format 3\0");

/** Which file a path named when it was opened: device and inode (null where unknown). */
export interface FileIdentity {
  dev: number | null;
  ino: number | null;
}

/** What the path names now, compared with the file walsync holds open. */
export type PathState = "same" | "replaced" | "deleted";

/** The `-wal` file as one stat sees it. */
export interface WalStat {
  /** 0 when the file does not exist. */
  sizeBytes: number;
  /** Size, mtime and inode: changes whenever the file does (a restart keeps the size). */
  fingerprint: string;
}

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
  #walFrozen = false;
  #pinned = false;
  /** The file this connection opened (the path may come to name another). */
  readonly identity: FileIdentity;

  private constructor(
    path: string,
    conn: DatabaseSync,
    dbFile: Deno.FsFile,
    pageSize: number,
    identity: FileIdentity,
  ) {
    this.path = path;
    this.walPath = `${path}-wal`;
    this.#conn = conn;
    this.#dbFile = dbFile;
    this.pageSize = pageSize;
    this.identity = identity;
  }

  /**
   * Opens `path` (which must exist) and switches it to WAL mode if needed (as Litestream
   * does). The caller pins the read transaction (`pin`, retried on busy).
   */
  static open(path: string): Database {
    // The handle walsync reads pages through is opened first and kept for the connection's
    // life: the header check and the identity read through it open nothing else on the file.
    let dbFile: Deno.FsFile;
    try {
      dbFile = Deno.openSync(path, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new DatabaseError(`Database "${path}" does not exist`, { cause: error });
      }
      throw new DatabaseError(`Database "${path}" cannot be opened: ${(error as Error).message}`, {
        cause: error,
      });
    }
    let conn: DatabaseSync | null = null;
    try {
      const info = dbFile.statSync();
      if (!info.isFile) throw new DatabaseError(`Database "${path}" is not a file`);
      checkHeader(path, dbFile);
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
      const pageSize = (conn.prepare("PRAGMA page_size").get() as { page_size: number })
        .page_size;
      return new Database(path, conn, dbFile, pageSize, { dev: info.dev, ino: info.ino });
    } catch (error) {
      // SQLite's descriptors first, then ours (see the module comment).
      conn?.close();
      dbFile.close();
      if (error instanceof DatabaseError) throw error;
      throw new DatabaseError(
        `Database "${path}" could not be opened: ${(error as Error).message}`,
        { cause: error },
      );
    }
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
   * One stat of the `-wal` file: its size and a cheap fingerprint (size, modification time,
   * inode; "" if it does not exist). A restart rewrites the WAL in place at the same size, so
   * size alone is not enough.
   */
  // deno-lint-ignore require-await
  async walStat(): Promise<WalStat> {
    try {
      // Synchronous: about 2 µs against about 55 µs for the asynchronous stat (Deno 2.9.6).
      const info = Deno.statSync(this.walPath);
      return {
        sizeBytes: info.size,
        fingerprint: `${info.size}:${info.mtime?.getTime() ?? 0}:${info.ino ?? 0}`,
      };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { sizeBytes: 0, fingerprint: "" };
      throw error;
    }
  }

  /** The fingerprint part of `walStat`. */
  async walFingerprint(): Promise<string> {
    return (await this.walStat()).fingerprint;
  }

  /**
   * Whether `path` (default the database's; a symlink is followed) still names the file this
   * connection holds: "deleted" when nothing is there, "replaced" when another file is (a
   * restore or copy renamed over it, a symlink pointed elsewhere). One stat; never opens it.
   */
  pathState(path: string = this.path): PathState {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "deleted";
      throw error;
    }
    if (this.identity.ino === null || info.ino === null) return "same";
    return info.ino === this.identity.ino && info.dev === this.identity.dev ? "same" : "replaced";
  }

  /**
   * Closes walsync's handle on the `-wal` file until the next read (SQLite keeps no locks on
   * it, so this drops none): an idle database then holds one descriptor fewer.
   */
  closeWal(): void {
    if (this.#walFrozen) return;
    this.#walFile?.close();
    this.#walFile = null;
  }

  /**
   * Stops following the `-wal` path: reads keep the handle open now (or none). Used once the
   * database file was replaced, to copy what the old file's WAL still holds without ever
   * reading the new file's WAL as if it were the old one's.
   */
  freezeWal(): void {
    this.#walFrozen = true;
  }

  /**
   * Copies the database as the pinned read transaction sees it into a new file at `dest`
   * (SQLite's backup API reuses the open read transaction). The fallback when walsync cannot
   * read the WAL itself: SQLite may still be using frames walsync cannot parse.
   */
  async backupTo(dest: string): Promise<void> {
    if (!this.#pinned) throw new DatabaseError("Cannot copy the pinned view: nothing is pinned");
    await backup(this.#conn, dest);
  }

  /**
   * Reads from the `-wal` file at `offset`; 0 bytes if it does not exist. Synchronous reads:
   * the WAL was just written, so its pages are in the page cache, and a synchronous read costs
   * a few microseconds where Deno's asynchronous seek and read cost tens.
   */
  readAt(buffer: Uint8Array, offset: number): Promise<number> {
    const wal = this.#wal();
    return Promise.resolve(wal ? readFullySync(wal, buffer, offset) : 0);
  }

  /** Reads page `pgno` of the database file into `buffer`; returns the bytes read. */
  readPage(pgno: number, buffer: Uint8Array): number {
    return readFullySync(this.#dbFile, buffer, (pgno - 1) * this.pageSize);
  }

  /** Size of the database file in bytes. */
  fileSize(): number {
    return this.#dbFile.statSync().size;
  }

  /**
   * Closes the connection, then walsync's handles. With `lock` (from `tryWriteLock`), the
   * connection closes while the lock is held and the lock goes after it: no commit can land
   * between walsync's last look and its letting go, and the connection's close is never the
   * last one (which would checkpoint and delete the WAL); the lock's may be.
   */
  close(lock?: { release(): void }): void {
    try {
      this.unpin();
    } catch { /* closing anyway */ }
    try {
      this.#conn.close();
    } finally {
      try {
        lock?.release();
      } finally {
        this.#walFile?.close();
        this.#walFile = null;
        // Only now, with SQLite's own descriptors closed, may ours go.
        this.#dbFile.close();
      }
    }
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
  /**
   * The `-wal` handle: opened at the first read of an operation (so it is the file the path
   * names then), kept until `closeWal` ends the operation. SQLite keeps no POSIX locks on the
   * `-wal` file, so opening and closing it drops none.
   */
  #wal(): Deno.FsFile | null {
    if (this.#walFile || this.#walFrozen) return this.#walFile;
    try {
      this.#walFile = Deno.openSync(this.walPath, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    return this.#walFile;
  }
}

/** Refuses a file without SQLite's header: SQLite would turn an empty file into a database. */
function checkHeader(path: string, file: Deno.FsFile): void {
  const head = new Uint8Array(SQLITE_MAGIC.length);
  const n = readFullySync(file, head, 0);
  if (n === 0) {
    throw new NotADatabaseError(
      `Database "${path}" is empty (no SQLite header yet); walsync starts once it is created`,
    );
  }
  if (n < head.length || head.some((byte, i) => byte !== SQLITE_MAGIC[i])) {
    throw new NotADatabaseError(`"${path}" is not a SQLite database (its header is not SQLite's)`);
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
