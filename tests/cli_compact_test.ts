/** `walsync compact`: a dry run by default, --force merges and deletes, the lease is respected. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const test = (name: string, fn: (dir: string) => Promise<void>) =>
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "walsync-compact-" });
      try {
        await fn(dir);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });

const levelFiles = (dir: string, level: number): string[] => {
  try {
    return [...Deno.readDirSync(`${dir}/replica/app.db/ltx/${level}`)]
      .map((e) => e.name).filter((n) => n.endsWith(".ltx")).sort();
  } catch {
    return [];
  }
};

const RETENTION = [
  "--compaction-levels",
  "1s,1h",
  "--pitr",
  "0",
  "--l0-linger",
  "0",
  "--retain-hourly",
  "0",
  "--retain-daily",
  "0",
  "--retain-weekly",
  "0",
  "--retain-monthly",
  "0",
];

test("compact prints its plan without touching the replica, and --force carries it out", async (dir) => {
  const app = openWalDatabase(`${dir}/app.db`);
  const replica = `file://${dir}/replica`;
  try {
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 0; i < 4; i++) {
      app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
      const run = await runWalsync(["watch", `${dir}/app.db`, "-b", replica, "--once"]);
      assert.equal(run.code, 0, run.stderr);
    }
    const before = levelFiles(dir, 0);
    assert.ok(before.length >= 4);

    const dry = await runWalsync(["compact", "app.db", "-b", replica, ...RETENTION]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /app\.db: would merge \d+ files of level 0 into 1\//);
    assert.match(dry.stdout, /app\.db: would delete \d+ files \(level 0: \d+/);
    assert.deepEqual(levelFiles(dir, 0), before, "a dry run changes nothing");
    assert.deepEqual(levelFiles(dir, 1), []);

    const json = await runWalsync(["compact", "app.db", "-b", replica, "--json", ...RETENTION]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.equal(report.dryRun, true);
    assert.equal(report.databases[0].name, "app.db");
    assert.equal(report.databases[0].merges[0].level, 1);

    const forced = await runWalsync([
      "compact",
      "--all",
      "-b",
      replica,
      "--force",
      ...RETENTION,
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /app\.db: merged /);
    assert.equal(levelFiles(dir, 1).length, 1);
    // Level 0 keeps the first snapshot (the base of the chain) and its newest file.
    assert.equal(levelFiles(dir, 0).length, 2);

    const out = `${dir}/restored.db`;
    const restore = await runWalsync(["restore", "app.db", "-o", out, "-b", replica]);
    assert.equal(restore.code, 0, restore.stderr);
    const restored = new DatabaseSync(out);
    assert.deepEqual(dumpDatabase(restored), dumpDatabase(app));
    restored.close();

    const again = await runWalsync(["compact", "app.db", "-b", replica, ...RETENTION]);
    assert.match(again.stdout, /nothing to do/);

    // New level-0 files compacted under a 1h window stay; verify with no window notes them.
    for (let i = 0; i < 2; i++) {
      app.exec(`INSERT INTO t (v) VALUES ('more ${i}')`);
      assert.equal((await runWalsync(["watch", `${dir}/app.db`, "-b", replica, "--once"])).code, 0);
    }
    const keep = await runWalsync([
      "compact",
      "app.db",
      "-b",
      replica,
      "--force",
      ...RETENTION,
      "--pitr",
      "1h",
    ]);
    assert.equal(keep.code, 0, keep.stderr);
    // verify notes the files no retained position needs, without failing.
    const verify = await runWalsync(["verify", "app.db", "-b", replica, "--json", ...RETENTION]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(
      JSON.parse(verify.stdout).notes.join("\n"),
      /\d+ files no retained position needs \("walsync compact --force" deletes them\): level \d /,
    );
  } finally {
    app.close();
  }
});

test("compact --force refuses while a running watch holds the replica; usage errors exit 2", async (dir) => {
  const app = openWalDatabase(`${dir}/app.db`);
  app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const replica = `file://${dir}/replica`;
  const watch = new WalsyncProcess(["watch", `${dir}/app.db`, "-b", replica]);
  try {
    await watch.ready();
    const forced = await runWalsync(["compact", "app.db", "-b", replica, "--force"]);
    assert.equal(forced.code, 1, forced.stderr);
    assert.match(forced.stderr, /compact --force refuses to write: .*already written by walsync/);
    // A dry run only reads: it works while watch runs.
    const dry = await runWalsync(["compact", "app.db", "-b", replica]);
    assert.equal(dry.code, 0, dry.stderr);
  } finally {
    await watch.stop();
    app.close();
  }
  const none = await runWalsync(["compact", "-b", replica]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /compact needs one NAME or --all/);
  const bad = await runWalsync(["compact", "app.db", "-b", replica, "--pitr", "soon"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--pitr must be a duration/);
});

test("merged files keep the database's permission bits (a private database stays private)", async (dir) => {
  if (Deno.build.os === "windows") return;
  const app = openWalDatabase(`${dir}/app.db`);
  const replica = `file://${dir}/replica`;
  try {
    Deno.chmodSync(`${dir}/app.db`, 0o600);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 0; i < 3; i++) {
      app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
      assert.equal((await runWalsync(["watch", `${dir}/app.db`, "-b", replica, "--once"])).code, 0);
    }
    const forced = await runWalsync(["compact", "app.db", "-b", replica, "--force", ...RETENTION]);
    assert.equal(forced.code, 0, forced.stderr);
    for (const level of [1, 2]) {
      const levelDir = `${dir}/replica/app.db/ltx/${level}`;
      const names = [...Deno.readDirSync(levelDir)].map((e) => e.name);
      assert.ok(names.length > 0);
      for (const name of names) {
        assert.equal((Deno.statSync(`${levelDir}/${name}`).mode! & 0o777).toString(8), "600", name);
      }
      assert.equal((Deno.statSync(levelDir).mode! & 0o777).toString(8), "700");
    }
  } finally {
    app.close();
  }
});

test("compact --log-format json: every line parses, its level is the log level, the compaction level is compactionLevel", async (dir) => {
  const app = openWalDatabase(`${dir}/app.db`);
  const replica = `file://${dir}/replica`;
  try {
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 0; i < 3; i++) {
      app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
      const run = await runWalsync(["watch", `${dir}/app.db`, "-b", replica, "--once"]);
      assert.equal(run.code, 0, run.stderr);
    }
    const forced = await runWalsync([
      "compact",
      "app.db",
      "-b",
      replica,
      "--force",
      "--log-level",
      "debug",
      "--log-format",
      "json",
      ...RETENTION,
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    const lines = forced.stderr.split("\n").filter((l) => l.trim() !== "");
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const r of records) {
      assert.ok(["debug", "info", "warn", "error"].includes(r.level as string), JSON.stringify(r));
    }
    const compacted = records.filter((r) => r.msg === "compacted");
    assert.ok(compacted.length > 0, forced.stderr);
    for (const r of compacted) {
      assert.equal(r.level, "debug");
      assert.equal(r.db, "app.db");
    }
    // Level 1 merges level 0, then level 2 merges level 1 (the levels are 1s and 1h).
    assert.deepEqual(compacted.map((r) => r.compactionLevel), [1, 2], forced.stderr);
  } finally {
    app.close();
  }
});
