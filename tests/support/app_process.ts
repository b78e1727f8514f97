/**
 * A stand-in application for cross-process tests, run as its own OS process so SQLite's
 * locking between it and walsync is real. It reads one JSON command per line on stdin and
 * answers one JSON line on stdout:
 *   {"op":"exec","sql":"…"}           runs statements in one transaction, answers the dump
 *   {"op":"checkpoint","mode":"FULL"} runs PRAGMA wal_checkpoint(mode)
 *   {"op":"vacuum"}                   runs VACUUM (outside any transaction), answers the dump
 *   {"op":"reopen"}                   closes (the last connection deletes the WAL) and reopens
 *   {"op":"dump"}                     answers every table's rows
 *   {"op":"crash","sql":"…"}          starts a transaction, writes, and exits without committing
 * Usage: deno run -A tests/support/app_process.ts DB PAGE_SIZE
 */
import { DatabaseSync } from "node:sqlite";
import { dumpDatabase } from "./sqlite.ts";

const [path, pageSize] = Deno.args;
const encoder = new TextEncoder();

function open(): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout=10000");
  db.exec(`PRAGMA page_size=${Number(pageSize) || 4096}`);
  db.exec("PRAGMA journal_mode=WAL");
  return db;
}

function reply(value: unknown): void {
  Deno.stdout.writeSync(
    encoder.encode(`${JSON.stringify(value)}\n`),
  );
}

let db = open();
const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    const command = JSON.parse(line);
    try {
      switch (command.op) {
        case "exec":
          db.exec("BEGIN IMMEDIATE");
          try {
            db.exec(command.sql);
            db.exec("COMMIT");
          } catch (error) {
            db.exec("ROLLBACK");
            throw error;
          }
          reply({ ok: true, dump: dumpDatabase(db) });
          break;
        case "vacuum":
          db.exec("VACUUM");
          reply({ ok: true, dump: dumpDatabase(db) });
          break;
        case "checkpoint":
          // RESTART and TRUNCATE wait out busy_timeout while any reader (walsync) is pinned.
          db.exec("PRAGMA busy_timeout=100");
          reply({ ok: true, result: db.prepare(`PRAGMA wal_checkpoint(${command.mode})`).get() });
          db.exec("PRAGMA busy_timeout=10000");
          break;
        case "reopen":
          db.close();
          db = open();
          reply({ ok: true });
          break;
        case "dump":
          reply({ ok: true, dump: dumpDatabase(db) });
          break;
        case "crash":
          // A tiny page cache makes SQLite spill uncommitted frames into the WAL.
          db.exec("PRAGMA cache_size=10");
          db.exec("BEGIN IMMEDIATE");
          db.exec(command.sql);
          Deno.exit(3); // no COMMIT: the frames written so far must never be shipped
          break;
        default:
          reply({ ok: false, error: `unknown op ${command.op}` });
      }
    } catch (error) {
      reply({ ok: false, error: (error as Error).message });
    }
  }
}
