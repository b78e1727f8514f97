/**
 * The database file a path names can change under a running watch: deleted and recreated,
 * replaced by a rename (a restore), reached through a symlink. walsync must follow the path
 * to the real file, notice when the file changes, and snapshot the new one; never keep
 * replicating the old inode while the backup goes stale.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { dumpDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";
import { logLines, restoredDump, waitForTxidAbove } from "./support/watch_fixture.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });

/** A database with `rows` rows in table t, closed (fully checkpointed, no WAL left). */
function createDatabase(path: string, rows: number, label: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)");
  db.exec("BEGIN");
  for (let i = 0; i < rows; i++) db.exec(`INSERT INTO t (v) VALUES ('${label} ${i}')`);
  db.exec("COMMIT");
  db.close();
}

function removeDatabase(path: string, suffixes = ["", "-wal", "-shm"]): void {
  for (const suffix of suffixes) {
    try {
      Deno.removeSync(`${path}${suffix}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

function dumpOf(path: string): Record<string, unknown[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

type Replacement = "deleted and recreated" | "renamed over" | "renamed over, through a glob";

for (
  const how of [
    "deleted and recreated",
    "renamed over",
    "renamed over, through a glob",
  ] as Replacement[]
) {
  test(`a watched database ${how} is let go and the new file is snapshotted`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-identity-" });
    const replica = `file://${dir}/replica`;
    const viaGlob = how.endsWith("glob");
    const path = viaGlob ? `${dir}/tenants/a/app.db` : `${dir}/app.db`;
    const name = viaGlob ? "a/app.db" : "app.db";
    await Deno.mkdir(`${dir}/tenants/a`, { recursive: true });
    createDatabase(path, 200, "old");
    let args = ["watch", path, "-b", replica, "--sync-interval", "50ms"];
    if (viaGlob) {
      await Deno.writeTextFile(
        `${dir}/walsync.toml`,
        `[s3]\nbucket = "${replica}"\n[sync]\ninterval = "50ms"\n[[databases]]\npath = "tenants/*/app.db"\n`,
      );
      args = ["watch", "--config", `${dir}/walsync.toml`];
    }
    const watch = new WalsyncProcess(args);
    try {
      await watch.ready();
      const app = new DatabaseSync(path);
      app.exec("PRAGMA busy_timeout=5000");
      app.exec("INSERT INTO t (v) VALUES ('old 200')");
      app.close();
      const before = await waitForTxidAbove(`${dir}/replica`, name, 1, () => watch.stderr);

      // The replacement: a database with other, fewer rows under the same path.
      if (how === "deleted and recreated") {
        removeDatabase(path);
        createDatabase(path, 27, "new");
      } else {
        // As `walsync restore --force` does: the old WAL must not be replayed onto the new file.
        createDatabase(`${dir}/incoming.db`, 27, "new");
        removeDatabase(path, ["-wal", "-shm"]);
        Deno.renameSync(`${dir}/incoming.db`, path);
      }
      const replacedAt = await waitForTxidAbove(`${dir}/replica`, name, before, () => watch.stderr);
      const next = new DatabaseSync(path);
      next.exec("PRAGMA busy_timeout=5000");
      next.exec("INSERT INTO t (v) VALUES ('new 27'), ('new 28')");
      next.close();
      await waitForTxidAbove(`${dir}/replica`, name, replacedAt, () => watch.stderr);
      const stopped = await watch.stop();
      assert.equal(stopped.code, 0, stopped.stderr);

      const expected = dumpOf(path);
      assert.equal(expected.t.length, 29);
      assert.deepEqual(await restoredDump(replica, name, dir), expected);
      assert.ok(
        logLines(stopped.stderr, "warn", /database file was (replaced|deleted)/).length > 0,
        `a warning names the change:\n${stopped.stderr}`,
      );
    } finally {
      await watch.kill();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

test("a database watched through a symlink is replicated from the real file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-symlink-" });
  const replica = `file://${dir}/replica`;
  await Deno.mkdir(`${dir}/real`);
  await Deno.mkdir(`${dir}/links`);
  createDatabase(`${dir}/real/app.db`, 10, "row");
  await Deno.symlink(`${dir}/real/app.db`, `${dir}/links/app.db`);
  const watch = new WalsyncProcess([
    "watch",
    `${dir}/links/app.db`,
    "-b",
    replica,
    "--sync-interval",
    "50ms",
    "--checkpoint-pages",
    "10",
  ]);
  try {
    await watch.ready();
    // The application writes through the real path (SQLite puts the WAL beside it anyway).
    const app = new DatabaseSync(`${dir}/real/app.db`);
    app.exec("PRAGMA busy_timeout=5000");
    let txid = 1;
    for (let round = 0; round < 5; round++) {
      app.exec(`INSERT INTO t (v) VALUES ('round ${round}')`);
      txid = await waitForTxidAbove(`${dir}/replica`, "app.db", txid, () => watch.stderr);
    }
    const expected = dumpDatabase(app);
    app.close();
    const stopped = await watch.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(await restoredDump(replica, "app.db", dir), expected);
    // The staging area sits beside the real file, so every walsync finds the same lock.
    await Deno.stat(`${dir}/real/.app.db-walsync`);
    await assert.rejects(Deno.stat(`${dir}/links/.app.db-walsync`), Deno.errors.NotFound);
  } finally {
    await watch.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

test("two paths to one database on the command line are refused, naming both", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-symlink-" });
  try {
    await Deno.mkdir(`${dir}/links`);
    createDatabase(`${dir}/app.db`, 1, "row");
    await Deno.symlink(`${dir}/app.db`, `${dir}/links/app.db`);
    const run = await runWalsync([
      "watch",
      `${dir}/app.db`,
      `${dir}/links/app.db`,
      "-b",
      `file://${dir}/replica`,
      "--once",
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /are the same database file/);
    assert.ok(run.stderr.includes(`${dir}/app.db`) && run.stderr.includes(`${dir}/links/app.db`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a glob that matches a symlink to a database already replicated replicates it once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-symlink-" });
  const replica = `file://${dir}/replica`;
  try {
    await Deno.mkdir(`${dir}/dbs`);
    createDatabase(`${dir}/dbs/a.db`, 3, "a");
    await Deno.symlink(`${dir}/dbs/a.db`, `${dir}/dbs/b.db`);
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `[s3]\nbucket = "${replica}"\n[[databases]]\npath = "dbs/*.db"\n`,
    );
    const run = await runWalsync([
      "watch",
      "--config",
      `${dir}/walsync.toml`,
      "--once",
      "--log-format",
      "json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const names = [...Deno.readDirSync(`${dir}/replica`)].filter((e) => e.isDirectory)
      .map((e) => e.name).sort();
    assert.equal(names.length, 1, `one database in the replica: ${names}\n${run.stderr}`);
    const lines = [
      ...logLines(run.stderr, "warn", /not replicating/),
      ...logLines(run.stderr, "error", /cannot replicate/),
    ];
    assert.ok(lines.some((l) => /same database/.test(String(l.reason ?? l.error))), run.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
