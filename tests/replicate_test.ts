import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { MemoryReplicaClient } from "../src/replica/memory/memory_replica_client.ts";
import { Replicator } from "../src/replicate/replicator.ts";
import { restore } from "../src/restore/apply.ts";
import { dumpDatabase, integrityCheck, openWalDatabase } from "./support/sqlite.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function restoredDump(
  client: FileReplicaClient | MemoryReplicaClient,
  dir: string,
  txid?: number,
) {
  const output = `${dir}/restored-${crypto.randomUUID()}.db`;
  const result = await restore({
    client,
    name: "app.db",
    output,
    target: txid ? { kind: "txid", txid } : undefined,
  });
  const db = new DatabaseSync(output);
  try {
    assert.equal(integrityCheck(db), "ok");
    return { dump: dumpDatabase(db), result };
  } finally {
    db.close();
  }
}

Deno.test("a replicator snapshots first, ships each commit as the next TXID, and restores every one", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const client = new FileReplicaClient(`${dir}/replica`);
    const replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
    assert.equal(replicator.txid, 1);
    const states = [dumpDatabase(app)];
    for (let i = 0; i < 5; i++) {
      app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
      const result = await replicator.sync();
      assert.equal(result.txid, i + 2);
      states.push(dumpDatabase(app));
    }
    assert.deepEqual(await replicator.sync(), { txid: null });
    await replicator.upload();
    for (let txid = 1; txid <= 6; txid++) {
      assert.deepEqual(
        (await restoredDump(client, dir, txid)).dump,
        states[txid - 1],
        `txid ${txid}`,
      );
    }
    const latest = await restoredDump(client, dir);
    assert.equal(latest.result.txid, 6);
    assert.equal(latest.result.databaseChecksum, replicator.databaseChecksum);
    await replicator.close();
    app.close();
  });
});

Deno.test("walsync's checkpoint lets the WAL restart and the next commits continue without a snapshot", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    const client = new MemoryReplicaClient();
    const replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
    app.exec("INSERT INTO t (v) VALUES (randomblob(5000))");
    await replicator.sync();
    assert.equal(await replicator.checkpoint(), true);
    app.exec("INSERT INTO t (v) VALUES (randomblob(100))"); // restarts the WAL
    const result = await replicator.sync();
    assert.equal(result.snapshot, undefined);
    assert.equal(result.txid, 3);
    await replicator.upload();
    assert.deepEqual((await restoredDump(client, dir)).dump, dumpDatabase(app));
    await replicator.close();
    app.close();
  });
});

Deno.test("the application's own checkpoints in every mode never cost a transaction", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("PRAGMA busy_timeout=0; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const client = new MemoryReplicaClient();
    const replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
    const states = [dumpDatabase(app)];
    for (const mode of ["PASSIVE", "FULL", "RESTART", "TRUNCATE", "PASSIVE", "TRUNCATE"]) {
      app.exec(`INSERT INTO t (v) VALUES ('before ${mode}')`);
      app.prepare(`PRAGMA wal_checkpoint(${mode})`).get();
      app.exec(`INSERT INTO t (v) VALUES ('after ${mode}')`);
      await replicator.sync({ force: true });
      states.push(dumpDatabase(app));
      if (mode === "PASSIVE") await replicator.checkpoint();
    }
    await replicator.upload();
    assert.deepEqual((await restoredDump(client, dir)).dump, dumpDatabase(app));
    await replicator.close();
    app.close();
  });
});

Deno.test("a restarted replicator resumes at the next TXID without a snapshot", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const client = new MemoryReplicaClient();
    let replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
    app.exec("INSERT INTO t (v) VALUES ('one')");
    await replicator.close();
    app.exec("INSERT INTO t (v) VALUES ('two')");
    replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
    assert.equal(replicator.txid, 2);
    const result = await replicator.sync();
    assert.deepEqual(result, { txid: 3 });
    await replicator.close();
    assert.equal((await client.listFiles("app.db", 9)).length, 0);
    assert.deepEqual((await restoredDump(client, dir)).dump, dumpDatabase(app));
    app.close();
  });
});

Deno.test("a database changed while walsync was stopped ships only its changed pages, and one left alone nothing", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/app.db`;
    let app = openWalDatabase(path);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a')");
    const client = new MemoryReplicaClient();
    let replicator = await Replicator.open(path, { name: "app.db", client });
    await replicator.close();
    app.close(); // the last connection checkpoints and deletes the WAL
    replicator = await Replicator.open(path, { name: "app.db", client });
    assert.equal(replicator.txid, 1, "unchanged database: no new TXID");
    await replicator.close();
    app = openWalDatabase(path);
    // Many pages, of which the next change touches few: the diff must carry only those.
    app.exec("CREATE TABLE big (b BLOB); INSERT INTO big VALUES (randomblob(200000))");
    app.close();
    replicator = await Replicator.open(path, { name: "app.db", client });
    assert.equal(replicator.txid, 2);
    await replicator.close();
    app = openWalDatabase(path);
    app.exec("INSERT INTO t (v) VALUES ('b')");
    app.close();
    replicator = await Replicator.open(path, { name: "app.db", client });
    assert.equal(replicator.txid, 3);
    await replicator.close();
    assert.deepEqual((await client.listFiles("app.db", 9)).map((f) => f.maxTxid), []);
    const [, full, diff] = await client.listFiles("app.db", 0);
    assert.ok(diff.sizeBytes * 5 < full.sizeBytes, `diff ${diff.sizeBytes} vs ${full.sizeBytes}`);
    const check = new DatabaseSync(path);
    assert.deepEqual((await restoredDump(client, dir)).dump, dumpDatabase(check));
    check.close();
  });
});

Deno.test("restore refuses to overwrite, and a flipped byte in any object fails it naming the object", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const client = new MemoryReplicaClient();
    const replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
    app.exec("INSERT INTO t (v) VALUES ('x')");
    await replicator.close();
    app.close();
    await Deno.writeTextFile(`${dir}/exists.db`, "precious");
    await assert.rejects(
      () => restore({ client, name: "app.db", output: `${dir}/exists.db` }),
      /Output ".*exists.db" already exists; restore refuses to overwrite it \(use --force/,
    );
    assert.equal(await Deno.readTextFile(`${dir}/exists.db`), "precious");
    for (const key of await client.listFiles("app.db", 0)) {
      // The magic, a page, the index and the file checksum at the very end.
      for (const offset of [3, 120, key.sizeBytes - 30, key.sizeBytes - 1]) {
        client.corrupt("app.db", key, offset);
        const output = `${dir}/out.db`;
        await assert.rejects(
          () => restore({ client, name: "app.db", output }),
          new RegExp(`level 0 ${key.minTxid.toString(16).padStart(16, "0")}-`),
        );
        await assert.rejects(() => Deno.stat(output), Deno.errors.NotFound);
        assert.deepEqual(
          [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("out")),
          [],
        );
        client.corrupt("app.db", key, offset); // undo
      }
    }
    await restore({ client, name: "app.db", output: `${dir}/exists.db`, force: true });
  });
});

Deno.test("with staging full, capture waits for uploads and then ships the backlog as one TXID", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const client = new MemoryReplicaClient();
    const replicator = await Replicator.open(`${dir}/app.db`, {
      name: "app.db",
      client,
      maxStagingBytes: 1,
    });
    assert.equal(replicator.stagingFull, true, "the first snapshot fills the tiny staging area");
    app.exec("INSERT INTO t (v) VALUES ('one'); INSERT INTO t (v) VALUES ('two')");
    assert.deepEqual(await replicator.sync(), { txid: null, deferred: true });
    assert.equal(await replicator.maybeCheckpoint(), false, "no checkpoint while frames wait");
    await replicator.upload();
    assert.equal(replicator.pendingBytes, 0);
    assert.equal((await replicator.sync()).txid, 2);
    await replicator.upload();
    assert.deepEqual((await restoredDump(client, dir)).dump, dumpDatabase(app));
    await replicator.close();
    app.close();
  });
});

Deno.test("a replica that lost files walsync uploaded is re-seeded with a snapshot on start", async () => {
  await withDir(async (dir) => {
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a')");
    const stagingDir = `${dir}/staging`;
    let replicator = await Replicator.open(`${dir}/app.db`, {
      name: "app.db",
      client: new MemoryReplicaClient(),
      stagingDir,
    });
    app.exec("INSERT INTO t (v) VALUES ('b')");
    await replicator.close();
    const wiped = new MemoryReplicaClient(); // e.g. the bucket was emptied or replaced
    replicator = await Replicator.open(`${dir}/app.db`, {
      name: "app.db",
      client: wiped,
      stagingDir,
    });
    assert.equal(replicator.txid, 3, "TXIDs continue");
    await replicator.close();
    assert.deepEqual((await wiped.listFiles("app.db", 9)).map((f) => f.maxTxid), [3]);
    assert.deepEqual((await restoredDump(wiped, dir)).dump, dumpDatabase(app));
    app.close();
  });
});
