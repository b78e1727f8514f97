/**
 * Randomised model test: an application in its own OS process commits random transactions
 * (inserts, updates, deletes, large blobs, schema changes, VACUUM), runs its own checkpoints
 * in all four modes and closes and reopens its connection, while the real walsync CLI
 * replicates it and is SIGKILLed at random instants and restarted. Every application commit
 * also inserts its own number into `commit_log`, so a restored database says which commit it
 * reflects. Afterwards the latest restore must equal the final state, and the restore at
 * every TXID must equal exactly the state of the commit it reflects, with commit numbers
 * strictly rising from TXID to TXID (equal only across a VACUUM, which changes no rows, or
 * for a snapshot TXID).
 *
 * walsync releases the idle database (`--idle-release`) between most steps in most runs.
 *
 * Seeded: WALSYNC_MODEL_SEED=<n> replays a run; WALSYNC_MODEL_STEPS=<n> makes it longer
 * (the default is a short run for CI).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import type { ReplicaClient } from "../src/replica/replica_client.ts";
import { S3ReplicaClient } from "../src/replica/s3/s3_replica_client.ts";
import { restore } from "../src/restore/apply.ts";
import { RestorePlanError } from "../src/restore/plan.ts";
import { AppProcess, type Dump } from "./support/app_client.ts";
import { Random } from "./support/random.ts";
import { dumpDatabase, integrityCheck } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";
import {
  type S3TestServer,
  s3TestTargets,
  stopS3ServersAfterTests,
  testReplicaOptions,
} from "./support/s3_server.ts";

const STEPS = Number(Deno.env.get("WALSYNC_MODEL_STEPS") ?? 40);
const FIXED_SEED = Deno.env.get("WALSYNC_MODEL_SEED");
/** Restore at most this many TXIDs (spread over the run) so long runs stay affordable. */
const MAX_RESTORES = 80;

function randomTransaction(random: Random, tables: string[]): string {
  const table = random.pick(tables);
  const statements: string[] = [];
  for (let i = random.int(1, 4); i > 0; i--) {
    switch (random.int(0, 5)) {
      case 0:
      case 1:
        statements.push(
          `INSERT INTO ${table} (a, b) VALUES ('${"v".repeat(random.int(1, 300))}', randomblob(${
            random.int(0, 2000)
          }))`,
        );
        break;
      case 2:
        statements.push(
          `INSERT INTO ${table} (a, b) VALUES ('big', randomblob(${random.int(20_000, 150_000)}))`,
        );
        break;
      case 3:
        statements.push(`UPDATE ${table} SET a = a || 'u' WHERE id % ${random.int(2, 5)} = 0`);
        break;
      case 4:
        statements.push(`DELETE FROM ${table} WHERE id % ${random.int(3, 9)} = 0`);
        break;
      default:
        statements.push(
          `UPDATE ${table} SET b = randomblob(${
            random.int(0, 5000)
          }) WHERE id = (SELECT max(id) FROM ${table})`,
        );
    }
  }
  return statements.join("; ");
}

/** Where a model run replicates to: a local directory, or a prefix on a test S3 server. */
interface ModelReplica {
  url: string;
  client: ReplicaClient;
  env?: Record<string, string>;
}

function fileReplica(dir: string): ModelReplica {
  return { url: `file://${dir}/replica`, client: new FileReplicaClient(`${dir}/replica`) };
}

function s3Replica(server: S3TestServer): ModelReplica {
  const prefix = `model-${crypto.randomUUID()}`;
  return {
    url: `s3://${server.bucket}/${prefix}`,
    client: new S3ReplicaClient(testReplicaOptions(server, { prefix })),
    env: {
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    },
  };
}

/** Compaction and retention at very short intervals (levels 1s, 3s, 10s). */
interface CompactionModel {
  pitrMs: number;
}

async function runModel(
  seed: number,
  pageSize: number,
  replicaFor: (dir: string) => ModelReplica,
  steps = STEPS,
  compaction?: CompactionModel,
): Promise<void> {
  const random = new Random(seed);
  const dir = await Deno.makeTempDir({ prefix: "walsync-model-" });
  const dbPath = `${dir}/app.db`;
  const replica = replicaFor(dir);
  // Tiny checkpoint thresholds, so walsync's own PASSIVE and TRUNCATE steps run often.
  const watchArgs = [
    "watch",
    dbPath,
    "-b",
    replica.url,
    "--sync-interval",
    "50ms",
    "--checkpoint-pages",
    String(random.int(5, 40)),
    "--truncate-pages",
    String(random.int(20, 120)),
    "--checkpoint-idle",
    "300ms",
    // Scheduled snapshots (the snapshot policy) interleave with checkpoints and kills.
    "--max-changes",
    String(random.int(10, 200)),
    `--on-startup=${random.int(0, 1) === 1}`,
    // Idle release and wake-up all the time: released between most steps, the database is
    // checkpointed, restarted, closed and vacuumed by the application while walsync holds
    // nothing, and must be picked up again without losing a commit.
    "--idle-release",
    random.pick(["0", "60ms", "150ms", "400ms"]),
    ...(compaction
      ? [
        "--compaction-levels",
        "1s,3s,10s",
        "--pitr",
        `${compaction.pitrMs}ms`,
        "--l0-linger",
        random.pick(["0", "500ms"]),
        "--retain-hourly",
        String(random.int(0, 2)),
        "--retain-daily",
        "0",
        "--retain-weekly",
        "0",
        "--retain-monthly",
        "0",
      ]
      : []),
  ];
  /** Every level-0 file seen in the replica during the run: TXID → its time. */
  const seen = new Map<number, number>();
  const look = async () => {
    if (!compaction) return;
    for (const f of await replica.client.listFiles("app.db", 0)) {
      seen.set(f.maxTxid, f.createdAt.getTime());
    }
  };
  const app = new AppProcess(dbPath, pageSize);
  /** `states[n]` is the database right after commit n. */
  const states: Dump[] = [];
  /** Commits after which a VACUUM ran (its TXID shows no new commit number). */
  const vacuumAfter = new Set<number>();
  const tables = ["t0"];
  const commit = async (sql: string) => {
    const n = states.length;
    states.push(
      (await app.send({ op: "exec", sql: `${sql}; INSERT INTO commit_log (n) VALUES (${n})` }))
        .dump!,
    );
  };
  await commit(
    "CREATE TABLE commit_log (n INTEGER PRIMARY KEY); CREATE TABLE t0 (id INTEGER PRIMARY KEY, a TEXT, b BLOB)",
  );
  let walsync = new WalsyncProcess(watchArgs, { env: replica.env });
  try {
    for (let step = 0; step < steps; step++) {
      const roll = random.int(0, 99);
      if (roll < 55) {
        await commit(randomTransaction(random, tables));
      } else if (roll < 62) {
        if (random.int(0, 1) === 0 || tables.length < 2) {
          const name = `t${tables.length}`;
          tables.push(name);
          await commit(
            `CREATE TABLE ${name} (id INTEGER PRIMARY KEY, a TEXT, b BLOB); INSERT INTO ${name} (a, b) VALUES ('new', randomblob(100))`,
          );
        } else {
          await commit(`DROP TABLE ${tables.pop()}`);
        }
      } else if (roll < 66) {
        await app.send({ op: "vacuum" });
        vacuumAfter.add(states.length - 1);
      } else if (roll < 80) {
        await app.send({
          op: "checkpoint",
          mode: random.pick(["PASSIVE", "FULL", "RESTART", "TRUNCATE"]),
        });
      } else if (roll < 86) {
        await app.send({ op: "reopen" });
      } else if (roll < 94) {
        // SIGKILL at a random instant, possibly mid-sync, then start again.
        await new Promise((resolve) => setTimeout(resolve, random.int(0, 120)));
        await walsync.kill();
        if (random.int(0, 2) === 0) {
          await commit(randomTransaction(random, tables));
          if (random.int(0, 1) === 0) await app.send({ op: "reopen" });
        }
        walsync = new WalsyncProcess(watchArgs, { env: replica.env });
      } else {
        // With compaction, long enough for level boundaries to pass now and then.
        const pause = compaction ? random.int(200, 1500) : random.int(20, 200);
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
      await look();
    }
    const final = (await app.send({ op: "dump" })).dump!;
    await look();
    const stopped = await walsync.stop();
    assert.equal(stopped.code, 0, `walsync exited ${stopped.code}: ${stopped.stderr}`);
    const endedAt = Date.now();
    await app.close();

    const client = replica.client;
    const latest = await restoredDump(client, `${dir}/latest.db`);
    assert.equal(
      commitNumber(latest.dump),
      states.length - 1,
      "the latest restore holds the last commit",
    );
    assert.deepEqual(latest.dump, final, "the latest restore equals the final state");

    if (compaction) {
      await checkRetention(client, dir, states, seen, compaction.pitrMs, endedAt);
      return;
    }

    // A snapshot TXID may show no new commit (walsync re-established continuity after, say,
    // a checkpoint while it was stopped); every other TXID must.
    const snapshots = new Set((await client.listFiles("app.db", 9)).map((f) => f.maxTxid));
    const txids = (await client.listFiles("app.db", 0)).map((f) => f.maxTxid);
    const step = Math.max(1, Math.ceil(txids.length / MAX_RESTORES));
    let previous = -1;
    for (let i = 0; i < txids.length; i += step) {
      const txid = txids[i];
      const { dump } = await restoredDump(client, `${dir}/txid-${txid}.db`, txid);
      const n = commitNumber(dump);
      assert.deepEqual(dump, states[n], `restore at TXID ${txid} equals the state of commit ${n}`);
      if (step === 1) {
        assert.ok(
          n > previous || (n === previous && (vacuumAfter.has(n) || snapshots.has(txid))),
          `TXID ${txid} reflects commit ${n}, but the TXID before it already reflected commit ${previous}`,
        );
      } else {
        assert.ok(
          n >= previous,
          `TXID ${txid} reflects commit ${n}, older than commit ${previous}`,
        );
      }
      previous = n;
    }
  } finally {
    await walsync.kill();
    await app.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * After a run with compaction and retention: every TXID written inside the window (its time
 * at or after the end − pitr: the last pass ran before the end, so it kept at least those)
 * restores exactly, by TXID and by its time; an older one restores exactly or is refused with
 * a plan error, never a wrong state; and retention did delete old positions.
 */
async function checkRetention(
  client: ReplicaClient,
  dir: string,
  states: Dump[],
  seen: Map<number, number>,
  pitrMs: number,
  endedAt: number,
): Promise<void> {
  const cutoff = endedAt - pitrMs;
  const txids = [...seen.keys()].sort((a, b) => a - b);
  let refused = 0;
  let old = 0;
  for (const txid of txids) {
    const inWindow = seen.get(txid)! >= cutoff;
    const output = `${dir}/txid-${txid}.db`;
    try {
      const { dump } = await restoredDump(client, output, txid);
      const n = commitNumber(dump);
      assert.deepEqual(dump, states[n], `restore at TXID ${txid} equals the state of commit ${n}`);
    } catch (error) {
      if (inWindow || !(error instanceof RestorePlanError)) {
        throw new Error(`TXID ${txid} (in the window: ${inWindow}) did not restore`, {
          cause: error,
        });
      }
      assert.match(
        error.message,
        /TXID \d+ is missing|is not restorable|no longer holds|no snapshot/,
      );
      refused++;
    }
    if (seen.get(txid)! < cutoff - 12_000) old++;
    if (inWindow) {
      // By time: the TXID written then, exactly.
      await restore({
        client,
        name: "app.db",
        output: `${output}.at`,
        target: { kind: "timestamp", at: new Date(seen.get(txid)!) },
      }).then((r) => assert.equal(r.txid, txid, `the time of TXID ${txid} restores it`));
    }
  }
  if (old >= 5) assert.ok(refused > 0, `retention deleted none of ${old} old positions`);
}

/** The number of the last commit a dump reflects. */
function commitNumber(dump: Dump): number {
  const rows = (dump.commit_log ?? []) as { n: number }[];
  return rows.length === 0 ? -1 : rows[rows.length - 1].n;
}

async function restoredDump(
  client: ReplicaClient,
  output: string,
  txid?: number,
): Promise<{ dump: Dump }> {
  await restore({
    client,
    name: "app.db",
    output,
    target: txid ? { kind: "txid", txid } : undefined,
    integrityCheck: "full",
  });
  const db = new DatabaseSync(output);
  try {
    assert.equal(integrityCheck(db), "ok");
    return { dump: dumpDatabase(db) };
  } finally {
    db.close();
  }
}

async function withSeed(label: string, run: (seed: number) => Promise<void>): Promise<void> {
  const seed = FIXED_SEED ? Number(FIXED_SEED) : Math.floor(Math.random() * 2 ** 31);
  try {
    await run(seed);
  } catch (error) {
    throw new Error(`model run failed; replay with WALSYNC_MODEL_SEED=${seed} (${label})`, {
      cause: error,
    });
  }
}

for (const pageSize of [1024, 4096, 65536]) {
  Deno.test({
    name:
      `model: random commits, checkpoints, reopens and SIGKILLs lose nothing (page size ${pageSize})`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => withSeed(`page size ${pageSize}`, (seed) => runModel(seed, pageSize, fileReplica)),
  });
}

Deno.test({
  name:
    "model: compaction (levels 1s/3s/10s) and a few seconds of retention keep every position in the window",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withSeed("compaction", (seed) =>
      runModel(seed, 4096, fileReplica, Math.max(STEPS, 100), {
        pitrMs: 2000 + (seed % 4) * 1000,
      })),
});

const s3 = s3TestTargets()[0];
Deno.test({
  name: `model: the same with an S3 replica, a shorter run (${s3.label})`,
  ignore: s3.ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await s3.start();
    await withSeed(
      `S3, page size 4096`,
      (seed) => runModel(seed, 4096, () => s3Replica(server), Math.ceil(STEPS / 2)),
    );
  },
});

stopS3ServersAfterTests();
