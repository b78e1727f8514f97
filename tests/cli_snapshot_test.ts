/** `walsync snapshot` through the real CLI. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-snapshot-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function levelFiles(dir: string, level: number): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir + `/ltx/${level}`)) {
      if (entry.name.endsWith(".ltx")) names.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

Deno.test("snapshot ships pending commits, stores a level-9 snapshot and reports it as JSON", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    try {
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
      app.exec("INSERT INTO t (v) VALUES (randomblob(100000))");
      const replica = `file://${dir}/replica`;
      assert.equal((await runWalsync(["watch", `${dir}/app.db`, "-b", replica, "--once"])).code, 0);
      app.exec("INSERT INTO t (v) VALUES (randomblob(50000))");

      const run = await runWalsync(["snapshot", `${dir}/app.db`, "-b", replica, "--json"]);
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout);
      // TXID 2 ships the pending insert; nothing changed since, so the snapshot is at TXID 2
      // (level 9 only: a snapshot uploads the database once).
      assert.equal(report.name, "app.db");
      assert.equal(report.txid, 2);
      assert.equal(report.txidHex, "0000000000000002");
      assert.equal(report.level, 9);
      assert.equal(report.replica, replica);
      assert.match(report.checksum, /^[0-9a-f]{16}$/);
      assert.deepEqual(await levelFiles(`${dir}/replica/app.db`, 9), [
        "0000000000000001-0000000000000002.ltx",
      ]);
      assert.equal(
        report.sizeBytes,
        (await Deno.stat(`${dir}/replica/app.db/ltx/9/0000000000000001-0000000000000002.ltx`))
          .size,
      );
      assert.match(run.stderr, /snapshot app\.db: 100%/, "progress lines go to stderr");

      const out = `${dir}/restored.db`;
      assert.equal((await runWalsync(["restore", "app.db", "-o", out, "-b", replica])).code, 0);
      const restored = new DatabaseSync(out);
      assert.deepEqual(dumpDatabase(restored), dumpDatabase(app));
      restored.close();
    } finally {
      app.close();
    }
  });
});

Deno.test({
  name: "snapshot asks a running watch to take it, and refuses a replica that watch does not write",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withDir(async (dir) => {
      const app = openWalDatabase(`${dir}/app.db`);
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
      const replica = `file://${dir}/replica`;
      const watch = new WalsyncProcess(["watch", `${dir}/app.db`, "-b", replica]);
      try {
        await watch.ready();
        app.exec("INSERT INTO t (v) VALUES (randomblob(20000))");

        const run = await runWalsync(["snapshot", `${dir}/app.db`, "-b", replica, "--json"]);
        assert.equal(run.code, 0, run.stderr);
        const report = JSON.parse(run.stdout);
        assert.equal(report.takenBy, "the running walsync");
        assert.equal(report.replica, replica);
        // The daemon's level-9 file for that TXID is in the replica already.
        assert.deepEqual(await levelFiles(`${dir}/replica/app.db`, 9), [
          `0000000000000001-${report.txidHex}.ltx`,
        ]);
        assert.match(watch.stderr, /"msg":"snapshot requested by walsync snapshot"/);

        const other = await runWalsync(["snapshot", `${dir}/app.db`, "-b", `file://${dir}/other`]);
        assert.equal(other.code, 1);
        assert.match(
          other.stderr,
          new RegExp(`replicates "app\\.db" to ${replica}, not to file://${dir}/other`),
        );
        assert.equal(other.stdout, "");
      } finally {
        const { code } = await watch.stop();
        assert.equal(code, 0);
      }
      const out = `${dir}/restored.db`;
      assert.equal((await runWalsync(["restore", "app.db", "-o", out, "-b", replica])).code, 0);
      const restored = new DatabaseSync(out);
      assert.deepEqual(dumpDatabase(restored), dumpDatabase(app));
      restored.close();
      app.close();
    });
  },
});

Deno.test("snapshot usage errors exit 2: no database, a missing file, no replica", async () => {
  await withDir(async (dir) => {
    const none = await runWalsync(["snapshot", "-b", `file://${dir}/r`], { cwd: dir });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /snapshot needs exactly one database path/);
    const missing = await runWalsync(["snapshot", `${dir}/nope.db`, "-b", `file://${dir}/r`], {
      cwd: dir,
    });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Database ".*nope\.db" does not exist/);
    const noReplica = await runWalsync(["snapshot", `${dir}/nope.db`], { cwd: dir });
    assert.equal(noReplica.code, 2);
    assert.match(noReplica.stderr, /snapshot needs a replica/);
  });
});

Deno.test("snapshot takes a replica name that walsync.toml maps to a path, as restore does", async () => {
  await withDir(async (dir) => {
    for (const path of ["tenants/t05/app.db", "data/main.db"]) {
      await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
      const db = openWalDatabase(`${dir}/${path}`);
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      db.exec("INSERT INTO t (v) VALUES ('x')");
      db.close();
    }
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      [
        `[s3]`,
        `bucket = "./replica"`,
        ``,
        `[[databases]]`,
        `path = "tenants/*/app.db"`,
        ``,
        `[[databases]]`,
        `path = "data/main.db"`,
        `name = "main"`,
        ``,
      ].join("\n"),
    );
    for (
      const [arg, name, path] of [
        ["t05/app.db", "t05/app.db", `${dir}/tenants/t05/app.db`],
        ["main", "main", `${dir}/data/main.db`],
        ["tenants/t05/app.db", "t05/app.db", `${dir}/tenants/t05/app.db`],
      ]
    ) {
      const run = await runWalsync(["snapshot", arg, "--json"], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout);
      assert.equal(report.name, name, arg);
      assert.equal(report.path, path, arg);
      assert.ok(
        (await levelFiles(`${dir}/replica/${name}`, 9)).includes(
          `0000000000000001-${report.txidHex}.ltx`,
        ),
      );
    }
    // Neither a file nor a name the config gives: a usage error naming both readings.
    const unknown = await runWalsync(["snapshot", "t99/app.db"], { cwd: dir });
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      new RegExp(
        `Database "t99/app\\.db" is neither a file \\("${dir}/t99/app\\.db" does not exist\\) nor a replica name in ${dir}/walsync\\.toml`,
      ),
    );
    // A name the config gives whose file is missing names that file.
    await Deno.remove(`${dir}/data/main.db`);
    const gone = await runWalsync(["snapshot", "main"], { cwd: dir });
    assert.equal(gone.code, 2);
    assert.match(
      gone.stderr,
      new RegExp(`Database "${dir}/data/main\\.db" \\(replica name "main"\\) does not exist`),
    );
  });
});
