/**
 * The follower through real walsync compaction and retention (not a stand-in compactor):
 * `walsync watch` with a 1 s level 1, a 3 s level 2, no point-in-time window and no linger,
 * so level 0 keeps its newest file only and level-1 files are deleted once merged into
 * level 2. A follower stopped while that happens is restarted and bridges through what is
 * left; one that runs throughout, with a reader checking an invariant on the copy, keeps up.
 * Each copy must end equal to the primary, and no object may fail verification. On a file
 * replica and on S3.
 */
import assert from "node:assert/strict";
import type { CompactionPolicy } from "../src/compact/policy.ts";
import { Follower } from "../src/follow/follower.ts";
import { Logger } from "../src/log.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import type { LtxFileInfo, LtxFileKey, ReplicaClient } from "../src/replica/replica_client.ts";
import { S3ReplicaClient } from "../src/replica/s3/s3_replica_client.ts";
import { Supervisor } from "../src/replicate/supervisor.ts";
import { listAllFiles } from "../src/restore/apply.ts";
import { runWalsync } from "./support/cli.ts";
import {
  copyEquals,
  copyHealth,
  copyTxid,
  dumpOf,
  InvariantReader,
  NOT_ON_WINDOWS,
  startReplicate,
} from "./support/follow_fixture.ts";
import { waitFor } from "./support/litestream.ts";
import { s3TestTargets, stopS3ServersAfterTests, testReplicaOptions } from "./support/s3_server.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";
import { createAccounts, TOTAL } from "./support/transfer_app.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const TRANSFER_APP = new URL("./support/transfer_app.ts", import.meta.url).pathname;

const RETENTION = [
  "--compaction-levels",
  "1s,3s",
  "--pitr",
  "0",
  "--l0-linger",
  "0",
  "--retain-hourly",
  "0",
  "--retain-daily",
  "0",
  "--retain-weekly",
  "0",
  "--retain-monthly",
  "0",
];

interface Backend {
  url: string;
  env: Record<string, string>;
  client: ReplicaClient;
}

type BackendFactory = (dir: string) => Promise<Backend>;

const fileBackend: BackendFactory = (dir) =>
  Promise.resolve({
    url: `file://${dir}/rep`,
    env: {},
    client: new FileReplicaClient(`${dir}/rep`),
  });

function runTransfers(db: string, count: number, pauseMs: number): Promise<Deno.CommandStatus> {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRANSFER_APP, db, String(count), String(pauseMs)],
    stdout: "null",
    stderr: "inherit",
  }).spawn().status;
}

const describe = (files: LtxFileInfo[]) =>
  files.map((f) => `L${f.level}:${f.minTxid}-${f.maxTxid}`).join(" ");

function startWatch(db: string, b: Backend): WalsyncProcess {
  return new WalsyncProcess(
    ["watch", db, "-b", b.url, "--sync-interval", "50ms", ...RETENTION],
    { env: b.env },
  );
}

/** Lists the replica until `condition` holds (the bound only turns a hang into a failure). */
async function listedUntil(
  b: Backend,
  what: string,
  condition: (files: LtxFileInfo[]) => boolean,
  context: () => string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition(await listAllFiles(b.client, "bank.db"))) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}\n${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Fails on any line of a follower's log at error level (a verification failure included). */
function assertNoErrors(stderr: string): void {
  const errors = stderr.split("\n").filter((l) => l.includes('"level":"error"'));
  assert.deepEqual(errors, [], stderr);
}

async function stoppedFollowerBridges(dir: string, b: Backend): Promise<void> {
  const db = `${dir}/bank.db`;
  const copy = `${dir}/copy.db`;
  createAccounts(db);
  const watch = startWatch(db, b);
  try {
    await watch.ready();
    assert.equal((await runTransfers(db, 10, 40)).code, 0);
    const follow = ["replicate", "bank.db", "-b", b.url, "-o", copy, "--once"];
    let files: LtxFileInfo[] = [];
    await listedUntil(b, "the first transfers in the replica", (f) => {
      files = f;
      return f.length > 0 && Math.max(...f.map((x) => x.maxTxid)) >= 3;
    }, () => watch.stderr);
    let run = await runWalsync(follow, { env: b.env });
    assert.equal(run.code, 0, run.stderr);
    const stoppedAt = copyTxid(copy);
    assert.ok(stoppedAt > 1);

    // The follower is stopped: transfers go on, spread over several compaction passes.
    for (let round = 0; round < 8; round++) {
      assert.equal((await runTransfers(db, 10, 40)).code, 0);
    }
    // Level 0 no longer continues from the copy, and level 1 files were merged into level 2
    // and deleted: only a level-2 file continues from the copy's TXID.
    await listedUntil(
      b,
      "level 0 compacted away past the copy, level 1 merged into level 2",
      (f) => {
        files = f;
        const level0 = files.filter((f) => f.level === 0);
        // A level-2 file continues from the copy (it may also start right after it, when a
        // level-2 file happened to end at the copy's TXID).
        const inLevel2 = files.some((f) =>
          f.level === 2 && f.minTxid <= stoppedAt + 1 && f.maxTxid > stoppedAt
        );
        const level1Past = files.some((f) => f.level === 1 && f.minTxid <= stoppedAt + 1);
        return !level0.some((f) => f.minTxid === stoppedAt + 1) && inLevel2 && !level1Past;
      },
      () => `${describe(files)}\n${watch.stderr}`,
    );
    // Quiet replica for the comparison: the final sync uploads everything.
    assert.equal((await watch.stop()).code, 0);
    files = await listAllFiles(b.client, "bank.db");

    run = await runWalsync(follow, { env: b.env });
    assert.equal(run.code, 0, `${run.stderr}\n${describe(files)}`);
    assertNoErrors(run.stderr);
    assert.match(run.stderr, /bridging from higher levels/);
    assert.doesNotMatch(run.stderr, /copy restored/, `bridged, not restored again: ${run.stderr}`);
    assert.deepEqual(dumpOf(copy), dumpOf(db));
    assert.equal(copyTxid(copy), Math.max(...files.map((f) => f.maxTxid)));
    assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
  } finally {
    await watch.kill();
  }
}

async function runningFollowerKeepsUp(dir: string, b: Backend): Promise<void> {
  const db = `${dir}/bank.db`;
  const copy = `${dir}/copy.db`;
  createAccounts(db);
  const watch = startWatch(db, b);
  let follow: WalsyncProcess | null = null;
  let reader: InvariantReader | null = null;
  try {
    await watch.ready();
    follow = startReplicate(["bank.db", "-b", b.url, "-o", copy], { env: b.env });
    await waitFor("the first restore", () => copyTxid(copy) > 0, () => follow!.stderr, 60_000);
    reader = new InvariantReader(copy, TOTAL, `${dir}/stop-reader`);
    const startTxid = copyTxid(copy);
    for (let round = 0; round < 8; round++) {
      assert.equal((await runTransfers(db, 10, 40)).code, 0);
    }
    await waitFor("the copy to catch up", () => copyEquals(copy, db), () => follow!.stderr, 60_000);
    const files = await listAllFiles(b.client, "bank.db");
    assert.ok(files.some((f) => f.level === 2), `compaction ran: ${describe(files)}`);
    assert.ok(copyTxid(copy) > startTxid);
    const result = await reader.stop();
    reader = null;
    assert.deepEqual(result.errors, []);
    assert.equal(result.violations, 0, JSON.stringify(result));
    assertNoErrors(follow.stderr);
    assert.doesNotMatch(follow.stderr, /stopped following/);
    // A file retention deleted after a listing is listed around at once, not a failed poll.
    assert.doesNotMatch(follow.stderr, /follow failed/);
    assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
  } finally {
    if (reader) await reader.stop();
    await follow?.kill();
    await watch.kill();
  }
}

async function killedFollowerRecovers(dir: string, b: Backend): Promise<void> {
  const db = `${dir}/bank.db`;
  const copy = `${dir}/copy.db`;
  createAccounts(db);
  const watch = startWatch(db, b);
  const logs: string[] = [];
  let follow: WalsyncProcess | null = null;
  try {
    await watch.ready();
    let writing = true;
    const app = runTransfers(db, 150, 25).finally(() => writing = false);
    // SIGKILLed at random instants (mid-restore, mid-apply, mid-bridge) while compaction and
    // retention run, restarted each time.
    let kills = 0;
    while (writing || kills < 3) {
      follow = startReplicate(["bank.db", "-b", b.url, "-o", copy], { env: b.env });
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 700));
      await follow.kill();
      logs.push(follow.stderr);
      follow = null;
      kills++;
    }
    assert.equal((await app).code, 0);
    follow = startReplicate(["bank.db", "-b", b.url, "-o", copy], { env: b.env });
    await waitFor("the copy to catch up", () => copyEquals(copy, db), () => follow!.stderr, 60_000);
    logs.push(follow.stderr);
    const files = await listAllFiles(b.client, "bank.db");
    assert.ok(files.some((f) => f.level === 2), `compaction ran: ${describe(files)}`);
    for (const log of logs) assertNoErrors(log);
    assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
  } finally {
    await follow?.kill();
    await watch.kill();
  }
}

function register(label: string, backend: BackendFactory, ignore = false): void {
  const cases: [string, (dir: string, b: Backend) => Promise<void>][] = [
    [
      "a follower stopped while level 0 is compacted away and retention deletes files bridges on restart",
      stoppedFollowerBridges,
    ],
    [
      "a follower running through compaction and retention keeps its copy equal to the primary",
      runningFollowerKeepsUp,
    ],
    [
      "a follower SIGKILLed at random instants while compaction and retention run ends equal to the primary",
      killedFollowerRecovers,
    ],
  ];
  for (const [name, fn] of cases) {
    Deno.test({
      name: `${name} (${label})`,
      ignore: ignore || NOT_ON_WINDOWS,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const dir = await Deno.makeTempDir({ prefix: "walsync-follow-compact-" });
        try {
          await fn(dir, await backend(dir));
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    });
  }
}

register("file", fileBackend);

Deno.test({
  name:
    "a level-0 file retention deletes between the follower's listing and its download is bridged at once",
  ignore: NOT_ON_WINDOWS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "walsync-follow-vanish-" });
    const inner = new FileReplicaClient(`${dir}/replica`);
    // An hour's window keeps every level-0 file, so the follower's level-0 listing names the
    // next one; the racing client deletes it just before its download, as retention would.
    const policy: CompactionPolicy = {
      levelIntervalsMs: [1000],
      pitrMs: 3_600_000,
      snapshots: { hourly: 0, daily: 0, weekly: 0, monthly: 0 },
      l0LingerMs: 0,
    };
    const supervisor = new Supervisor({ client: inner, watch: false, compaction: policy });
    const app = openWalDatabase(`${dir}/app.db`);
    let armed = false;
    let deleted = 0;
    const racing = new Proxy(inner, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop !== "openFile") return typeof value === "function" ? value.bind(target) : value;
        return async (name: string, key: LtxFileKey, options?: { offset?: number }) => {
          if (armed && key.level === 0 && deleted === 0) {
            deleted++;
            await target.deleteFiles(name, [key]);
          }
          return await target.openFile(name, key, options);
        };
      },
    });
    const lines: string[] = [];
    const logger = new Logger({ format: "json", level: "info", write: (l) => lines.push(l) });
    const copy = `${dir}/copy.db`;
    const follower = new Follower({ client: racing, name: "app.db", path: copy, logger });
    try {
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      await supervisor.add(`${dir}/app.db`, "app.db");
      await supervisor.syncAll();
      await follower.poll();
      for (let i = 0; i < 4; i++) {
        app.exec(`INSERT INTO t (v) VALUES ('${"v".repeat(100 * i)}')`);
        await supervisor.syncAll();
      }
      await new Promise((r) => setTimeout(r, 1100)); // past a level-1 boundary
      await supervisor.compactDue();
      const files = await listAllFiles(inner, "app.db");
      assert.ok(
        files.some((f) => f.level === 1 && f.minTxid <= follower.txid + 1),
        describe(files),
      );
      armed = true;
      lines.length = 0;
      assert.ok(await follower.poll() > 0);
      assert.equal(deleted, 1, "the race happened");
      assert.equal(follower.txid, Math.max(...files.map((f) => f.maxTxid)));
      assert.deepEqual(dumpOf(copy), dumpDatabase(app));
      assert.doesNotMatch(lines.join(""), /copy restored/, "bridged, not restored again");
    } finally {
      await supervisor.stop();
      app.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
const s3 = s3TestTargets()[0];
register(s3.label, async () => {
  const server = await s3.start();
  const prefix = `follow-compact-${crypto.randomUUID()}`;
  return {
    url: `s3://${server.bucket}/${prefix}`,
    env: {
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    },
    client: new S3ReplicaClient(testReplicaOptions(server, { prefix })),
  };
}, s3.ignore);

stopS3ServersAfterTests();
