/**
 * The daemon compacts and applies retention by itself, only for databases that shipped
 * something new; an idle one costs no request; a restore racing retention re-plans.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { CompactionPolicy } from "../src/compact/policy.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import type { LtxFileInfo, LtxFileKey, ReplicaClient } from "../src/replica/replica_client.ts";
import { Supervisor } from "../src/replicate/supervisor.ts";
import { S3ReplicaClient } from "../src/replica/s3/s3_replica_client.ts";
import { s3TestTargets, stopS3ServersAfterTests, testReplicaOptions } from "./support/s3_server.ts";
import { listAllFiles, restore } from "../src/restore/apply.ts";
import { verifyReplica } from "../src/restore/verify.ts";
import { counting } from "./support/counting_client.ts";
import { dumpDatabase, integrityCheck, openWalDatabase } from "./support/sqlite.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Counts the requests a client receives (every method call). */
const policy: CompactionPolicy = {
  levelIntervalsMs: [1000, 2000],
  pitrMs: 0,
  snapshots: { hourly: 0, daily: 0, weekly: 0, monthly: 0 },
  l0LingerMs: 0,
};

const levels = (files: LtxFileInfo[], level: number) =>
  files.filter((f) => f.level === level).map((f) => `${f.minTxid}-${f.maxTxid}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function restoredDump(client: ReplicaClient, dir: string) {
  const output = `${dir}/restored-${crypto.randomUUID()}.db`;
  await restore({ client, name: "app.db", output });
  const db = new DatabaseSync(output);
  try {
    assert.equal(integrityCheck(db), "ok");
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

async function compactsAndIdles(dir: string, inner: ReplicaClient): Promise<void> {
  {
    const client = counting(inner);
    const supervisor = new Supervisor({ client, watch: false, compaction: policy });
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    try {
      await supervisor.add(`${dir}/app.db`, "app.db");
      for (let i = 0; i < 5; i++) {
        app.exec(`INSERT INTO t (v) VALUES ('${"x".repeat(500 * i)}')`);
        await supervisor.syncAll();
      }
      await sleep(2100); // past a boundary of both levels
      await supervisor.compactDue();
      let files = await listAllFiles(client, "app.db");
      // TXID 1 is the first snapshot (a full copy): never merged; 2..6 go to level 1, then 2.
      assert.deepEqual(levels(files, 1), ["2-6"]);
      assert.deepEqual(levels(files, 2), ["2-6"]);
      // Level 0 keeps its newest file only (pitr 0, no linger); 1-1 is the base of the chain.
      assert.deepEqual(levels(files, 0), ["1-1", "6-6"]);
      assert.deepEqual(await restoredDump(client, dir), dumpDatabase(app));

      // More writes: level 1 continues after what it holds.
      app.exec("UPDATE t SET v = 'changed' WHERE id = 2");
      await supervisor.syncAll();
      await sleep(2100);
      await supervisor.compactDue();
      files = await listAllFiles(client, "app.db");
      assert.deepEqual(levels(files, 1), ["7-7"], "older level-1 files were merged into level 2");
      assert.deepEqual(levels(files, 2), ["2-6", "7-7"]);
      assert.deepEqual(await restoredDump(client, dir), dumpDatabase(app));
      // verify walks the compacted replica: every object, every retained position's chain.
      const report = await verifyReplica({ client: inner, name: "app.db", policy });
      assert.deepEqual(report.problems, []);

      // Idle: no request at all, however many passes come due.
      client.calls.length = 0;
      await sleep(2100);
      await supervisor.syncAll();
      await supervisor.compactDue();
      assert.deepEqual(client.calls, []);
      await supervisor.stop();

      // A restarted daemon lists no level of a database that ships nothing new.
      const again = new Supervisor({ client, watch: false, compaction: policy });
      try {
        await again.add(`${dir}/app.db`, "app.db");
        client.calls.length = 0;
        await again.syncAll();
        await sleep(2100);
        await again.compactDue();
        assert.deepEqual(client.calls.filter((c) => c === "listFiles"), []);
      } finally {
        await again.stop();
      }
    } finally {
      await supervisor.stop();
      app.close();
    }
  }
}

Deno.test("watch compacts into levels 1 and 2, prunes level 0, and then an idle database costs nothing (file)", async () => {
  await withDir((dir) => compactsAndIdles(dir, new FileReplicaClient(`${dir}/replica`)));
});

const s3 = s3TestTargets()[0];
Deno.test({
  name: `the same on S3 (${s3.label})`,
  ignore: s3.ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await s3.start();
    const client = new S3ReplicaClient(
      testReplicaOptions(server, { prefix: `compact-${crypto.randomUUID()}` }),
    );
    await withDir((dir) => compactsAndIdles(dir, client));
  },
});

Deno.test("a restore whose planned file vanished (retention racing it) plans again once", async () => {
  await withDir(async (dir) => {
    const inner = new FileReplicaClient(`${dir}/replica`);
    const supervisor = new Supervisor({
      client: inner,
      watch: false,
      compaction: { ...policy, pitrMs: 3_600_000 },
    });
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    try {
      await supervisor.add(`${dir}/app.db`, "app.db");
      for (let i = 0; i < 4; i++) {
        app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
        await supervisor.syncAll();
      }
      await sleep(1100);
      await supervisor.compactDue();
    } finally {
      await supervisor.stop();
    }
    const files = await listAllFiles(inner, "app.db");
    assert.ok(levels(files, 1).length > 0, "level 1 exists");
    // The first open of a level-1 file finds it deleted, as if retention ran after listing.
    let vanished = 0;
    const racing = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop !== "openFile") return Reflect.get(target, prop, receiver);
        return async (name: string, key: LtxFileKey, options?: { offset?: number }) => {
          if (key.level >= 1 && vanished === 0) {
            vanished++;
            await target.deleteFiles(name, [key]);
          }
          return await target.openFile(name, key, options);
        };
      },
    });
    assert.deepEqual(await restoredDump(racing, dir), dumpDatabase(app));
    assert.equal(vanished, 1);
    app.close();
  });
});

Deno.test({
  name: `an S3 restore by TXID reads the metadata of the planned files only (${s3.label})`,
  ignore: s3.ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await s3.start();
    const prefix = `heads-${crypto.randomUUID()}`;
    await withDir(async (dir) => {
      const writer = new S3ReplicaClient(testReplicaOptions(server, { prefix }));
      // A 1 h window keeps every level-0 file: the listing has many more than the plan.
      const supervisor = new Supervisor({
        client: writer,
        watch: false,
        compaction: { ...policy, pitrMs: 3_600_000 },
      });
      const app = openWalDatabase(`${dir}/app.db`);
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      try {
        await supervisor.add(`${dir}/app.db`, "app.db");
        for (let i = 0; i < 12; i++) {
          app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
          await supervisor.syncAll();
        }
        await sleep(1100);
        await supervisor.compactDue();
      } finally {
        await supervisor.stop();
      }
      // A fresh client (no cached metadata), as a restore command is.
      const reader = new S3ReplicaClient(testReplicaOptions(server, { prefix }));
      const output = `${dir}/restored.db`;
      const result = await restore({ client: reader, name: "app.db", output });
      assert.ok(result.files.length < 5, `${result.files.length} files planned`);
      assert.ok(
        (reader.requestCounts.get("HeadObject") ?? 0) <= result.files.length,
        `HEADs: ${reader.requestCounts.get("HeadObject")}`,
      );
      assert.ok(result.files.every((f) => f.sha256 !== undefined), "every object verified");
      const db = new DatabaseSync(output);
      assert.deepEqual(dumpDatabase(db), dumpDatabase(app));
      db.close();
      app.close();
    });
  },
});
stopS3ServersAfterTests();

Deno.test("an idle database's level-0 files go when its window ends, without another write; then nothing more (file)", async () => {
  await withDir(async (dir) => {
    const client = counting(new FileReplicaClient(`${dir}/replica`));
    // Level 0 is kept for the 6 s window (and 1 s linger) after the last write: well past
    // the 2.1 s wait below, however slow the machine.
    const windowed: CompactionPolicy = { ...policy, pitrMs: 6000, l0LingerMs: 1000 };
    const supervisor = new Supervisor({ client, watch: false, compaction: windowed });
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    try {
      await supervisor.add(`${dir}/app.db`, "app.db");
      for (let i = 0; i < 5; i++) {
        app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
        await supervisor.syncAll();
      }
      await sleep(2100); // both levels ran: level 0 is still inside the window
      await supervisor.compactDue();
      let files = await listAllFiles(client, "app.db");
      assert.deepEqual(levels(files, 2), ["2-6"]);
      assert.deepEqual(levels(files, 0), ["1-1", "2-2", "3-3", "4-4", "5-5", "6-6"]);
      // Idle from here on: no write, no upload. Past the window and the linger, the pass the
      // last upload scheduled deletes what no retained position needs.
      for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
        await sleep(500);
        await supervisor.compactDue();
        files = await listAllFiles(client, "app.db");
        if (levels(files, 0).length < 6) break;
      }
      assert.deepEqual(levels(files, 0), ["1-1", "6-6"], "level 0 pruned after the window");
      assert.deepEqual(await restoredDump(client, dir), dumpDatabase(app));
      // And then nothing: no request however long it stays idle.
      client.calls.length = 0;
      await sleep(2100);
      await supervisor.syncAll();
      await supervisor.compactDue();
      assert.deepEqual(client.calls, []);
    } finally {
      await supervisor.stop();
      app.close();
    }
  });
});
