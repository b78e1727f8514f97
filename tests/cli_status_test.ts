/**
 * `walsync status` against a real daemon (through its control socket and through the metrics
 * listener) and without one; `--metrics-per-database=false` drops per-database series.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { runWalsync } from "./support/cli.ts";
import { assertStrictExposition } from "./support/prometheus_text.ts";
import { freePort } from "./support/s3_server.ts";
import { openWalDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

/** Windows: the control socket is a Unix socket differ; these run on Linux and macOS. */
const NOT_POSIX = Deno.build.os === "windows";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-status-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function createDatabases(dir: string, names: string[]): void {
  for (const name of names) {
    const db = openWalDatabase(`${dir}/${name}`);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    db.exec("INSERT INTO t (v) VALUES ('x')");
    db.close();
  }
}

Deno.test({
  name: "status asks the running daemon through its control socket, then says none runs",
  ignore: NOT_POSIX,
  fn: async () => {
    await withDir(async (dir) => {
      createDatabases(dir, ["a.db", "b.db"]);
      const env = { WALSYNC_RUN_DIR: `${dir}/run` };
      const watch = new WalsyncProcess(
        ["watch", `${dir}/a.db`, `${dir}/b.db`, "-b", `file://${dir}/replica`],
        { env },
      );
      try {
        await watch.ready();
        const json = await runWalsync(["status", "--json"], { env });
        assert.equal(json.code, 0, json.stderr);
        const report = JSON.parse(json.stdout);
        assert.equal(report.pid, watch.pid);
        assert.equal(report.lease, "held");
        assert.deepEqual(report.databases.map((d: { name: string }) => d.name).sort(), [
          "a.db",
          "b.db",
        ]);
        for (const d of report.databases) {
          assert.ok(d.txid >= 1);
          assert.equal(typeof d.lagSeconds, "number");
          assert.equal(typeof d.walSizeBytes, "number");
          assert.ok(["active", "released", "failing"].includes(d.state));
          assert.ok("lastError" in d);
        }
        const text = await runWalsync(["status"], { env });
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /DATABASE\s+STATE\s+TXID\s+REPLICATED\s+LAG/);
        assert.match(text.stdout, /^a\.db\s+(active|released)\s+\d+/m);

        const stopped = await watch.stop();
        assert.equal(stopped.code, 0, stopped.stderr);
        const none = await runWalsync(["status"], { env });
        assert.equal(none.code, 1);
        assert.match(none.stderr, /No walsync daemon is running/);
      } finally {
        await watch.kill();
      }
    });
  },
});

Deno.test({
  name: "status through the metrics listener; per-database series can be turned off",
  ignore: NOT_POSIX,
  fn: async () => {
    await withDir(async (dir) => {
      createDatabases(dir, ["a.db"]);
      const port = freePort();
      const env = { WALSYNC_RUN_DIR: `${dir}/run` };
      const watch = new WalsyncProcess([
        "watch",
        `${dir}/a.db`,
        "-b",
        `file://${dir}/replica`,
        "--metrics-addr",
        `:${port}`,
        "--metrics-per-database=false",
      ], { env });
      try {
        await watch.ready();
        const run = await runWalsync(["status", "--json", "--metrics-addr", `127.0.0.1:${port}`]);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(JSON.parse(run.stdout).databases[0].name, "a.db");
        const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assertStrictExposition(page);
        const names = (parsePrometheusTextFormat(page) as { name: string }[]).map((f) => f.name);
        assert.ok(names.includes("walsync_replica_lag_max_seconds"), names.join(" "));
        assert.doesNotMatch(page, /db="/, "no per-database series");
        assert.match(page, /^walsync_databases\{state="active"\} 1$/m);
        const stopped = await watch.stop();
        assert.equal(stopped.code, 0, stopped.stderr);
        const gone = await runWalsync(["status", "--metrics-addr", `127.0.0.1:${port}`]);
        assert.equal(gone.code, 1);
        assert.match(gone.stderr, /No walsync daemon answers/);
      } finally {
        await watch.kill();
      }
    });
  },
});
