/** `walsync replicate`: usage errors exit 2 naming what is wrong, before anything is written. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { copyTxid, NOT_ON_WINDOWS, startReplicate } from "./support/follow_fixture.ts";
import { waitFor } from "./support/litestream.ts";
import { freePort } from "./support/s3_server.ts";

Deno.test("replicate refuses bad usage with exit 2 and a message naming the problem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-replicate-cli-" });
  const replica = `file://${dir}/rep`;
  Deno.writeTextFileSync(`${dir}/mine.db`, "not a copy walsync wrote");
  const cases: [string[], RegExp][] = [
    [["app.db", "-b", replica], /needs -o PATH/],
    [["-b", replica, "-o", `${dir}/c.db`], /exactly one NAME or PATTERN, or --all/],
    [["app.db", "--all", "-b", replica, "-o", dir], /--all takes no NAME/],
    [["app.db", "-b", replica, "-o", dir], /is a directory; give the path of the copy/],
    [["--all", "-b", replica, "-o", `${dir}/mine.db`], /must be a directory/],
    [["app.db", "-b", replica, "-o", `${dir}/mine.db`], /is not a walsync follower copy/],
    [["app.db", "-b", replica, "-o", `${dir}/c.db`, "--interval", "soon"], /--interval "soon"/],
    [
      ["app.db", "-b", replica, "-o", `${dir}/c.db`, "--intervall", "1s"],
      /did you mean "--interval"/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runWalsync(["replicate", ...args]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  assert.equal(Deno.readTextFileSync(`${dir}/mine.db`), "not a copy walsync wrote");
  const help = await runWalsync(["replicate", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /busy_timeout/);
});

Deno.test({
  name: "a second replicate into the same copy is refused while the first runs",
  ignore: NOT_ON_WINDOWS,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-replicate-lock-" });
    const replica = `file://${dir}/rep`;
    const db = new DatabaseSync(`${dir}/app.db`);
    db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    db.close();
    const snap = await runWalsync(["snapshot", `${dir}/app.db`, "-b", replica]);
    assert.equal(snap.code, 0, snap.stderr);
    const first = startReplicate(["app.db", "-b", replica, "-o", `${dir}/copy.db`]);
    try {
      await waitFor("the first follower", () => copyTxid(`${dir}/copy.db`) > 0, () => first.stderr);
      const second = await runWalsync([
        "replicate",
        "app.db",
        "-b",
        replica,
        "-o",
        `${dir}/copy.db`,
      ]);
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, /Another "walsync replicate" holds/);
    } finally {
      await first.kill();
    }
  },
});

Deno.test("replicate --all --once exits 1 when the replica cannot be listed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-replicate-unlistable-" });
  Deno.writeTextFileSync(`${dir}/rep`, "a file where the replica directory should be");
  const run = await runWalsync([
    "replicate",
    "--all",
    "-b",
    `file://${dir}/rep`,
    "-o",
    `${dir}/copies`,
    "--once",
  ]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /cannot list the replica's databases/);
});

Deno.test({
  name: "replicate --metrics-addr serves each database's TXID, lag and poll age, and /health",
  ignore: NOT_ON_WINDOWS,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-replicate-metrics-" });
    const replica = `file://${dir}/rep`;
    const db = new DatabaseSync(`${dir}/app.db`);
    db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    db.close();
    const snap = await runWalsync(["snapshot", `${dir}/app.db`, "-b", replica]);
    assert.equal(snap.code, 0, snap.stderr);
    const port = freePort();
    const follow = startReplicate([
      "app.db",
      "-b",
      replica,
      "-o",
      `${dir}/copy.db`,
      "--metrics-addr",
      `127.0.0.1:${port}`,
    ]);
    try {
      await waitFor("the copy", () => copyTxid(`${dir}/copy.db`) > 0, () => follow.stderr);
      const txid = copyTxid(`${dir}/copy.db`);
      let page = "";
      const get = async (path: string) => await fetch(`http://127.0.0.1:${port}${path}`);
      // The first poll completes just after the restore: wait for its sample line.
      for (let i = 0; i < 200 && !page.includes('last_poll_age_seconds{db="app.db"}'); i++) {
        page = await (await get("/metrics")).text();
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(page, new RegExp(`^walsync_follower_txid\\{db="app.db"\\} ${txid}$`, "m"));
      assert.match(page, /^walsync_follower_databases\{state="following"\} 1$/m);
      assert.match(page, /^walsync_follower_last_poll_age_seconds\{db="app.db"\} [\d.]+$/m);
      const health = await get("/health");
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { healthy: true, databases: [] });
    } finally {
      await follow.kill();
    }
  },
});
