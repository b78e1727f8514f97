/**
 * Compaction and retention delete replica files while restores and followers read them.
 * A file that vanished between the listing and its read means a fresh listing and a new plan,
 * more than once when a busy compactor races again, within a bound that turns a real fault
 * into an error naming the file. (CI once caught a follower's first restore failing on a
 * level-0 file retention deleted between the listing and its metadata read.)
 */
import assert from "node:assert/strict";
import { Follower } from "../src/follow/follower.ts";
import { silentLogger } from "../src/log.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import {
  type LtxFileInfo,
  type LtxFileKey,
  type ReplicaClient,
  ReplicaFileNotFoundError,
} from "../src/replica/replica_client.ts";
import { Supervisor } from "../src/replicate/supervisor.ts";
import type { CompactionPolicy } from "../src/compact/policy.ts";
import { listAllFiles, PLAN_ATTEMPTS, planFor, restore } from "../src/restore/apply.ts";
import { verifyReplica } from "../src/restore/verify.ts";
import { dumpOf } from "./support/follow_fixture.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";

/** Vanishing reads to inject: metadata reads answer "not there", opens throw not-found. */
interface Races {
  stats: number;
  opens: number;
}

/** A client whose next `races.stats` metadata reads and `races.opens` opens find nothing. */
function racing(inner: ReplicaClient, races: Races): ReplicaClient {
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop === "statFile") {
        return (name: string, key: LtxFileKey, signal?: AbortSignal) => {
          if (races.stats > 0) {
            races.stats--;
            return Promise.resolve(null);
          }
          return target.statFile!(name, key, signal);
        };
      }
      if (prop === "openFile") {
        return (name: string, key: LtxFileKey, options?: { offset?: number }) => {
          if (races.opens > 0) {
            races.opens--;
            return Promise.reject(
              new ReplicaFileNotFoundError(`level ${key.level} ${key.minTxid} vanished`),
            );
          }
          return target.openFile(name, key, options);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A replica of app.db with a few level-0 files, and the open source database. */
async function replicated(dir: string) {
  const client = new FileReplicaClient(`${dir}/replica`);
  const supervisor = new Supervisor({ client, watch: false });
  const app = openWalDatabase(`${dir}/app.db`);
  app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  await supervisor.add(`${dir}/app.db`, "app.db");
  for (let i = 0; i < 3; i++) {
    app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
    await supervisor.syncAll();
  }
  return { client, supervisor, app };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-vanish-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a restore plans again each time planned files vanish, while planning and while writing", async () => {
  await withDir(async (dir) => {
    const { client, supervisor, app } = await replicated(dir);
    try {
      const races = { stats: 2, opens: 2 };
      const output = `${dir}/restored.db`;
      await restore({ client: racing(client, races), name: "app.db", output });
      assert.deepEqual(races, { stats: 0, opens: 0 }, "every race happened");
      assert.deepEqual(dumpOf(output), dumpDatabase(app));
    } finally {
      await supervisor.stop();
      app.close();
    }
  });
});

Deno.test("a restore whose planned files keep vanishing fails naming the file and writes nothing", async () => {
  await withDir(async (dir) => {
    const { client, supervisor, app } = await replicated(dir);
    try {
      const races = { stats: 0, opens: 1_000 };
      const output = `${dir}/restored.db`;
      await assert.rejects(
        restore({ client: racing(client, races), name: "app.db", output }),
        (error: Error) => {
          assert.match(error.message, /level 0 1 vanished/);
          return true;
        },
      );
      assert.equal(1_000 - races.opens, PLAN_ATTEMPTS, "bounded attempts");
      const left = [...Deno.readDirSync(dir)].filter((e) => e.name.includes("restored"));
      assert.deepEqual(left, [], "nothing written");
      // Planning alone gives up in the same bound.
      const stats = { stats: 1_000, opens: 0 };
      await assert.rejects(planFor(racing(client, stats), "app.db"), /vanished/);
      // (the planned files' metadata is read together: every one of them vanished each time)
      const planned = (await planFor(client, "app.db")).files.length;
      assert.equal(1_000 - stats.stats, PLAN_ATTEMPTS * planned);
    } finally {
      await supervisor.stop();
      app.close();
    }
  });
});

Deno.test("a follower lists again each time listed files vanish before their download", async () => {
  await withDir(async (dir) => {
    const { client, supervisor, app } = await replicated(dir);
    const races = { stats: 0, opens: 0 };
    const copy = `${dir}/copy.db`;
    const follower = new Follower({
      client: racing(client, races),
      name: "app.db",
      path: copy,
      logger: silentLogger,
    });
    try {
      // The first poll restores the copy, racing once while planning and once while writing.
      Object.assign(races, { stats: 1, opens: 1 });
      await follower.poll();
      assert.deepEqual(races, { stats: 0, opens: 0 }, "both races happened");
      assert.ok(follower.txid > 0);
      assert.deepEqual(dumpOf(copy), dumpDatabase(app));
      for (let i = 0; i < 3; i++) {
        app.exec(`INSERT INTO t (v) VALUES ('later ${i}')`);
        await supervisor.syncAll();
      }
      Object.assign(races, { stats: 0, opens: 3 });
      assert.equal(await follower.poll(), 3);
      assert.deepEqual(races, { stats: 0, opens: 0 }, "every race happened");
      assert.deepEqual(dumpOf(copy), dumpDatabase(app));
      const files: LtxFileInfo[] = await client.listFiles("app.db", 0);
      assert.equal(follower.txid, Math.max(...files.map((f) => f.maxTxid)));
    } finally {
      await supervisor.stop();
      app.close();
    }
  });
});

/** A replica whose level-0 files a level-1 file covers (what retention may then delete). */
async function compacted(dir: string) {
  const policy: CompactionPolicy = {
    levelIntervalsMs: [1000],
    pitrMs: 3_600_000,
    snapshots: { hourly: 0, daily: 0, weekly: 0, monthly: 0 },
    l0LingerMs: 0,
  };
  const client = new FileReplicaClient(`${dir}/replica`);
  const supervisor = new Supervisor({ client, watch: false, compaction: policy });
  const app = openWalDatabase(`${dir}/app.db`);
  try {
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    await supervisor.add(`${dir}/app.db`, "app.db");
    for (let i = 0; i < 4; i++) {
      app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
      await supervisor.syncAll();
    }
    await new Promise((r) => setTimeout(r, 1100)); // past a level-1 boundary
    await supervisor.compactDue();
  } finally {
    await supervisor.stop();
    app.close();
  }
  const files = await listAllFiles(client, "app.db");
  const merged = files.find((f) =>
    f.level === 0 && f.minTxid > 1 &&
    files.some((m) => m.level === 1 && m.minTxid <= f.minTxid && m.maxTxid >= f.maxTxid)
  );
  assert.ok(merged, "a level-0 file a level-1 file covers");
  // Retention after the window: only the latest position is kept.
  return { client, merged, policy: { ...policy, pitrMs: 0 } };
}

Deno.test("verify audits again when retention deletes an object while it is audited", async () => {
  await withDir(async (dir) => {
    const { client, merged, policy } = await compacted(dir);
    let deleted = 0;
    const racing = new Proxy(client, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop !== "openFile") return typeof value === "function" ? value.bind(target) : value;
        return async (name: string, key: LtxFileKey, options?: { offset?: number }) => {
          if (key.level === merged.level && key.minTxid === merged.minTxid && deleted === 0) {
            deleted++;
            await target.deleteFiles(name, [key]);
          }
          return await target.openFile(name, key, options);
        };
      },
    });
    const report = await verifyReplica({ client: racing, name: "app.db", policy });
    assert.equal(deleted, 1, "the race happened");
    assert.deepEqual(report.problems, []);
    assert.ok(report.databaseChecksum !== undefined, "the latest state was verified");
  });
});

Deno.test("verify reports an object that is listed but cannot be read, without auditing again", async () => {
  await withDir(async (dir) => {
    const { client, merged, policy } = await compacted(dir);
    const races = { stats: 0, opens: 0 };
    let opens = 0;
    const counting = new Proxy(racing(client, races), {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop !== "openFile") return typeof value === "function" ? value.bind(target) : value;
        return (name: string, key: LtxFileKey, options?: { offset?: number }) => {
          opens++;
          // This one object answers "not found" every time, though it stays listed.
          if (key.level === merged.level && key.minTxid === merged.minTxid) races.opens = 1;
          return target.openFile(name, key, options);
        };
      },
    });
    const files = (await listAllFiles(client, "app.db")).length;
    const report = await verifyReplica({ client: counting, name: "app.db", policy });
    assert.equal(opens, files, "one audit: every object opened once");
    assert.ok(
      report.problems.some((p) => p.includes("cannot be read") && p.includes("vanished")),
      report.problems.join("\n"),
    );
  });
});
