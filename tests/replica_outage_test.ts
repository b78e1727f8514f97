/**
 * A replicator that opens while the replica cannot be listed (an outage at start-up) keeps
 * capturing into staging and compares the replica before its first upload: a replica that
 * another writer continued meanwhile is re-seeded with a snapshot after that writer's TXIDs,
 * never overwritten.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { WalsyncError } from "../src/errors.ts";
import { MemoryReplicaClient } from "../src/replica/memory/memory_replica_client.ts";
import type { ReplicaClient } from "../src/replica/replica_client.ts";
import { replicaMaxTxid } from "../src/replicate/reconcile.ts";
import { Replicator } from "../src/replicate/replicator.ts";
import { listAllFiles, restore } from "../src/restore/apply.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";

/** The memory replica, with listings and writes failing while `down` is set. */
function flakyReplica(inner: MemoryReplicaClient): ReplicaClient & { down: boolean } {
  const outage = () => Promise.reject(new WalsyncError("the replica is unreachable"));
  const flaky = {
    down: false,
    kind: inner.kind,
    location: inner.location,
    listDatabases: () => flaky.down ? outage() : inner.listDatabases(),
    listFiles: (name: string, level: number) =>
      flaky.down ? outage() : inner.listFiles(name, level),
    openFile: inner.openFile.bind(inner),
    writeFile: (...args: Parameters<MemoryReplicaClient["writeFile"]>) =>
      flaky.down ? outage() : inner.writeFile(...args),
    deleteFiles: inner.deleteFiles.bind(inner),
    createExclusive: inner.createExclusive.bind(inner),
    readObject: inner.readObject.bind(inner),
    deleteObject: inner.deleteObject.bind(inner),
  };
  return flaky as ReplicaClient & { down: boolean };
}

Deno.test("a replicator opened during an outage captures, then re-seeds a replica another writer continued", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-outage-" });
  try {
    const memory = new MemoryReplicaClient();
    // Another writer's history for "app.db": TXIDs 1..3.
    const other = openWalDatabase(`${dir}/other.db`);
    other.exec("CREATE TABLE t (v TEXT)");
    const writer = await Replicator.open(`${dir}/other.db`, { name: "app.db", client: memory });
    for (let i = 0; i < 2; i++) {
      other.exec(`INSERT INTO t VALUES ('other ${i}')`);
      await writer.sync();
    }
    await writer.close();
    other.close();
    assert.equal(await replicaMaxTxid(memory, "app.db"), 3);

    const client = flakyReplica(memory);
    client.down = true;
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (v TEXT)");
    app.exec("INSERT INTO t VALUES ('mine 0')");
    const replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
    try {
      assert.equal(replicator.replicaChecked, false);
      assert.match(replicator.problem ?? "", /has not answered/);
      app.exec("INSERT INTO t VALUES ('mine 1')");
      assert.notEqual((await replicator.sync()).txid, null, "capture goes on during the outage");
      await assert.rejects(replicator.upload(), /unreachable/);

      client.down = false;
      assert.equal(
        await replicator.upload(),
        0,
        "nothing is uploaded over the other writer's TXIDs",
      );
      assert.equal(replicator.needsSync, true);
      const reseeded = await replicator.sync();
      assert.equal(reseeded.txid, 4);
      assert.match(reseeded.snapshot ?? "", /another writer continued the replica to TXID 3/);
      await replicator.upload();
      const files = await listAllFiles(memory, "app.db");
      assert.deepEqual(
        files.map((f) => [f.level, f.minTxid, f.maxTxid]),
        [[0, 1, 1], [0, 2, 2], [0, 3, 3], [0, 4, 4], [9, 1, 4]],
      );
      const output = `${dir}/restored.db`;
      await restore({ client: memory, name: "app.db", output });
      const restored = new DatabaseSync(output);
      assert.deepEqual(dumpDatabase(restored), dumpDatabase(app));
      restored.close();
    } finally {
      await replicator.close({ upload: false });
      app.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
