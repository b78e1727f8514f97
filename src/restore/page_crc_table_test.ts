import assert from "node:assert/strict";
import { DatabaseChecksum } from "../checksum/database_checksum.ts";
import { AppliedChecksum, PageCrcTable } from "./page_crc_table.ts";

const PAGE_SIZE = 512;

function page(fill: number): Uint8Array {
  return new Uint8Array(PAGE_SIZE).fill(fill);
}

/** The checksum of a database whose page i+1 is filled with fills[i]. */
function checksumOf(fills: number[]): bigint {
  const sum = new DatabaseChecksum();
  fills.forEach((fill, i) => sum.toggle(i + 1, page(fill)));
  return sum.value;
}

function setAll(table: PageCrcTable, fills: Record<number, number>): void {
  for (const [pgno, fill] of Object.entries(fills)) {
    table.set(Number(pgno), PageCrcTable.crcOf(Number(pgno), page(fill)));
  }
}

Deno.test("PageCrcTable follows pages replaced and truncated like a full recount", () => {
  const table = new PageCrcTable(PAGE_SIZE);
  assert.equal(table.value, new DatabaseChecksum().value);
  setAll(table, { 1: 1, 2: 2, 3: 3, 4: 4 });
  table.truncate(4);
  assert.equal(table.value, checksumOf([1, 2, 3, 4]));
  setAll(table, { 2: 9 });
  table.truncate(3);
  assert.equal(table.pageCount, 3);
  assert.equal(table.value, checksumOf([1, 9, 3]));
  assert.equal(table.get(4), 0n);
  setAll(table, { 4: 5, 5: 6 });
  table.truncate(5);
  assert.equal(table.value, checksumOf([1, 9, 3, 5, 6]));
});

Deno.test("AppliedChecksum tells what a file gives without changing the table", () => {
  const table = new PageCrcTable(PAGE_SIZE);
  setAll(table, { 1: 1, 2: 2, 3: 3, 4: 4 });
  table.truncate(4);
  const before = table.value;
  // A file changing page 2, adding page 5, and shrinking to 5 pages... then to 3.
  const grow = new AppliedChecksum(table);
  grow.add(2, PageCrcTable.crcOf(2, page(7)));
  grow.add(5, PageCrcTable.crcOf(5, page(8)));
  assert.equal(grow.result(5), checksumOf([1, 7, 3, 4, 8]));
  const shrink = new AppliedChecksum(table);
  shrink.add(1, PageCrcTable.crcOf(1, page(6)));
  assert.equal(shrink.result(3), checksumOf([6, 2, 3]));
  assert.equal(table.value, before);
});
