/**
 * Idle databases cost (almost) nothing: a database fully shipped and unchanged for
 * `--idle-release` lets go of its SQLite connection and files, and opens again at its next
 * change, resuming where it stopped when the WAL provably continues, shipping a diff of the
 * changed pages when it does not. And a process with fewer file descriptors than its
 * databases need replicates every one of them, in turn, without crashing.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { replicaFiles, waitFor } from "./support/litestream.ts";
import { dumpDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";
import { logLines, replicaTxid, restoredDump } from "./support/watch_fixture.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });

/** Files of `dir` the process `pid` holds open. */
function openFilesIn(pid: number, dir: string): string[] {
  const open: string[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      if (target.startsWith(dir)) open.push(target);
    } catch { /* closed meanwhile */ }
  }
  return open;
}

/** walsync's own process: the deno child of the WalsyncProcess (it runs `deno run`). */
function watchPid(watch: WalsyncProcess): number {
  return watch.pid;
}

function openApp(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA wal_autocheckpoint=0");
  return db;
}

async function released(watch: WalsyncProcess, count: number): Promise<void> {
  await waitFor(
    `release number ${count}`,
    () => logLines(watch.stderr, "debug", /^released$/).length >= count,
    () => watch.stderr,
  );
}

test("a released database holds no file, wakes at its next commit and resumes without a snapshot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-release-" });
  const replica = `file://${dir}/replica`;
  const app = openApp(`${dir}/app.db`);
  app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  app.exec("INSERT INTO t (v) VALUES ('first')");
  const watch = new WalsyncProcess([
    "watch",
    `${dir}/app.db`,
    "-b",
    replica,
    "--sync-interval",
    "50ms",
    "--idle-release",
    "200ms",
    "--log-level",
    "debug",
  ]);
  try {
    await watch.ready();
    await released(watch, 1);
    // Only the replica's writer lock (one for the process) stays open.
    assert.deepEqual(
      openFilesIn(watchPid(watch), dir).filter((f) => !f.startsWith(`${dir}/replica/`)),
      [],
      "nothing of the database is open",
    );
    const before = replicaTxid(`${dir}/replica`, "app.db");
    app.exec("INSERT INTO t (v) VALUES ('after the release')");
    await waitFor(
      "the commit in the replica",
      () => replicaTxid(`${dir}/replica`, "app.db") > before,
    );
    await released(watch, 2);
    const expected = dumpDatabase(app);
    const stopped = await watch.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    // Resumed from its position: one more level-0 batch, no snapshot or diff for it.
    assert.deepEqual(logLines(stopped.stderr, "info", /snapshot/).map((l) => l.txid), [1]);
    assert.deepEqual(replicaFiles(`${dir}/replica/app.db`, 9), []);
    assert.deepEqual(await restoredDump(replica, "app.db", dir), expected);
  } finally {
    app.close();
    await watch.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

test("a released database whose WAL the application checkpointed away ships only the pages that changed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-release-" });
  const replica = `file://${dir}/replica`;
  let app = openApp(`${dir}/app.db`);
  app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE big (b BLOB)");
  app.exec("INSERT INTO big VALUES (randomblob(400000))");
  const watch = new WalsyncProcess([
    "watch",
    `${dir}/app.db`,
    "-b",
    replica,
    "--sync-interval",
    "50ms",
    "--idle-release",
    "200ms",
    "--log-level",
    "debug",
  ]);
  try {
    await watch.ready();
    await released(watch, 1);
    // While walsync holds nothing, the application writes, checkpoints and closes: its last
    // close deletes the WAL, so the new frames are only in the database file.
    app.exec("INSERT INTO t (v) VALUES ('while released')");
    app.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    app.close();
    await waitFor(
      "a diff of the changed pages",
      () => logLines(watch.stderr, "info", /^diff snapshot$/).length > 0,
      () => watch.stderr,
    );
    app = openApp(`${dir}/app.db`);
    const expected = dumpDatabase(app);
    const stopped = await watch.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    const [diff] = logLines(stopped.stderr, "info", /^diff snapshot$/);
    assert.ok(Number(diff.pages) < Number(diff.of) / 10, JSON.stringify(diff));
    assert.deepEqual(await restoredDump(replica, "app.db", dir), expected);
  } finally {
    app.close();
    await watch.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

test("with fewer file descriptors than its databases need, watch replicates every one and survives", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-fds-" });
  const count = 150;
  try {
    await Deno.mkdir(`${dir}/dbs`);
    const template = new DatabaseSync(`${dir}/template.db`);
    template.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')");
    template.close();
    for (let i = 0; i < count; i++) {
      await Deno.copyFile(`${dir}/template.db`, `${dir}/dbs/db${i}.db`);
    }
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `[s3]\nbucket = "file://${dir}/replica"\n[sync]\ninterval = "100ms"\nidle_release = "100ms"\n[[databases]]\npath = "dbs/*.db"\n`,
    );
    // About 30 descriptors for the runtime and 128 kept free: room for a handful of databases.
    const watch = new WalsyncProcess(["watch", "--config", `${dir}/walsync.toml`], {
      ulimitFiles: 220,
    });
    try {
      await watch.ready(120_000);
      const written = [3, 77, 149];
      await waitFor(
        `all ${count} databases in the replica`,
        () =>
          Array.from({ length: count }, (_, i) => i).every((i) =>
            replicaTxid(`${dir}/replica`, `db${i}.db`) >= 1
          ),
        () => watch.stderr.slice(-3000),
        120_000,
      );
      // Written once every database went through: each must wake up and ship its commit.
      for (const i of written) {
        const db = openApp(`${dir}/dbs/db${i}.db`);
        db.exec(`INSERT INTO t VALUES ('written ${i}')`);
        db.close();
      }
      await waitFor(
        "the written databases at their second TXID",
        () => {
          for (let i = 0; i < count; i++) {
            if (replicaTxid(`${dir}/replica`, `db${i}.db`) < (written.includes(i) ? 2 : 1)) {
              return false;
            }
          }
          return true;
        },
        () => {
          const behind = [];
          for (let i = 0; i < count; i++) {
            const txid = replicaTxid(`${dir}/replica`, `db${i}.db`);
            if (txid < (written.includes(i) ? 2 : 1)) behind.push(`db${i}.db at ${txid}`);
          }
          return `behind: ${behind.join(", ")}\n${watch.stderr.slice(-3000)}`;
        },
        120_000,
      );
      assert.ok(
        logLines(watch.stderr, "warn", /file-descriptor limit/).length === 1,
        "the limit is named once",
      );
      const stopped = await watch.stop();
      assert.equal(stopped.code, 0, stopped.stderr.slice(-3000));
      for (const i of written) {
        const dump = await restoredDump(`file://${dir}/replica`, `db${i}.db`, dir);
        assert.deepEqual(dump.t.map((r) => (r as { v: string }).v), ["x", `written ${i}`]);
      }
    } finally {
      await watch.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
