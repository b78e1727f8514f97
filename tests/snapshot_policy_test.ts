import assert from "node:assert/strict";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { Supervisor } from "../src/replicate/supervisor.ts";
import { restore } from "../src/restore/apply.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";
import { DatabaseSync } from "node:sqlite";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const snapshotTxids = async (client: FileReplicaClient, name: string) =>
  (await client.listFiles(name, 9)).map((f) => f.maxTxid);

Deno.test("per-database max_changes snapshots only the database that set it, and restores stay exact", async () => {
  await withDir(async (dir) => {
    const client = new FileReplicaClient(`${dir}/replica`);
    const supervisor = new Supervisor({ client, watch: false, defaults: { maxChanges: 0 } });
    const apps = ["busy.db", "quiet.db"].map((name) => {
      const db = openWalDatabase(`${dir}/${name}`);
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      return db;
    });
    try {
      await supervisor.add(`${dir}/busy.db`, "busy.db", { maxChanges: 3 });
      await supervisor.add(`${dir}/quiet.db`, "quiet.db");
      for (let round = 0; round < 4; round++) {
        for (const app of apps) app.exec(`INSERT INTO t (v) VALUES ('${"x".repeat(3000)}')`);
        await supervisor.syncAll();
      }
      // busy.db: each round's insert stages at least 2 pages, so from the second round on
      // every round passes 3 and snapshots at the TXID it just staged (level 9 only, no new
      // TXID: nothing changed since); quiet.db keeps only its first-sync copy at level 0.
      assert.deepEqual(await snapshotTxids(client, "busy.db"), [3, 4, 5]);
      assert.deepEqual(await snapshotTxids(client, "quiet.db"), []);
      const restored = `${dir}/restored.db`;
      await restore({ client, name: "busy.db", output: restored });
      const db = new DatabaseSync(restored);
      assert.deepEqual(dumpDatabase(db), dumpDatabase(apps[0]));
      db.close();
    } finally {
      await supervisor.stop();
      for (const app of apps) app.close();
    }
  });
});

Deno.test("on_startup snapshots a database that changed since its last snapshot, once", async () => {
  await withDir(async (dir) => {
    const client = new FileReplicaClient(`${dir}/replica`);
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    try {
      const first = new Supervisor({ client, watch: false });
      await first.add(`${dir}/app.db`, "app.db");
      app.exec("INSERT INTO t (v) VALUES ('a')");
      await first.syncAll();
      await first.stop();
      assert.deepEqual(await snapshotTxids(client, "app.db"), []);

      const second = new Supervisor({ client, watch: false, defaults: { onStartup: true } });
      await second.add(`${dir}/app.db`, "app.db");
      await second.syncAll();
      await second.syncAll();
      await second.stop();
      assert.deepEqual(await snapshotTxids(client, "app.db"), [2]);
    } finally {
      app.close();
    }
  });
});

Deno.test("an idle database is never snapshotted however short the snapshot interval", async () => {
  await withDir(async (dir) => {
    const client = new FileReplicaClient(`${dir}/replica`);
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const supervisor = new Supervisor({
      client,
      watch: false,
      defaults: { snapshotIntervalMs: 1, onIdleMs: 1, maxIntervalMs: 1 },
    });
    try {
      await supervisor.add(`${dir}/app.db`, "app.db");
      await supervisor.syncAll();
      await new Promise((r) => setTimeout(r, 20));
      await supervisor.syncAll();
      assert.deepEqual(await snapshotTxids(client, "app.db"), []);
      app.exec("INSERT INTO t (v) VALUES ('a')");
      await supervisor.syncAll(); // stages TXID 2, then the interval has long passed: snapshot 2
      assert.deepEqual(await snapshotTxids(client, "app.db"), [2]);
      await new Promise((r) => setTimeout(r, 20));
      await supervisor.syncAll();
      assert.deepEqual(await snapshotTxids(client, "app.db"), [2]);
    } finally {
      await supervisor.stop();
      app.close();
    }
  });
});
