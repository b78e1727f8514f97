import assert from "node:assert/strict";
import {
  CHECKSUM_FLAG,
  DatabaseChecksum,
  formatChecksum,
  lockPgno,
  pageChecksum,
} from "./database_checksum.ts";

Deno.test("pageChecksum matches superfly/ltx's vectors", () => {
  assert.equal(pageChecksum(1, new Uint8Array(512).fill(1)), 0xe4e4aaa102377eeen);
  assert.equal(pageChecksum(1, new Uint8Array(4096)), 0xd9328f592d9e733dn);
});

Deno.test("DatabaseChecksum over three pages matches superfly/ltx's ChecksumReader vector", () => {
  const sum = new DatabaseChecksum();
  for (const fill of [1, 2, 3]) sum.toggle(fill, new Uint8Array(512).fill(fill));
  assert.equal(sum.value, 0xefffffffecd99000n);
  assert.equal(formatChecksum(sum.value), "efffffffecd99000");
});

Deno.test("DatabaseChecksum returns to its old value when a page is toggled out again", () => {
  const sum = new DatabaseChecksum();
  assert.equal(sum.value, CHECKSUM_FLAG);
  const page = new Uint8Array(1024).fill(9);
  sum.toggle(2, new Uint8Array(1024).fill(1));
  const before = sum.value;
  sum.toggle(7, page).toggle(7, page);
  assert.equal(sum.value, before);
  assert.equal(new DatabaseChecksum(before).value, before);
});

Deno.test("lockPgno is the page after the first gigabyte", () => {
  assert.equal(lockPgno(512), 2097153);
  assert.equal(lockPgno(4096), 262145);
  assert.equal(lockPgno(65536), 16385);
});
