/**
 * `walsync replicate` follows a replica Litestream 0.5 writes, while Litestream compacts
 * level 0 into level 1 every second: each TXID applied as it comes, and a follower restarted
 * after level 0 moved on bridges through Litestream's own level-1 files.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { formatLtxFilename } from "../src/ltx/ltx_header.ts";
import {
  copyEquals,
  copyHealth,
  copyTxid,
  NOT_ON_WINDOWS,
  startReplicate,
} from "./support/follow_fixture.ts";
import { findLitestream, LitestreamProcess, replicaFiles, waitFor } from "./support/litestream.ts";

const VERSION = "0.5.17";
const binary = findLitestream(VERSION);

function write(db: DatabaseSync, rows: number, tag: string): void {
  db.exec("BEGIN");
  const insert = db.prepare("INSERT INTO t(tag, pad) VALUES (?, randomblob(500))");
  for (let i = 0; i < rows; i++) insert.run(tag);
  db.exec("COMMIT");
}

Deno.test({
  name: `replicate follows a replica Litestream ${VERSION} writes and compacts`,
  ignore: binary === null || NOT_ON_WINDOWS,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-follow-litestream-" });
    const dbPath = `${dir}/app.db`;
    const copy = `${dir}/copy.db`;
    // Litestream's file replica at <dir>/rep/app.db is walsync's `file://<dir>/rep`, name app.db.
    const replica = `file://${dir}/rep`;
    const app = new DatabaseSync(dbPath);
    app.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000");
    app.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT, pad BLOB)");
    write(app, 20, "first");
    const litestream = new LitestreamProcess(binary!, {
      dbPath,
      replicaPath: `${dir}/rep/app.db`,
      configPath: `${dir}/litestream.yml`,
      l1Interval: "1s",
    });
    const follow = startReplicate(["app.db", "-b", replica, "-o", copy]);
    try {
      await waitFor("the first copy", () => copyEquals(copy, dbPath), () => follow.stderr, 60_000);
      for (let i = 0; i < 10; i++) {
        write(app, 5, `live-${i}`);
        await new Promise((r) => setTimeout(r, 150));
      }
      await waitFor(
        "the live changes",
        () => copyEquals(copy, dbPath),
        () => follow.stderr,
        60_000,
      );
      await follow.kill();

      // Stopped while Litestream writes on and compacts level 0 into level 1.
      for (let i = 0; i < 10; i++) {
        write(app, 5, `while-stopped-${i}`);
        await new Promise((r) => setTimeout(r, 150));
      }
      await waitFor(
        "a level-1 file past the changes",
        () => replicaFiles(`${dir}/rep/app.db`, 1).length > 0,
        () => litestream.output,
        60_000,
      );
      await litestream.stop();
      // Litestream's level-0 retention, now: level 0 covered by level 1 goes.
      const at = copyTxid(copy);
      const l1Max = Math.max(...replicaFiles(`${dir}/rep/app.db`, 1).map((f) => f.maxTxid));
      assert.ok(l1Max > at, `level 1 reaches ${l1Max}, past the copy's ${at}`);
      let removed = 0;
      for (const f of replicaFiles(`${dir}/rep/app.db`, 0)) {
        if (f.minTxid > at && f.maxTxid <= l1Max) {
          Deno.removeSync(`${dir}/rep/app.db/ltx/0/${formatLtxFilename(f.minTxid, f.maxTxid)}`);
          removed++;
        }
      }
      assert.ok(removed > 0);
      const run = await runWalsync(["replicate", "app.db", "-b", replica, "-o", copy, "--once"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /bridging from higher levels/);
      assert.ok(copyEquals(copy, dbPath), run.stderr);
      assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
    } finally {
      await follow.kill();
      await litestream.kill();
      app.close();
    }
  },
});
