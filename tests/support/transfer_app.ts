/**
 * The primary application for follower tests, in its own OS process: moves money between
 * random accounts, one transfer per transaction, so the sum of balances never changes.
 * Each transaction also rewrites a filler column on both rows (their pages change), and every
 * 20th appends a row with a balance of 0 (the database grows; the others leave page 1 alone,
 * so readers' caches must notice the change some other way). A version number goes up by one
 * in every transaction.
 * Usage: deno run -A tests/support/transfer_app.ts DB TRANSACTIONS [PAUSE_MS]
 */
import { DatabaseSync } from "node:sqlite";

export const ACCOUNTS = 2000;
export const OPENING_BALANCE = 1000;
export const TOTAL = ACCOUNTS * OPENING_BALANCE;

export function createAccounts(path: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000");
  db.exec("CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL, filler TEXT)");
  db.exec("CREATE TABLE meta(k INTEGER PRIMARY KEY, version INTEGER NOT NULL)");
  db.exec("INSERT INTO meta VALUES (1, 0)");
  db.exec("BEGIN");
  const insert = db.prepare("INSERT INTO acct(bal, filler) VALUES (?, ?)");
  for (let i = 0; i < ACCOUNTS; i++) insert.run(OPENING_BALANCE, "x".repeat(150));
  db.exec("COMMIT");
  db.close();
}

if (import.meta.main) {
  const [path, count, pause] = Deno.args;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000");
  const move = db.prepare("UPDATE acct SET bal = bal + ?, filler = ? WHERE id = ?");
  const grow = db.prepare("INSERT INTO acct(bal, filler) VALUES (0, ?)");
  const bump = db.prepare("UPDATE meta SET version = version + 1 WHERE k = 1");
  for (let i = 0; i < Number(count); i++) {
    const from = 1 + Math.floor(Math.random() * ACCOUNTS);
    const to = 1 + Math.floor(Math.random() * ACCOUNTS);
    const amount = 1 + Math.floor(Math.random() * 50);
    const filler = crypto.randomUUID().repeat(4);
    db.exec("BEGIN IMMEDIATE");
    move.run(-amount, filler, from);
    move.run(amount, filler, to);
    if (i % 20 === 0) grow.run(filler);
    bump.run();
    db.exec("COMMIT");
    if (Number(pause) > 0) await new Promise((r) => setTimeout(r, Number(pause)));
  }
  db.close();
}
