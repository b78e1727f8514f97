/**
 * A WAL whose header is overwritten while SQLite keeps using it (its index lives in `-shm`):
 * walsync cannot parse it, but commits go on. It must say so at error level, keep shipping
 * copies of SQLite's own view, and never ship a snapshot older than the TXID before it.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { waitFor } from "./support/litestream.ts";
import { dumpDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";
import { logLines, replicaTxid, restoredDump, waitForTxidAbove } from "./support/watch_fixture.ts";

Deno.test({
  name:
    "an overwritten WAL header is reported at error level and commits keep reaching the replica",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-unreadable-" });
    const replica = `file://${dir}/replica`;
    const path = `${dir}/app.db`;
    const app = new DatabaseSync(path);
    app.exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; PRAGMA busy_timeout=5000");
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    app.exec("BEGIN");
    for (let i = 0; i < 200; i++) app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
    app.exec("COMMIT");
    const watch = new WalsyncProcess(["watch", path, "-b", replica, "--sync-interval", "50ms"]);
    try {
      await watch.ready();
      app.exec("INSERT INTO t (v) VALUES ('before')");
      const before = await waitForTxidAbove(`${dir}/replica`, "app.db", 1, () => watch.stderr);

      // Someone overwrites the WAL header; SQLite goes on using the frames through -shm.
      const wal = Deno.openSync(`${path}-wal`, { write: true });
      wal.writeSync(new Uint8Array(32));
      wal.close();
      for (let i = 0; i < 20; i++) app.exec(`INSERT INTO t (v) VALUES ('after ${i}')`);
      await waitFor(
        "an error naming the unreadable WAL",
        () => logLines(watch.stderr, "error", /cannot make sense of the WAL/).length > 0,
        () => watch.stderr,
      );
      await waitForTxidAbove(`${dir}/replica`, "app.db", before, () => watch.stderr);
      for (let i = 0; i < 5; i++) app.exec(`INSERT INTO t (v) VALUES ('later ${i}')`);
      const expected = dumpDatabase(app);
      const stopped = await watch.stop();
      assert.equal(stopped.code, 0, stopped.stderr);

      assert.deepEqual(await restoredDump(replica, "app.db", dir), expected);
      // Rows are only ever added: no TXID may hold fewer rows than the one before it.
      let rows = 0;
      for (let txid = 1; txid <= replicaTxid(`${dir}/replica`, "app.db"); txid++) {
        const count = (await restoredDump(replica, "app.db", dir, txid)).t.length;
        assert.ok(count >= rows, `TXID ${txid} holds ${count} rows, TXID ${txid - 1} held ${rows}`);
        rows = count;
      }
    } finally {
      app.close();
      await watch.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
