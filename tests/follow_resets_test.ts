/**
 * The follower through everything a primary and its replica go through: a full snapshot
 * after a discontinuity (applied in place), a reset primary (the replica starts over below
 * the copy's TXID: restored again), a page-size change (restored again), level 0 compacted
 * away while the follower was stopped (bridged through level 1), and an object that does not
 * verify (following stops at error level and the copy keeps its last verified TXID).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Follower } from "../src/follow/follower.ts";
import { Logger } from "../src/log.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { runWalsync } from "./support/cli.ts";
import { compactLevel0 } from "./support/compact_level0.ts";
import { copyHealth, copyTxid, dumpOf, NOT_ON_WINDOWS } from "./support/follow_fixture.ts";
import { replicaFiles } from "./support/litestream.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";
import { replicaTxid, waitForTxidAbove } from "./support/watch_fixture.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: NOT_ON_WINDOWS, sanitizeOps: false, sanitizeResources: false, fn });

interface Setup {
  dir: string;
  db: string;
  copy: string;
  root: string;
  replica: string;
  watch: WalsyncProcess;
}

async function setUp(prefix: string): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix });
  const db = `${dir}/app.db`;
  const root = `${dir}/rep`;
  write(db, 20, "first");
  const watch = startWatch(db, `file://${root}`);
  await watch.ready();
  await waitForTxidAbove(root, "app.db", 0, () => watch.stderr);
  return { dir, db, copy: `${dir}/copy.db`, root, replica: `file://${root}`, watch };
}

function startWatch(db: string, replica: string): WalsyncProcess {
  return new WalsyncProcess(["watch", db, "-b", replica, "--sync-interval", "50ms"]);
}

/** Inserts `rows` rows in one transaction (the table is created on first use). */
function write(db: string, rows: number, tag: string, pageSize = 4096): void {
  const conn = new DatabaseSync(db);
  conn.exec(`PRAGMA page_size=${pageSize}; PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000`);
  conn.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, tag TEXT, pad TEXT)");
  conn.exec("BEGIN");
  const insert = conn.prepare("INSERT INTO t(tag, pad) VALUES (?, ?)");
  for (let i = 0; i < rows; i++) insert.run(tag, "p".repeat(300));
  conn.exec("COMMIT");
  conn.close();
}

/** Writes one transaction and waits until the replica has it; returns the new TXID. */
async function writeShipped(s: Setup, rows: number, tag: string): Promise<number> {
  const before = replicaTxid(s.root, "app.db");
  write(s.db, rows, tag);
  return await waitForTxidAbove(s.root, "app.db", before, () => s.watch.stderr);
}

function followOnce(s: Setup) {
  return runWalsync(["replicate", "app.db", "-b", s.replica, "-o", s.copy, "--once"]);
}

async function assertCopyEqualsPrimary(s: Setup): Promise<string> {
  const run = await followOnce(s);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(dumpOf(s.copy), dumpOf(s.db));
  assert.deepEqual(copyHealth(s.copy), { integrity: "ok", journalMode: "delete" });
  return run.stderr;
}

test("a full snapshot after a discontinuity, and a VACUUM that shrinks, are applied in place", async () => {
  const s = await setUp("walsync-follow-snapshot-");
  try {
    await assertCopyEqualsPrimary(s);
    await writeShipped(s, 10, "second");
    // The application's last connection closed (WAL checkpointed and deleted), then a snapshot.
    const snap = await runWalsync(["snapshot", s.db, "-b", s.replica]);
    assert.equal(snap.code, 0, snap.stderr);
    await writeShipped(s, 10, "third");
    let stderr = await assertCopyEqualsPrimary(s);
    assert.doesNotMatch(stderr, /copy restored/, "applied in place, not restored again");
    assert.doesNotMatch(stderr, /"level":"(warn|error)"/);
    // The database shrinks: the copy is truncated inside the apply.
    const sizeBefore = Deno.statSync(s.copy).size;
    const before = replicaTxid(s.root, "app.db");
    const conn = new DatabaseSync(s.db);
    conn.exec("PRAGMA busy_timeout=5000; DELETE FROM t WHERE id > 5; VACUUM");
    conn.close();
    await waitForTxidAbove(s.root, "app.db", before, () => s.watch.stderr);
    stderr = await assertCopyEqualsPrimary(s);
    assert.doesNotMatch(stderr, /copy restored/);
    assert.ok(Deno.statSync(s.copy).size < sizeBefore, "the copy shrank");
  } finally {
    await s.watch.kill();
  }
});

test("a reset primary whose replica starts over is restored from the new snapshot", async () => {
  const s = await setUp("walsync-follow-reset-");
  try {
    for (let i = 0; i < 4; i++) await writeShipped(s, 5, `old-${i}`);
    await assertCopyEqualsPrimary(s);
    const oldTxid = copyTxid(s.copy);
    await s.watch.kill();
    for (const suffix of ["", "-wal", "-shm"]) Deno.removeSync(`${s.db}${suffix}`, {});
    Deno.removeSync(`${s.root}/app.db`, { recursive: true });
    // walsync's own staging remembers the old TXIDs: without it the replica starts over at 1.
    for (const entry of Deno.readDirSync(s.dir)) {
      if (entry.name.startsWith(".app.db")) {
        Deno.removeSync(`${s.dir}/${entry.name}`, { recursive: true });
      }
    }
    write(s.db, 3, "reborn");
    s.watch = startWatch(s.db, s.replica);
    await s.watch.ready();
    await waitForTxidAbove(s.root, "app.db", 0, () => s.watch.stderr);
    assert.ok(replicaTxid(s.root, "app.db") < oldTxid);
    const stderr = await assertCopyEqualsPrimary(s);
    assert.match(stderr, /the primary was reset/);
    // Replaced in place (same page size): readers keep their file and see old or new.
    assert.match(stderr, /"msg":"copy restored".*"inPlace":true/);
  } finally {
    await s.watch.kill();
  }
});

test("a page size change restores the copy with the new page size", async () => {
  const s = await setUp("walsync-follow-pagesize-");
  try {
    await assertCopyEqualsPrimary(s);
    await s.watch.kill();
    const conn = new DatabaseSync(s.db);
    conn.exec("PRAGMA journal_mode=DELETE; PRAGMA page_size=8192; VACUUM; PRAGMA journal_mode=WAL");
    conn.close();
    s.watch = startWatch(s.db, s.replica);
    await s.watch.ready();
    await writeShipped(s, 5, "bigger pages");
    const stderr = await assertCopyEqualsPrimary(s);
    assert.match(stderr, /page size changed from 4096 to 8192/);
    assert.match(stderr, /"msg":"copy restored".*"inPlace":false/);
    const copy = new DatabaseSync(s.copy, { readOnly: true });
    assert.equal((copy.prepare("PRAGMA page_size").get() as { page_size: number }).page_size, 8192);
    copy.close();
  } finally {
    await s.watch.kill();
  }
});

test("level 0 compacted away while the follower was stopped is bridged from level 1", async () => {
  const s = await setUp("walsync-follow-bridge-");
  try {
    await assertCopyEqualsPrimary(s);
    const at = copyTxid(s.copy);
    for (let i = 0; i < 4; i++) await writeShipped(s, 5, `later-${i}`);
    await s.watch.kill();
    assert.ok(await compactLevel0(s.root, "app.db", at) >= 2);
    assert.equal(replicaFiles(`${s.root}/app.db`, 0).filter((f) => f.minTxid > at).length, 0);
    const stderr = await assertCopyEqualsPrimary(s);
    assert.match(stderr, /bridging from higher levels/);
    assert.doesNotMatch(stderr, /copy restored/, `bridged, not restored again: ${stderr}`);
  } finally {
    await s.watch.kill();
  }
});

test("an object that does not verify stops following and leaves the copy untouched", async () => {
  const s = await setUp("walsync-follow-damaged-");
  try {
    await assertCopyEqualsPrimary(s);
    const at = copyTxid(s.copy);
    const before = dumpOf(s.copy);
    await writeShipped(s, 5, "damaged");
    await s.watch.kill();
    const next = replicaFiles(`${s.root}/app.db`, 0).find((f) => f.minTxid === at + 1)!;
    const hex = (n: number) => n.toString(16).padStart(16, "0");
    const path = `${s.root}/app.db/ltx/0/${hex(next.minTxid)}-${hex(next.maxTxid)}.ltx`;
    const bytes = Deno.readFileSync(path);
    bytes[bytes.length - 40] ^= 0xff;
    Deno.writeFileSync(path, bytes);
    const run = await followOnce(s);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /"level":"error","msg":"stopped following this database"/);
    assert.match(run.stderr, /SHA-256/);
    assert.equal(copyTxid(s.copy), at);
    assert.deepEqual(dumpOf(s.copy), before);
  } finally {
    await s.watch.kill();
  }
});

test("a copy changed by something else is restored again at start", async () => {
  const s = await setUp("walsync-follow-tampered-");
  try {
    await assertCopyEqualsPrimary(s);
    const copy = new DatabaseSync(s.copy);
    copy.exec("INSERT INTO t(tag, pad) VALUES ('not from the primary', '')");
    copy.close();
    assert.notDeepEqual(dumpOf(s.copy), dumpOf(s.db));
    const stderr = await assertCopyEqualsPrimary(s);
    assert.match(stderr, /"level":"warn","msg":"the copy does not match its recorded position/);
  } finally {
    await s.watch.kill();
  }
});

test("a TXID larger than the apply budget restores the copy again instead", async () => {
  const s = await setUp("walsync-follow-large-");
  try {
    const lines: string[] = [];
    const logger = new Logger({ format: "json", level: "info", write: (l) => lines.push(l) });
    const follower = new Follower({
      client: new FileReplicaClient(s.root),
      name: "app.db",
      path: s.copy,
      logger,
      maxApplyBytes: 20_000,
    });
    await follower.poll();
    await writeShipped(s, 1, "small");
    await follower.poll();
    assert.doesNotMatch(lines.join(""), /larger than/);
    await writeShipped(s, 200, "large");
    await follower.poll();
    assert.match(lines.join(""), /TXID \d+ is larger than 20000 bytes/);
    assert.deepEqual(dumpOf(s.copy), dumpOf(s.db));
    assert.equal(follower.txid, replicaTxid(s.root, "app.db"));
  } finally {
    await s.watch.kill();
  }
});
