/**
 * walsync's pinned read transaction must hold across everything it does, including while
 * file-system events arrive: if it were lost, another process's last close would checkpoint
 * and delete the WAL under walsync. (A directory watch did exactly that with Deno 2.9.6.)
 */
import assert from "node:assert/strict";
import { MemoryReplicaClient } from "../src/replica/memory/memory_replica_client.ts";
import { Supervisor } from "../src/replicate/supervisor.ts";
import { restore } from "../src/restore/apply.ts";
import { AppProcess } from "./support/app_client.ts";

function walExists(path: string): boolean {
  try {
    Deno.statSync(`${path}-wal`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "another process's last close cannot delete the WAL while walsync watches it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/app.db`;
    const client = new MemoryReplicaClient();
    const supervisor = new Supervisor({ client, syncIntervalMs: 20 });
    const controller = new AbortController();
    try {
      let app = new AppProcess(path, 4096);
      await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
      await supervisor.add(path, "app.db");
      const running = supervisor.run(controller.signal);
      for (let round = 0; round < 4; round++) {
        await app.send({ op: "exec", sql: `INSERT INTO t (v) VALUES ('round ${round}')` });
        await new Promise((resolve) => setTimeout(resolve, 150)); // syncs and file events happen
        await app.close(); // would be the last connection if walsync had lost its locks
        assert.ok(walExists(path), `the WAL survived the application's close in round ${round}`);
        app = new AppProcess(path, 4096);
      }
      const final = (await app.send({ op: "dump" })).dump!;
      await app.close();
      controller.abort();
      await running;
      assert.deepEqual((await client.listFiles("app.db", 9)).length, 0, "no snapshot was needed");
      await restore({ client, name: "app.db", output: `${dir}/restored.db` });
      const check = new AppProcess(`${dir}/restored.db`, 4096);
      assert.deepEqual((await check.send({ op: "dump" })).dump, final);
      await check.close();
    } finally {
      controller.abort();
      await supervisor.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an application killed mid-transaction never has its half-written frames shipped",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/app.db`;
    const client = new MemoryReplicaClient();
    const supervisor = new Supervisor({ client, syncIntervalMs: 20, watch: false });
    try {
      const app = new AppProcess(path, 1024);
      await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)" });
      const committed =
        (await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES (randomblob(3000))" })).dump!;
      await supervisor.add(path, "app.db");
      const walBefore = (await Deno.stat(`${path}-wal`)).size;
      // A transaction big enough to spill frames into the WAL before it commits; then exit.
      const code = await app.sendAndWaitExit({
        op: "crash",
        sql: "INSERT INTO t (v) VALUES (randomblob(200000))",
      });
      assert.equal(code, 3);
      assert.ok(
        (await Deno.stat(`${path}-wal`)).size > walBefore,
        "uncommitted frames reached the WAL",
      );
      await supervisor.syncAll();
      await restore({ client, name: "app.db", output: `${dir}/restored.db` });
      const check = new AppProcess(`${dir}/restored.db`, 1024);
      assert.deepEqual((await check.send({ op: "dump" })).dump, committed);
      await check.close();
    } finally {
      await supervisor.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
