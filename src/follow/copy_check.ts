/**
 * Reading a follower's copy outside an apply: undo a journal left by a killed apply (through
 * SQLite, exactly as a reader would), and compute the primary's database checksum from the
 * copy's pages (page 1 with the primary's header fields put back).
 */
import { DatabaseSync } from "node:sqlite";
import { CHECKSUM_FLAG, pageChecksum } from "../checksum/database_checksum.ts";
import { readFullySync } from "../db/database.ts";
import { checksumFile } from "../restore/page_writer.ts";
import { changeCounterOf, type PrimaryFields, unpatchPage1 } from "./copy_header.ts";
import { journalPathOf } from "./rollback_journal.ts";

/** Bytes 16–17 of the header: the page size (1 means 65536). */
const OFF_PAGE_SIZE = 16;
const HEADER_BYTES = 100;

/** True if a journal is there (a killed apply's, until a connection plays it back). */
export function hasJournal(copyPath: string): boolean {
  try {
    return Deno.statSync(journalPathOf(copyPath)).size > 0;
  } catch {
    return false;
  }
}

/** Lets SQLite play back a hot journal by opening the copy and reading its schema. */
export function rollBackHotJournal(copyPath: string): void {
  const db = new DatabaseSync(copyPath);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
  } finally {
    db.close();
  }
}

export interface CopyState {
  pageSize: number;
  pageCount: number;
  changeCounter: number;
  /** The primary's database checksum the copy holds, given the primary's page-1 fields. */
  checksum: bigint;
}

/** Reads the whole copy; null if it is not a database walsync could have written. */
export async function readCopyState(
  copyPath: string,
  primaryFields: PrimaryFields,
): Promise<CopyState | null> {
  const file = await Deno.open(copyPath, { read: true });
  try {
    const header = new Uint8Array(HEADER_BYTES);
    if (readFullySync(file, header, 0) < HEADER_BYTES) return null;
    const raw = (header[OFF_PAGE_SIZE] << 8) | header[OFF_PAGE_SIZE + 1];
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return null;
    const sizeBytes = (await file.stat()).size;
    if (sizeBytes % pageSize !== 0) return null;
    const pageCount = sizeBytes / pageSize;
    const page1 = new Uint8Array(pageSize);
    readFullySync(file, page1, 0);
    const asIs = await checksumFile(file, pageSize, pageCount);
    const strip = (pageChecksum(1, page1) ^ pageChecksum(1, unpatchPage1(page1, primaryFields))) &
      ~CHECKSUM_FLAG;
    return {
      pageSize,
      pageCount,
      changeCounter: changeCounterOf(page1),
      checksum: asIs ^ strip,
    };
  } finally {
    file.close();
  }
}
