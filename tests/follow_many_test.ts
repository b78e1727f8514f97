/**
 * One `walsync replicate --all` process follows 200 databases, picks up databases that appear
 * in the replica while it runs, and holds no file of the copies open between polls; a glob
 * over replica names follows only the matching ones.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FollowSet } from "../src/follow/follow_set.ts";
import { Logger } from "../src/log.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { runWalsync } from "./support/cli.ts";
import { copyEquals, copyTxid, NOT_ON_WINDOWS, startReplicate } from "./support/follow_fixture.ts";
import { waitFor } from "./support/litestream.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: NOT_ON_WINDOWS, sanitizeOps: false, sanitizeResources: false, fn });

const DATABASES = 200;

function tenantName(i: number): string {
  return `t${String(i).padStart(3, "0")}.db`;
}

function write(path: string, value: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000");
  db.exec("CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, v TEXT)");
  db.prepare("INSERT INTO kv(v) VALUES (?)").run(value);
  db.close();
}

function openFilesIn(pid: number, dir: string): string[] {
  const open: string[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      if (target.startsWith(dir)) open.push(target);
    } catch { /* closed meanwhile */ }
  }
  return open;
}

test("one process follows 200 databases and picks up new ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-follow-many-" });
  const tenants = `${dir}/tenants`;
  const copies = `${dir}/copies`;
  const replica = `file://${dir}/rep`;
  Deno.mkdirSync(tenants);
  for (let i = 0; i < DATABASES; i++) write(`${tenants}/${tenantName(i)}`, `first ${i}`);
  Deno.writeTextFileSync(`${dir}/walsync.toml`, `[[databases]]\npath = "${tenants}/*.db"\n`);
  const watch = new WalsyncProcess([
    "watch",
    "--config",
    `${dir}/walsync.toml`,
    "-b",
    replica,
    "--sync-interval",
    "200ms",
  ]);
  let follow: WalsyncProcess | null = null;
  try {
    await watch.ready(60_000);
    follow = startReplicate(["--all", "-b", replica, "-o", copies, "--discover-interval", "500ms"]);
    const all = () => [...Array(DATABASES).keys()].map(tenantName);
    const allEqual = (names: string[]) =>
      names.every((n) => copyTxid(`${copies}/${n}`) > 0) &&
      names.every((n) => copyEquals(`${copies}/${n}`, `${tenants}/${n}`));
    await waitFor("200 copies", () => allEqual(all()), () => follow!.stderr, 180_000);

    // Changes to some, and databases that did not exist when the follower started.
    for (let i = 0; i < DATABASES; i += 10) write(`${tenants}/${tenantName(i)}`, `second ${i}`);
    const added = [DATABASES, DATABASES + 1, DATABASES + 2].map(tenantName);
    for (const name of added) write(`${tenants}/${name}`, `new ${name}`);
    await waitFor(
      "the changes and the new databases",
      () => allEqual([...all(), ...added]),
      () => follow!.stderr,
      180_000,
    );
    if (Deno.build.os === "linux") {
      const held = openFilesIn(follow.pid, copies);
      assert.ok(held.length < 20, `copies held open between polls: ${held.length}`);
    }
    assert.doesNotMatch(follow.stderr, /"level":"(warn|error)"/);
  } finally {
    await follow?.kill();
    await watch.kill();
  }

  // A glob over replica names follows the matching databases only.
  const some = `${dir}/some`;
  const run = await runWalsync(["replicate", "t00*.db", "-b", replica, "-o", some, "--once"]);
  assert.equal(run.code, 0, run.stderr);
  const names = [...Deno.readDirSync(some)].map((e) => e.name).filter((n) => n.endsWith(".db"));
  assert.deepEqual(names.sort(), [...Array(10).keys()].map(tenantName));
  for (const name of names) assert.ok(copyEquals(`${some}/${name}`, `${tenants}/${name}`));
});

test("a running follower logs a summary of its databases", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-follow-summary-" });
  for (const name of ["a.db", "b.db"]) {
    write(`${dir}/${name}`, "x");
    const snap = await runWalsync(["snapshot", `${dir}/${name}`, "-b", `file://${dir}/rep`]);
    assert.equal(snap.code, 0, snap.stderr);
  }
  const lines: string[] = [];
  const set = new FollowSet({
    client: new FileReplicaClient(`${dir}/rep`),
    logger: new Logger({ format: "json", write: (line) => lines.push(line) }),
    targets: { kind: "many", dir: `${dir}/copies`, match: null },
    intervalMs: 50,
    summaryIntervalMs: 200,
  });
  const stop = new AbortController();
  const running = set.run(stop.signal);
  await waitFor("a summary line", () => lines.some((l) => l.includes("follower summary")));
  stop.abort();
  const summary = await running;
  assert.deepEqual(summary, { followed: 2, stopped: [], failing: [] });
  const line = JSON.parse(lines.find((l) => l.includes("follower summary"))!);
  assert.equal(line.databases, 2);
  assert.equal(line.failing, 0);
  assert.deepEqual(set.status().map((s) => [s.name, s.state]).sort(), [
    ["a.db", "following"],
    ["b.db", "following"],
  ]);
});
