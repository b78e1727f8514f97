/**
 * The follower's copy is in rollback-journal mode, while the primary's page 1 says WAL. Page 1
 * of the copy therefore differs from the primary's in a few header fields
 * (sqlite.org/fileformat.html, "The Database Header"):
 * - bytes 18 and 19 (file format write/read version) are 1, "legacy", so every reader opens
 *   the copy in rollback-journal mode and takes the file locks walsync's apply waits for;
 * - the file change counter (offset 24) and "version-valid-for" (offset 92) get a new value
 *   on every apply: readers in rollback mode keep their page cache while the counter is
 *   unchanged, and WAL-mode primaries do not bump it on every commit;
 * - the database size (offset 28) is the copy's page count, valid with the counter above.
 *
 * The database checksum walsync verifies is the primary's, so the follower keeps the
 * primary's values of these fields (`PrimaryFields`, 14 bytes) to undo the patch when it
 * checksums page 1.
 */

const OFF_WRITE_VERSION = 18;
const OFF_READ_VERSION = 19;
const OFF_CHANGE_COUNTER = 24;
const OFF_PAGE_COUNT = 28;
const OFF_VERSION_VALID_FOR = 92;
/** Rollback-journal ("legacy") file format in bytes 18 and 19; WAL is 2. */
const FORMAT_LEGACY = 1;

/** Header ranges the copy changes: [offset, length]. */
const PATCHED_RANGES: readonly (readonly [number, number])[] = [
  [OFF_WRITE_VERSION, 2],
  [OFF_CHANGE_COUNTER, 8],
  [OFF_VERSION_VALID_FOR, 4],
];
/** Bytes the primary's values of the patched fields take. */
export const PRIMARY_FIELDS_BYTES = 14;

/** The primary's bytes in the patched ranges, in order. */
export type PrimaryFields = Uint8Array;

/** The primary's values of the fields the copy changes, from the primary's page 1. */
export function primaryFieldsOf(page1: Uint8Array): PrimaryFields {
  const fields = new Uint8Array(PRIMARY_FIELDS_BYTES);
  let at = 0;
  for (const [offset, length] of PATCHED_RANGES) {
    fields.set(page1.subarray(offset, offset + length), at);
    at += length;
  }
  return fields;
}

/** Page 1 as the primary has it: the copy's page 1 with the primary's fields put back. */
export function unpatchPage1(copyPage1: Uint8Array, primary: PrimaryFields): Uint8Array {
  const page = copyPage1.slice();
  let at = 0;
  for (const [offset, length] of PATCHED_RANGES) {
    page.set(primary.subarray(at, at + length), offset);
    at += length;
  }
  return page;
}

/** Turns a primary's page 1 into the copy's, in place. */
export function patchPage1(
  page1: Uint8Array,
  fields: { changeCounter: number; pageCount: number },
): void {
  const view = new DataView(page1.buffer, page1.byteOffset, page1.byteLength);
  page1[OFF_WRITE_VERSION] = FORMAT_LEGACY;
  page1[OFF_READ_VERSION] = FORMAT_LEGACY;
  view.setUint32(OFF_CHANGE_COUNTER, fields.changeCounter);
  view.setUint32(OFF_PAGE_COUNT, fields.pageCount);
  view.setUint32(OFF_VERSION_VALID_FOR, fields.changeCounter);
}

/** The copy's file change counter. */
export function changeCounterOf(page1: Uint8Array): number {
  return new DataView(page1.buffer, page1.byteOffset, page1.byteLength).getUint32(
    OFF_CHANGE_COUNTER,
  );
}

/** The counter after `counter` (wraps like SQLite's u32). */
export function nextChangeCounter(counter: number): number {
  return (counter + 1) >>> 0;
}

export function fieldsToHex(fields: PrimaryFields): string {
  return Array.from(fields, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fieldsFromHex(hex: string): PrimaryFields | null {
  if (!/^[0-9a-f]{28}$/.test(hex)) return null;
  const fields = new Uint8Array(PRIMARY_FIELDS_BYTES);
  for (let i = 0; i < PRIMARY_FIELDS_BYTES; i++) {
    fields[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return fields;
}
