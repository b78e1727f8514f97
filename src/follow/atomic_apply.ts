/**
 * Applies one TXID's pages to a follower's copy so that no SQLite reader ever sees half of it,
 * using SQLite's own locking protocol as readers see it:
 *
 * 1. A `node:sqlite` connection takes SQLite's EXCLUSIVE lock on the copy (`BEGIN EXCLUSIVE`
 *    in rollback-journal mode): readers get SQLITE_BUSY (their `busy_timeout` waits it out)
 *    and the PENDING lock it passes through lets running readers finish but no new ones start.
 * 2. The pages about to change, as they are, go to `PATH-journal` in SQLite's journal format
 *    and order (see rollback_journal.ts): records, fsync, header, fsync, directory fsync.
 * 3. The new pages are written in place and the file truncated to the new size; fsync.
 * 4. The journal is deleted (the commit point), then the lock is released.
 *
 * Killed or powered off anywhere in 2–4, the copy has a hot journal and no lock: the next
 * connection (walsync's own on restart, or a reader that may write) plays it back, so the copy
 * is the previous TXID again. Read-only readers get SQLITE_READONLY_ROLLBACK instead of a
 * torn page until then.
 *
 * POSIX locks belong to the process and closing any descriptor of the file drops them, and
 * Deno's asynchronous file operations duplicate and close descriptors (see db/database.ts):
 * while the lock is held, the copy is touched only with synchronous calls on one handle, which
 * is closed after the connection has released the lock.
 */
import { DatabaseSync } from "node:sqlite";
import { syncDirectory } from "../durable.ts";
import { WalsyncError } from "../errors.ts";
import { isBusyError, readFullySync } from "../db/database.ts";
import { lockPgno } from "../checksum/database_checksum.ts";
import {
  encodeJournalHeaderStart,
  encodeJournalRecord,
  encodePendingJournalHeader,
  journalPathOf,
  randomNonce,
} from "./rollback_journal.ts";

/** How long one `BEGIN EXCLUSIVE` waits inside SQLite (blocking the event loop) per attempt. */
export const LOCK_ATTEMPT_WAIT_MS = 50;
/** How long an apply waits for readers to let go before it gives up for this round. */
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/** Journal and page bytes gathered before a write. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

/** One page's new content. */
export interface PageImage {
  pgno: number;
  data: Uint8Array;
}

export interface AtomicApplyInput {
  /** The copy (rollback-journal mode). */
  path: string;
  pageSize: number;
  /** New pages, ascending and unique; page 1 already patched for the copy. */
  pages: PageImage[];
  /** The copy's size in pages afterwards. */
  pageCount: number;
  lockTimeoutMs?: number;
  /**
   * Tests only: write the pages one by one without lock or journal, the way a naive follower
   * would, so that the reader test can show it catches torn reads.
   */
  unsafe?: boolean;
}

/** Readers held the copy longer than the lock timeout: try again on the next round. */
export class CopyBusyError extends WalsyncError {}

/** A copy that could not be written: the journal, if any, is left for the next open to undo. */
export class CopyWriteError extends WalsyncError {}

export async function applyAtomically(input: AtomicApplyInput): Promise<void> {
  if (input.unsafe) return await applyUnsafely(input);
  await changeUnderLock({
    ...input,
    pgnos: input.pages.map((p) => p.pgno),
    write: (file) => writePages(file, input),
  });
}

/**
 * Replaces the whole copy with the database at `sourcePath` (same page size) the same way, so
 * readers see the old or the new database, never a mix, and keep the same file. Streams: memory
 * stays at a chunk whatever the size.
 */
export async function replaceAtomically(input: {
  path: string;
  sourcePath: string;
  pageSize: number;
  lockTimeoutMs?: number;
}): Promise<void> {
  const source = Deno.openSync(input.sourcePath, { read: true });
  try {
    const pageCount = Math.floor(source.statSync().size / input.pageSize);
    await changeUnderLock({
      ...input,
      pageCount,
      pgnos: Array.from({ length: pageCount }, (_, i) => i + 1),
      write: (file) => {
        const chunk = new Uint8Array(WRITE_CHUNK_BYTES - (WRITE_CHUNK_BYTES % input.pageSize));
        file.seekSync(0, Deno.SeekMode.Start);
        for (let at = 0; at < pageCount * input.pageSize; at += chunk.length) {
          const n = readFullySync(source, chunk, at);
          writeAllSync(file, chunk.subarray(0, n));
        }
      },
    });
  } finally {
    source.close();
  }
}

interface Change {
  path: string;
  pageSize: number;
  /** The copy's size in pages afterwards. */
  pageCount: number;
  /** The pages `write` writes. */
  pgnos: number[];
  write(file: Deno.FsFile): void;
  lockTimeoutMs?: number;
}

/** Lock, journal, write, fsync, delete the journal, unlock (see the module comment). */
async function changeUnderLock(change: Change): Promise<void> {
  const db = await lockExclusive(change.path, change.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  let file: Deno.FsFile | null = null;
  let journalLeft = false;
  try {
    file = Deno.openSync(change.path, { read: true, write: true });
    const journalPath = journalPathOf(change.path);
    const oldPageCount = Math.floor(file.statSync().size / change.pageSize);
    const journaled = journalPages(change, oldPageCount);
    if (journaled.length > 0 || change.pageCount < oldPageCount) {
      journalLeft = true;
      await writeJournal(file, journalPath, { ...change, oldPageCount, journaled });
    }
    change.write(file);
    if (change.pageCount < oldPageCount) file.truncateSync(change.pageCount * change.pageSize);
    file.syncDataSync();
    if (journalLeft) Deno.removeSync(journalPath);
    journalLeft = false;
    db.exec("COMMIT");
  } catch (error) {
    throw new CopyWriteError(
      `Cannot apply to "${change.path}": ${(error as Error).message}${
        journalLeft ? "; its journal rolls the change back on the next open" : ""
      }`,
      { cause: error },
    );
  } finally {
    // Closing the connection releases SQLite's lock; only then may our handle go.
    db.close();
    file?.close();
  }
}

/** Opens the copy and takes SQLite's EXCLUSIVE lock, retrying while readers hold it. */
async function lockExclusive(path: string, timeoutMs: number): Promise<DatabaseSync> {
  const db = new DatabaseSync(path);
  const deadline = Date.now() + timeoutMs;
  try {
    db.exec(`PRAGMA busy_timeout = ${LOCK_ATTEMPT_WAIT_MS}`);
    for (let pauseMs = 1;; pauseMs = Math.min(pauseMs * 2, 100)) {
      try {
        db.exec("BEGIN EXCLUSIVE");
        return db;
      } catch (error) {
        if (!isBusyError(error)) throw error;
        if (Date.now() >= deadline) {
          throw new CopyBusyError(
            `Readers held "${path}" for more than ${timeoutMs} ms; the change waits for the next round`,
          );
        }
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Pages whose current content must be saved: overwritten or truncated, never the lock page. */
function journalPages(change: Change, oldPageCount: number): number[] {
  const lock = lockPgno(change.pageSize);
  const pgnos = new Set(change.pgnos.filter((pgno) => pgno <= oldPageCount));
  for (let pgno = change.pageCount + 1; pgno <= oldPageCount; pgno++) pgnos.add(pgno);
  pgnos.delete(lock);
  return [...pgnos].sort((a, b) => a - b);
}

/** Writes the journal in SQLite's order: records, fsync, record count, fsync, directory. */
async function writeJournal(
  file: Deno.FsFile,
  journalPath: string,
  input: { pageSize: number; oldPageCount: number; journaled: number[] },
): Promise<void> {
  const mode = file.statSync().mode ?? undefined;
  const journal = Deno.openSync(journalPath, {
    write: true,
    create: true,
    truncate: true,
    mode: mode === undefined ? undefined : mode & 0o777,
  });
  try {
    const nonce = randomNonce();
    const chunks = new ChunkedWriter(journal);
    chunks.add(encodePendingJournalHeader({
      nonce,
      initialPageCount: input.oldPageCount,
      pageSize: input.pageSize,
    }));
    const page = new Uint8Array(input.pageSize);
    for (const pgno of input.journaled) {
      readFullySync(file, page, (pgno - 1) * input.pageSize);
      chunks.add(encodeJournalRecord(nonce, pgno, page));
    }
    chunks.flush();
    journal.syncSync();
    journal.seekSync(0, Deno.SeekMode.Start);
    writeAllSync(journal, encodeJournalHeaderStart(input.journaled.length));
    journal.syncSync();
  } finally {
    journal.close();
  }
  await syncDirectory(journalPath.slice(0, journalPath.lastIndexOf("/")) || "/");
}

/** Writes the new pages, runs of consecutive pages in one write. */
function writePages(file: Deno.FsFile, input: AtomicApplyInput): void {
  const { pageSize } = input;
  let run: Uint8Array[] = [];
  let runStart = 0;
  const flush = () => {
    if (run.length === 0) return;
    const bytes = new Uint8Array(run.length * pageSize);
    run.forEach((p, i) => bytes.set(p, i * pageSize));
    file.seekSync((runStart - 1) * pageSize, Deno.SeekMode.Start);
    writeAllSync(file, bytes);
    run = [];
  };
  for (const { pgno, data } of input.pages) {
    const contiguous = run.length > 0 && pgno === runStart + run.length;
    if (!contiguous || run.length * pageSize >= WRITE_CHUNK_BYTES) {
      flush();
      runStart = pgno;
    }
    run.push(data);
  }
  flush();
}

/** The naive apply the tests must catch: page by page, no lock, no journal. */
async function applyUnsafely(input: AtomicApplyInput): Promise<void> {
  const file = Deno.openSync(input.path, { read: true, write: true });
  try {
    for (const page of [...input.pages].reverse()) {
      writePages(file, { ...input, pages: [page] });
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    file.truncateSync(input.pageCount * input.pageSize);
  } finally {
    file.close();
  }
}

class ChunkedWriter {
  #file: Deno.FsFile;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  constructor(file: Deno.FsFile) {
    this.#file = file;
  }
  add(part: Uint8Array): void {
    this.#parts.push(part);
    this.#bytes += part.length;
    if (this.#bytes >= WRITE_CHUNK_BYTES) this.flush();
  }
  flush(): void {
    if (this.#bytes === 0) return;
    const bytes = new Uint8Array(this.#bytes);
    let at = 0;
    for (const part of this.#parts) {
      bytes.set(part, at);
      at += part.length;
    }
    writeAllSync(this.#file, bytes);
    this.#parts = [];
    this.#bytes = 0;
  }
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) at += file.writeSync(bytes.subarray(at));
}
