/**
 * Crash safety of the follower's copy. A follower killed mid-apply leaves a hot journal in
 * SQLite's format that the next connection rolls back, so no reader ever opens a torn copy
 * (and a naive apply, killed the same way, does leave one: the test can fail). A follower
 * SIGKILLed at random instants while the primary writes, and restarted each time, ends with
 * a copy equal to the primary.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { patchPage1 } from "../src/follow/copy_header.ts";
import { journalPathOf } from "../src/follow/rollback_journal.ts";
import { waitFor } from "./support/litestream.ts";
import {
  copyEquals,
  copyHealth,
  copyTxid,
  dumpOf,
  NOT_ON_WINDOWS,
  startReplicate,
} from "./support/follow_fixture.ts";
import { integrityCheck } from "./support/sqlite.ts";
import { createAccounts, TOTAL } from "./support/transfer_app.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: NOT_ON_WINDOWS, sanitizeOps: false, sanitizeResources: false, fn });

const APPLY_CHILD = new URL("./support/apply_child.ts", import.meta.url).pathname;
const TRANSFER_APP = new URL("./support/transfer_app.ts", import.meta.url).pathname;

/** A rollback-mode database of `rows` rows of `value` (about 1 KB each), as the copy would be. */
function makeCopy(path: string, rows: number, value: string): void {
  const db = new DatabaseSync(path);
  db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
  db.exec("BEGIN");
  const insert = db.prepare("INSERT INTO t(v) VALUES (?)");
  for (let i = 0; i < rows; i++) insert.run(value.repeat(1000));
  db.exec("COMMIT");
  db.close();
  const bytes = Deno.readFileSync(path);
  patchPage1(bytes.subarray(0, 4096), { changeCounter: 1, pageCount: bytes.length / 4096 });
  Deno.writeFileSync(path, bytes);
}

/** Starts the apply of NEW onto COPY in a child and SIGKILLs it once it started writing. */
async function killMidApply(
  copy: string,
  next: string,
  mode: "apply" | "unsafe" | "replace",
): Promise<boolean> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", APPLY_CHILD, copy, next, mode],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const started = Date.now();
  const mtimeBefore = Deno.statSync(copy).mtime?.getTime();
  let killed = false;
  while (true) {
    const status = await Promise.race([child.status, new Promise((r) => setTimeout(r, 1))]);
    if (status) break;
    // Killed once the copy itself is being written (the journal, if any, is complete by then).
    const writing = Deno.statSync(copy).mtime?.getTime() !== mtimeBefore;
    if (writing || Date.now() - started > 30_000) {
      try {
        child.kill("SIGKILL");
        killed = writing;
      } catch { /* it finished first: this attempt caught nothing */ }
      break;
    }
  }
  await child.status;
  return killed;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What a reader finds on the copy: the distinct values of `v`, and the integrity check. */
function readCopy(copy: string): { values: string[]; integrity: string } {
  const db = new DatabaseSync(copy);
  try {
    db.exec("PRAGMA busy_timeout=5000");
    let integrity: string;
    let values: string[];
    try {
      integrity = integrityCheck(db);
      values = (db.prepare("SELECT DISTINCT substr(v, 1, 1) AS v FROM t ORDER BY v").all() as {
        v: string;
      }[]).map((r) => r.v);
    } catch (error) {
      return { values: [], integrity: (error as Error).message };
    }
    return { values, integrity };
  } finally {
    db.close();
  }
}

test("an apply killed mid-write leaves a hot journal that the next reader rolls back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-follow-kill-" });
  let caught = 0;
  for (let attempt = 0; attempt < 9 && caught < 6; attempt++) {
    const copy = `${dir}/copy-${attempt}.db`;
    makeCopy(copy, 4000, "a");
    // Every other apply shrinks the copy (its truncation is undone too).
    makeCopy(`${dir}/next-${attempt}.db`, attempt % 2 === 0 ? 5000 : 1500, "b");
    const sizeBefore = Deno.statSync(copy).size;
    // Every third is a whole-file replacement (a restore-again in place).
    const mode = attempt % 3 === 2 ? "replace" : "apply";
    if (!await killMidApply(copy, `${dir}/next-${attempt}.db`, mode)) continue;
    if (!exists(journalPathOf(copy))) {
      // The kill landed after the commit point (the journal deleted): the new state, whole.
      assert.deepEqual(readCopy(copy), { values: ["b"], integrity: "ok" });
      continue;
    }
    caught++;
    // A read-only reader cannot roll back: SQLite refuses rather than show a torn page.
    const ro = new DatabaseSync(copy, { readOnly: true });
    assert.throws(() => ro.prepare("SELECT count(*) FROM t").get(), /readonly/i);
    ro.close();
    // A reader that may write rolls the journal back: the copy is the previous state, whole.
    assert.deepEqual(readCopy(copy), { values: ["a"], integrity: "ok" });
    assert.ok(!exists(journalPathOf(copy)), "SQLite removed the journal after playing it back");
    assert.equal(Deno.statSync(copy).size, sizeBefore);
  }
  assert.ok(caught > 0, "an apply was caught mid-write");
});

test("a naive apply killed mid-write leaves a torn copy (the check above can fail)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-follow-naive-" });
  const copy = `${dir}/copy.db`;
  makeCopy(copy, 4000, "a");
  makeCopy(`${dir}/next.db`, 4000, "b");
  assert.ok(await killMidApply(copy, `${dir}/next.db`, "unsafe"));
  assert.notDeepEqual(readCopy(copy), { values: ["a"], integrity: "ok" });
  assert.notDeepEqual(readCopy(copy), { values: ["b"], integrity: "ok" });
});

test("a follower SIGKILLed at random instants and restarted ends equal to the primary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-follow-sigkill-" });
  const db = `${dir}/bank.db`;
  const copy = `${dir}/bank-copy.db`;
  const replica = `file://${dir}/rep`;
  createAccounts(db);
  const watch = new WalsyncProcess(["watch", db, "-b", replica, "--sync-interval", "50ms"]);
  await watch.ready();
  const app = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRANSFER_APP, db, "3000", "2"],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  let kills = 0;
  let journalsLeft = 0;
  const logs: string[] = [];
  let follow: WalsyncProcess | null = null;
  try {
    // Even rounds: killed at a random instant. Odd rounds: killed as soon as an apply's journal
    // appears, so some kills land mid-apply for sure.
    for (let round = 0; round < 12; round++) {
      follow = startReplicate(["bank.db", "-b", replica, "-o", copy]);
      if (round % 2 === 0) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
      } else {
        const deadline = Date.now() + 10_000;
        while (!exists(journalPathOf(copy)) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      await follow.kill();
      kills++;
      if (exists(journalPathOf(copy))) journalsLeft++;
      logs.push(follow.stderr);
      // Whatever instant the kill hit, a reader that opens the copy (read-write, so it plays a
      // journal back) finds a whole TXID: balances intact, integrity ok.
      if (copyTxid(copy) > 0) {
        assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
        const dump = dumpOf(copy)!;
        const sum = (dump.acct as { bal: number }[]).reduce((s, r) => s + r.bal, 0);
        assert.equal(sum, TOTAL, `round ${round}: the copy's balances sum to ${sum}`);
      }
    }
    assert.equal((await app.status).code, 0);
    follow = startReplicate(["bank.db", "-b", replica, "-o", copy]);
    await waitFor(
      "the restarted follower to catch up",
      () => copyEquals(copy, db),
      () => follow!.stderr,
      60_000,
    );
    assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
    assert.equal(kills, 12);
    assert.ok(journalsLeft > 0, "some kills landed mid-apply");
    // Every restart found the copy at one of its two recorded positions: none restored it again.
    assert.doesNotMatch(logs.join(""), /does not match its recorded position/);
  } finally {
    try {
      app.kill("SIGKILL");
    } catch { /* ended */ }
    await follow?.kill();
    await watch.kill();
  }
});
