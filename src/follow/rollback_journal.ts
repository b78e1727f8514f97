/**
 * SQLite's rollback journal, byte for byte as SQLite's pager writes it, so that a journal
 * walsync leaves behind (killed, or the machine losing power, mid-apply) is a hot journal
 * that any SQLite connection opening the copy plays back before it reads a page.
 *
 * Layout (sqlite.org/fileformat.html, "The Rollback Journal"): a header padded to the
 * sector size, then one record per page: u32be(pgno) ‖ the page as it was ‖ u32be checksum,
 * where the checksum is the header's nonce plus every 200th byte of the page counted back
 * from `pageSize - 200`. SQLite's own order makes a torn journal harmless: the header goes
 * out with its magic and record count zeroed (not a hot journal at all), then the records,
 * fsync, then magic and count, fsync. A record whose checksum is wrong ends the playback.
 */

/** The eight bytes every journal header starts with. */
export const JOURNAL_MAGIC = new Uint8Array([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
/** The header's size on disk: its fields padded to this "sector size" (a power of two). */
export const JOURNAL_SECTOR_SIZE = 512;

// Header field offsets.
const OFF_MAGIC = 0;
const OFF_RECORD_COUNT = 8;
const OFF_NONCE = 12;
const OFF_INITIAL_PAGE_COUNT = 16;
const OFF_SECTOR_SIZE = 20;
const OFF_PAGE_SIZE = 24;

/** Bytes around each page in a record: the page number before it, the checksum after. */
export const RECORD_OVERHEAD_BYTES = 8;

/** The journal file of a database in rollback-journal mode. */
export function journalPathOf(databasePath: string): string {
  return `${databasePath}-journal`;
}

/**
 * The header: `recordCount` 0 until the records are durable, `initialPageCount` the database
 * size before the transaction (playback truncates the file back to it).
 */
export function encodeJournalHeader(fields: {
  recordCount: number;
  nonce: number;
  initialPageCount: number;
  pageSize: number;
}): Uint8Array {
  const header = new Uint8Array(JOURNAL_SECTOR_SIZE);
  const view = new DataView(header.buffer);
  header.set(JOURNAL_MAGIC, OFF_MAGIC);
  view.setUint32(OFF_RECORD_COUNT, fields.recordCount);
  view.setUint32(OFF_NONCE, fields.nonce);
  view.setUint32(OFF_INITIAL_PAGE_COUNT, fields.initialPageCount);
  view.setUint32(OFF_SECTOR_SIZE, JOURNAL_SECTOR_SIZE);
  view.setUint32(OFF_PAGE_SIZE, fields.pageSize);
  return header;
}

/** The header as first written: magic and record count zeroed until the records are durable. */
export function encodePendingJournalHeader(
  fields: { nonce: number; initialPageCount: number; pageSize: number },
): Uint8Array {
  const header = encodeJournalHeader({ ...fields, recordCount: 0 });
  header.fill(0, OFF_MAGIC, OFF_RECORD_COUNT + 4);
  return header;
}

/** Magic and record count, written at offset 0 once the records are durable. */
export function encodeJournalHeaderStart(recordCount: number): Uint8Array {
  const bytes = new Uint8Array(OFF_RECORD_COUNT + 4);
  bytes.set(JOURNAL_MAGIC, OFF_MAGIC);
  new DataView(bytes.buffer).setUint32(OFF_RECORD_COUNT, recordCount);
  return bytes;
}

/** SQLite's `pager_cksum`: the nonce plus every 200th byte, from `pageSize - 200` down. */
export function recordChecksum(nonce: number, page: Uint8Array): number {
  let sum = nonce;
  for (let i = page.length - 200; i > 0; i -= 200) sum = (sum + page[i]) >>> 0;
  return sum >>> 0;
}

/** One record: the page number, the page as it was, its checksum. */
export function encodeJournalRecord(nonce: number, pgno: number, page: Uint8Array): Uint8Array {
  const record = new Uint8Array(page.length + RECORD_OVERHEAD_BYTES);
  const view = new DataView(record.buffer);
  view.setUint32(0, pgno);
  record.set(page, 4);
  view.setUint32(4 + page.length, recordChecksum(nonce, page));
  return record;
}

/** A nonce for a new journal (SQLite uses a random one too). */
export function randomNonce(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
