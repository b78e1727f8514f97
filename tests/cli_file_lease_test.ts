/** One writer per file replica: the lock `<root>/.walsync-lock`, through the real CLI. */
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
      const dir = await Deno.makeTempDir({ prefix: "walsync-file-lease-" });
      try {
        await fn(dir);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });

test("a second watch on a file replica another watch writes exits 1 naming it", async (dir) => {
  // Two different databases that share a name: together they would interleave TXIDs.
  await Deno.mkdir(`${dir}/a`);
  await Deno.mkdir(`${dir}/b`);
  const a = openWalDatabase(`${dir}/a/app.db`);
  const b = openWalDatabase(`${dir}/b/app.db`);
  const replica = `file://${dir}/replica`;
  const first = new WalsyncProcess(["watch", `${dir}/a/app.db`, "-b", replica]);
  try {
    a.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    b.exec("CREATE TABLE u (id INTEGER PRIMARY KEY)");
    await first.ready();
    const second = await runWalsync(["watch", `${dir}/b/app.db`, "-b", replica, "--once"]);
    assert.equal(second.code, 1, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(
        `^error: Replica "file://${dir}/replica" is already written by walsync on host "[^"]+" \\(pid ${first.pid}, since `,
        "m",
      ),
    );
    // A snapshot of a database the running watch does not replicate is refused the same way.
    const snapshot = await runWalsync(["snapshot", `${dir}/b/app.db`, "-b", replica]);
    assert.equal(snapshot.code, 1, snapshot.stderr);
    assert.match(
      snapshot.stderr,
      new RegExp(`already written by walsync .*\\(pid ${first.pid}\\b`),
    );

    a.exec("INSERT INTO t (v) VALUES ('only a')");
    const stopped = await first.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    const out = `${dir}/restored.db`;
    const restore = await runWalsync(["restore", "app.db", "-o", out, "-b", replica]);
    assert.equal(restore.code, 0, restore.stderr);
    const restored = new DatabaseSync(out);
    assert.deepEqual(dumpDatabase(restored), dumpDatabase(a));
    restored.close();
  } finally {
    await first.kill();
    a.close();
    b.close();
  }
});

test("the file replica's lock goes with its holder, even one killed with SIGKILL", async (dir) => {
  const db = openWalDatabase(`${dir}/app.db`);
  const replica = `file://${dir}/replica`;
  const first = new WalsyncProcess(["watch", `${dir}/app.db`, "-b", replica]);
  try {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    await first.ready();
    await first.kill();
    db.exec("INSERT INTO t DEFAULT VALUES");
    const next = await runWalsync(["watch", `${dir}/app.db`, "-b", replica, "--once"]);
    assert.equal(next.code, 0, next.stderr);
    const snapshot = await runWalsync(["snapshot", `${dir}/app.db`, "-b", replica]);
    assert.equal(snapshot.code, 0, snapshot.stderr);
  } finally {
    await first.kill();
    db.close();
  }
});
