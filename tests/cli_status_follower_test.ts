/**
 * `walsync status` lists a running `walsync replicate` (a follower) beside a `watch`, through
 * its control socket and through its metrics listener: per database the copy's TXID, the
 * replica's TXID, the lag, the state and the last error.
 */
import assert from "node:assert/strict";
import { runWalsync } from "./support/cli.ts";
import { copyTxid } from "./support/follow_fixture.ts";
import { waitFor } from "./support/litestream.ts";
import { freePort } from "./support/s3_server.ts";
import { openWalDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const NOT_POSIX = Deno.build.os === "windows";

interface FollowerDb {
  name: string;
  path: string;
  state: string;
  txid: number;
  replicaTxid: number;
  lagSeconds: number | null;
  lastPollAt: string | null;
  lastError: string | null;
}

interface Report {
  role?: string;
  pid: number;
  healthy: boolean;
  replica: string;
  databases: FollowerDb[];
}

async function statusJson(env: Record<string, string>, extra: string[] = []): Promise<Report[]> {
  const run = await runWalsync(["status", "--json", ...extra], { env });
  assert.equal(run.code, 0, run.stderr);
  const parsed = JSON.parse(run.stdout);
  return Array.isArray(parsed) ? parsed : [parsed];
}

Deno.test({
  name: "status lists a running replicate as a follower, with each database's TXIDs and errors",
  ignore: NOT_POSIX,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-status-follower-" });
    const env = { WALSYNC_RUN_DIR: `${dir}/run` };
    const replica = `file://${dir}/replica`;
    const processes: WalsyncProcess[] = [];
    try {
      for (const name of ["a.db", "b.db"]) {
        const db = openWalDatabase(`${dir}/${name}`);
        db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
        db.exec("INSERT INTO t (v) VALUES ('x')");
        db.close();
      }
      const watch = new WalsyncProcess(
        ["watch", `${dir}/a.db`, `${dir}/b.db`, "-b", replica, "--sync-interval", "50ms"],
        { env },
      );
      processes.push(watch);
      await watch.ready();
      const follow = new WalsyncProcess(
        ["replicate", "--all", "-b", replica, "-o", `${dir}/copies`, "--interval", "100ms"],
        { env },
      );
      processes.push(follow);
      // A follower of a database the replica does not have: it fails, and says why.
      const port = freePort();
      const missing = new WalsyncProcess([
        "replicate",
        "nope.db",
        "-b",
        replica,
        "-o",
        `${dir}/nope.db`,
        "--metrics-addr",
        `127.0.0.1:${port}`,
      ], { env });
      processes.push(missing);
      for (const name of ["a.db", "b.db"]) {
        await waitFor(
          `the copy of ${name}`,
          () => copyTxid(`${dir}/copies/${name}`) > 0,
          () => follow.stderr,
          60_000,
        );
      }

      let reports: Report[] = [];
      for (let i = 0; i < 300; i++) {
        reports = await statusJson(env);
        if (
          reports.length === 3 &&
          reports.some((r) => r.pid === missing.pid && r.databases[0]?.state === "failing")
        ) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const byPid = new Map(reports.map((r) => [r.pid, r]));
      assert.equal(byPid.get(watch.pid)?.role, undefined, "a watch is not a follower");
      const followed = byPid.get(follow.pid)!;
      assert.ok(followed, `the follower in status: ${JSON.stringify(reports)}`);
      assert.equal(followed.role, "follower");
      assert.equal(followed.healthy, true);
      assert.equal(followed.replica, replica);
      assert.deepEqual(followed.databases.map((d) => d.name).sort(), ["a.db", "b.db"]);
      for (const d of followed.databases) {
        assert.equal(d.state, "following");
        assert.equal(d.path, `${dir}/copies/${d.name}`);
        assert.ok(d.txid >= 1);
        assert.ok(d.replicaTxid >= d.txid, JSON.stringify(d));
        assert.equal(d.lastError, null);
        assert.ok(d.lastPollAt !== null);
        assert.ok(d.lagSeconds === null || typeof d.lagSeconds === "number");
      }
      const failing = byPid.get(missing.pid)!;
      assert.equal(failing.role, "follower");
      assert.equal(failing.healthy, false);
      assert.equal(failing.databases[0].name, "nope.db");
      assert.equal(failing.databases[0].state, "failing");
      assert.match(failing.databases[0].lastError ?? "", /no LTX files/);

      // --pid picks one; the metrics listener answers the same report on /status.
      const one = await statusJson(env, ["--pid", String(follow.pid)]);
      assert.deepEqual(one.map((r) => r.pid), [follow.pid]);
      const viaListener = await statusJson({}, ["--metrics-addr", `127.0.0.1:${port}`]);
      assert.equal(viaListener[0].role, "follower");
      assert.equal(viaListener[0].databases[0].name, "nope.db");

      const text = await runWalsync(["status"], { env });
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`pid ${follow.pid} follower ← ${replica}; healthy`));
      assert.match(text.stdout, /DATABASE\s+STATE\s+TXID\s+REPLICA\s+LAG\s+COPY\s+PROBLEM/);
      assert.match(text.stdout, /^a\.db\s+following\s+\d+\s+\d+\s+/m);
      assert.match(text.stdout, /^nope\.db\s+failing\s+0\s+0\s+-\s+\S+\s+.*no LTX files/m);
      assert.match(text.stdout, new RegExp(`pid ${watch.pid} → ${replica}`), "the watch too");

      // A stopped follower's socket is gone: status no longer lists it.
      follow.signal("SIGTERM");
      assert.equal(await follow.exited(30_000), 0, follow.stderr);
      const after = await statusJson(env);
      assert.ok(!after.some((r) => r.pid === follow.pid));
    } finally {
      for (const p of processes) await p.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
