/**
 * `walsync watch` against a real S3-compatible server behind a fault-injecting proxy: an outage
 * longer than the lease, a lease renewal applied whose answer is lost, a real takeover by a
 * second walsync, a force-quit during an outage, and a start during an outage. Most tests
 * shorten the lease with the test-only `WALSYNC_LEASE_TTL_MS`, so an outage outlives it in
 * seconds rather than half a minute.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AppProcess, type Dump } from "../support/app_client.ts";
import { runWalsync } from "../support/cli.ts";
import { S3FaultProxy } from "../support/s3_fault_proxy.ts";
import { type S3TestServer, s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";
import { dumpDatabase } from "../support/sqlite.ts";
import { WalsyncProcess } from "../support/walsync_process.ts";

const target = s3TestTargets()[0];
/** Short enough that an outage outlives the lease within a few seconds. */
const SHORT_TTL_MS = "2000";
/** A bound far above any expected wait: only a hang reaches it. */
const HANG_MS = 45_000;

interface Setup {
  server: S3TestServer;
  proxy: S3FaultProxy;
  dir: string;
  url: string;
  /** Environment reaching the server through the proxy. */
  env: Record<string, string>;
  /** Environment reaching the server directly. */
  directEnv: Record<string, string>;
}

function test(
  name: string,
  fn: (setup: Setup) => Promise<void>,
  options: { ignore?: boolean } = {},
) {
  Deno.test({
    name: `watch during S3 faults (${target.label}): ${name}`,
    ignore: target.ignore || options.ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const server = await target.start();
      const proxy = S3FaultProxy.start(server.endpoint);
      const dir = await Deno.makeTempDir();
      const base = {
        AWS_REGION: server.region,
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      };
      try {
        await fn({
          server,
          proxy,
          dir,
          url: `s3://${server.bucket}/outage-${crypto.randomUUID()}`,
          env: { ...base, AWS_ENDPOINT_URL_S3: proxy.endpoint },
          directEnv: { ...base, AWS_ENDPOINT_URL_S3: server.endpoint },
        });
      } finally {
        proxy.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

/** Waits until `condition` holds; fails naming `what` if it does not within HANG_MS. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Staged LTX files waiting for upload beside `dbPath`. */
function stagedFiles(dbPath: string): string[] {
  const slash = dbPath.lastIndexOf("/");
  const pending = `${dbPath.slice(0, slash)}/.${dbPath.slice(slash + 1)}-walsync/pending`;
  try {
    return [...Deno.readDirSync(pending)].map((e) => e.name).filter((n) => n.endsWith(".ltx"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

function logLines(stderr: string): { level: string; msg: string; [key: string]: unknown }[] {
  return stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

async function restoredDump(setup: Setup, name: string): Promise<Dump> {
  const out = `${setup.dir}/restored-${crypto.randomUUID()}.db`;
  const run = await runWalsync(["restore", name, "-o", out, "-b", setup.url], {
    env: setup.directEnv,
  });
  assert.equal(run.code, 0, run.stderr);
  const db = new DatabaseSync(out);
  try {
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

const isLeasePut = (request: { method: string; path: string }) =>
  request.method === "PUT" && request.path.endsWith("/.walsync-lease.json");

test("an outage longer than the lease pauses uploads, and the replica catches up after it", async (setup) => {
  const { proxy, dir } = setup;
  const app = new AppProcess(`${dir}/app.db`, 4096);
  const watch = new WalsyncProcess(
    ["watch", `${dir}/app.db`, "-b", setup.url, "--sync-interval", "100ms"],
    { env: { ...setup.env, WALSYNC_LEASE_TTL_MS: SHORT_TTL_MS } },
  );
  try {
    await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
    await watch.ready();
    await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('before')" });
    await until("the first uploads", () => stagedFiles(`${dir}/app.db`).length === 0);

    proxy.setMode("error500");
    let row = 0;
    // Commit through the outage until walsync says its lease is in doubt (its expiry passed).
    await until("the lease to be in doubt", async () => {
      await app.send({ op: "exec", sql: `INSERT INTO t (v) VALUES ('outage ${row++}')` });
      const doubt = logLines(watch.stderr).some((l) => l.level === "error" && /lease/.test(l.msg));
      return doubt || (await watch.exited(0)) !== null;
    });
    for (let i = 0; i < 5; i++) {
      await app.send({ op: "exec", sql: `INSERT INTO t (v) VALUES ('outage ${row++}')` });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(await watch.exited(500), null, `watch must survive an outage:\n${watch.stderr}`);
    assert.ok(stagedFiles(`${dir}/app.db`).length > 0, "capture continues into staging");

    proxy.setMode("forward");
    await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('after')" });
    const final = (await app.send({ op: "dump" })).dump!;
    await until("the replica to catch up", () => stagedFiles(`${dir}/app.db`).length === 0);
    assert.deepEqual(await restoredDump(setup, "app.db"), final);
    assert.ok(
      logLines(watch.stderr).some((l) => l.level === "warn" && /uploads resume/.test(l.msg)),
      "the recovery is logged",
    );
    const stopped = await watch.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  } finally {
    await watch.kill();
    await app.close();
  }
});

test("a lease renewal applied by the server whose answer is lost keeps the lease", async (setup) => {
  const { proxy, dir } = setup;
  const app = new AppProcess(`${dir}/app.db`, 4096);
  const watch = new WalsyncProcess(
    ["watch", `${dir}/app.db`, "-b", setup.url, "--sync-interval", "100ms"],
    { env: { ...setup.env, WALSYNC_LEASE_TTL_MS: SHORT_TTL_MS } },
  );
  try {
    await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
    await watch.ready();
    // The next renewal (a PUT with If-Match) is applied, then its connection drops: the SDK
    // retries it with the old ETag and gets 412 from the server.
    proxy.cutResponses((r) => isLeasePut(r) && r.headers.has("if-match"));
    await until("the renewal to be cut", () => proxy.count("cut") === 1);
    const afterCut = proxy.log.length;
    await until(
      "two more renewals (or an exit)",
      async () =>
        proxy.log.slice(afterCut).filter((e) => isLeasePut(e) && e.status === 200).length >= 2 ||
        (await watch.exited(0)) !== null,
    );
    assert.equal(await watch.exited(0), null, `watch must keep its lease:\n${watch.stderr}`);
    assert.doesNotMatch(watch.stderr, /taken over/);

    await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('after the cut')" });
    const final = (await app.send({ op: "dump" })).dump!;
    const stopped = await watch.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(await restoredDump(setup, "app.db"), final);
  } finally {
    await watch.kill();
    await app.close();
  }
});

test("a second walsync that really takes the lease over stops the first, naming it", async (setup) => {
  const { proxy, dir } = setup;
  const app = new AppProcess(`${dir}/app.db`, 4096);
  const first = new WalsyncProcess(
    ["watch", `${dir}/app.db`, "-b", setup.url, "--sync-interval", "100ms"],
    { env: { ...setup.env, WALSYNC_LEASE_TTL_MS: SHORT_TTL_MS } },
  );
  let second: WalsyncProcess | null = null;
  try {
    await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
    await first.ready();
    // A partition: the first walsync cannot reach the store, a second one (direct) can.
    proxy.setMode("refuse");
    await until(
      "the first lease to be in doubt",
      async () =>
        logLines(first.stderr).some((l) => l.level === "error" && /lease/.test(l.msg)) ||
        (await first.exited(0)) !== null,
    );
    await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('staged by the first')" });
    // Uploads pause a renew interval before the lease expires; only then may another take it.
    const doubt = logLines(first.stderr).find((l) => l.level === "error" && /lease/.test(l.msg));
    const expiresAt = Date.parse(String(doubt?.expiresAt));
    await until("the first lease to expire", () => !(Date.now() <= expiresAt + 200));
    second = new WalsyncProcess(
      ["watch", "--create", `${dir}/other.db`, "-b", setup.url, "--sync-interval", "100ms"],
      { env: { ...setup.directEnv, WALSYNC_LEASE_TTL_MS: SHORT_TTL_MS } },
    );
    await second.ready();
    proxy.setMode("forward");

    const code = await first.exited(HANG_MS);
    assert.equal(code, 1, first.stderr);
    assert.match(
      first.stderr,
      new RegExp(`taken over by walsync on host "[^"]+" \\(pid ${second.pid}\\b`),
    );
    assert.ok(stagedFiles(`${dir}/app.db`).length > 0, "the first uploads nothing more");
    const stopped = await second.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
  } finally {
    await first.kill();
    await second?.kill();
    await app.close();
  }
});

test("a second signal during an outage abandons the final upload and keeps staged files", async (setup) => {
  const { proxy, dir } = setup;
  const app = new AppProcess(`${dir}/app.db`, 4096);
  // The default lease: it stays valid through this short outage, so the final upload is tried.
  const watch = new WalsyncProcess(
    ["watch", `${dir}/app.db`, "-b", setup.url, "--sync-interval", "100ms"],
    { env: setup.env },
  );
  try {
    await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
    await watch.ready();
    await until("the first uploads", () => stagedFiles(`${dir}/app.db`).length === 0);
    proxy.setMode("stall"); // requests are read and never answered
    for (let i = 0; i < 3; i++) {
      await app.send({ op: "exec", sql: `INSERT INTO t (v) VALUES ('stalled ${i}')` });
    }
    const final = (await app.send({ op: "dump" })).dump!;
    await until("staged files", () => stagedFiles(`${dir}/app.db`).length > 0);
    await until("an upload to stall", () => proxy.count("stalled") > 0);

    watch.signal("SIGINT");
    await until("the final upload to start", () => /stopping/.test(watch.stderr));
    // A copy of the first signal within a second counts as the same Ctrl-C (see watch.ts).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    watch.signal("SIGINT");
    const code = await watch.exited(HANG_MS);
    assert.equal(code, 1, `a second signal must end walsync promptly:\n${watch.stderr}`);
    const abandoned = logLines(watch.stderr).find((l) =>
      /^second signal: abandoning the final upload; \d+ staged files? kept for the next start$/
        .test(l.msg)
    );
    assert.equal(abandoned?.level, "warn", watch.stderr);
    assert.ok(stagedFiles(`${dir}/app.db`).length > 0, "staged files stay for the next start");

    // The next start uploads them.
    proxy.setMode("forward");
    const again = await runWalsync(["watch", `${dir}/app.db`, "-b", setup.url, "--once"], {
      env: setup.env,
    });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await restoredDump(setup, "app.db"), final);
  } finally {
    await watch.kill();
    await app.close();
  }
});

test("a stop during an outage exits 1 and says how many staged files were not uploaded", async (setup) => {
  const { proxy, dir } = setup;
  const app = new AppProcess(`${dir}/app.db`, 4096);
  const watch = new WalsyncProcess(
    ["watch", `${dir}/app.db`, "-b", setup.url, "--sync-interval", "100ms"],
    { env: setup.env },
  );
  try {
    await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
    await watch.ready();
    proxy.setMode("error500");
    await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('not uploaded')" });
    await until("staged files", () => stagedFiles(`${dir}/app.db`).length > 0);
    const stopped = await watch.stop();
    assert.equal(stopped.code, 1, "exit 0 would claim the replica is complete");
    const staged = stagedFiles(`${dir}/app.db`).length;
    assert.ok(staged > 0);
    assert.match(
      stopped.stderr,
      new RegExp(`^error: Stopped with ${staged} staged files? not uploaded`, "m"),
    );
  } finally {
    await watch.kill();
    await app.close();
  }
});

test(
  "a watch that starts during an outage waits, captures, and uploads once the store answers",
  async (setup) => {
    const { proxy, dir } = setup;
    const app = new AppProcess(`${dir}/app.db`, 4096);
    await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
    proxy.setMode("refuse");
    const watch = new WalsyncProcess(
      ["watch", `${dir}/app.db`, "-b", setup.url, "--sync-interval", "100ms"],
      { env: { ...setup.env, WALSYNC_LEASE_TTL_MS: SHORT_TTL_MS } },
    );
    try {
      await watch.ready();
      await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('during the outage')" });
      await until("staged files", () => stagedFiles(`${dir}/app.db`).length > 0);
      assert.equal(await watch.exited(0), null, watch.stderr);
      proxy.setMode("forward");
      const final = (await app.send({ op: "dump" })).dump!;
      await until("the replica to catch up", () => stagedFiles(`${dir}/app.db`).length === 0);
      assert.deepEqual(await restoredDump(setup, "app.db"), final);
      const stopped = await watch.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
    } finally {
      await watch.kill();
      await app.close();
    }
  },
);

stopS3ServersAfterTests();
