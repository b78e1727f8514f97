import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  encodeJournalHeader,
  encodeJournalHeaderStart,
  encodeJournalRecord,
  encodePendingJournalHeader,
  JOURNAL_MAGIC,
  journalPathOf,
  recordChecksum,
} from "./rollback_journal.ts";

Deno.test("journal records carry the checksum SQLite's own journal gives the same page", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/a.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=DELETE; CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(3000))");
  // Mid-transaction, SQLite's journal holds the original pages with their checksums.
  db.exec("BEGIN; UPDATE t SET x = randomblob(3000)");
  const journal = Deno.readFileSync(journalPathOf(path));
  db.exec("ROLLBACK");
  db.close();
  // Not synced yet: SQLite keeps the magic and record count zero, as walsync does.
  assert.deepEqual(journal.subarray(0, 12), new Uint8Array(12));
  const view = new DataView(journal.buffer);
  const nonce = view.getUint32(12);
  const sectorSize = view.getUint32(20);
  const pageSize = view.getUint32(24);
  const pgno = view.getUint32(sectorSize);
  const page = journal.subarray(sectorSize + 4, sectorSize + 4 + pageSize);
  const stored = view.getUint32(sectorSize + 4 + pageSize);
  assert.equal(recordChecksum(nonce, page), stored);
  assert.deepEqual(
    encodeJournalRecord(nonce, pgno, page),
    journal.subarray(sectorSize, sectorSize + pageSize + 8),
  );
});

Deno.test("SQLite plays back a journal walsync wrote, and ignores an unfinished one", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/a.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=DELETE; CREATE TABLE t(x); INSERT INTO t VALUES ('before')");
  db.close();
  const before = Deno.readFileSync(path);
  const pageSize = 4096;
  const pageCount = before.length / pageSize;
  const change = new DatabaseSync(path);
  change.exec("UPDATE t SET x = 'after'");
  change.close();
  const journalOf = (recordCount: number) => {
    const parts = [
      encodeJournalHeader({ recordCount, nonce: 7, initialPageCount: pageCount, pageSize }),
    ];
    for (let pgno = 1; pgno <= pageCount; pgno++) {
      parts.push(
        encodeJournalRecord(7, pgno, before.subarray((pgno - 1) * pageSize, pgno * pageSize)),
      );
    }
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
    return bytes;
  };
  const read = () => {
    const conn = new DatabaseSync(path);
    try {
      return (conn.prepare("SELECT x FROM t").get() as { x: string }).x;
    } finally {
      conn.close();
    }
  };
  Deno.writeFileSync(journalPathOf(path), journalOf(0));
  assert.equal(read(), "after");
  const pending = journalOf(pageCount);
  pending.set(encodePendingJournalHeader({ nonce: 7, initialPageCount: pageCount, pageSize }));
  Deno.writeFileSync(journalPathOf(path), pending);
  assert.equal(read(), "after");
  pending.set(encodeJournalHeaderStart(pageCount));
  assert.deepEqual(pending.subarray(0, 8), JOURNAL_MAGIC);
  Deno.writeFileSync(journalPathOf(path), journalOf(pageCount));
  assert.equal(read(), "before");
});
