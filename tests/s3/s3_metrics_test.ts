/**
 * `/metrics` and `/health` of a real `walsync watch` on a real S3-compatible server behind a
 * fault-injecting proxy: the page parses with a Prometheus text-format parser, replica lag
 * rises through an outage and returns to 0 after it, and `/health` flips to 503 (naming the
 * database) and back to 200.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { AppProcess } from "../support/app_client.ts";
import { S3FaultProxy } from "../support/s3_fault_proxy.ts";
import { freePort, s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";
import { WalsyncProcess } from "../support/walsync_process.ts";
import { assertStrictExposition } from "../support/prometheus_text.ts";

const target = s3TestTargets()[0];
/** A bound far above any expected wait: only a hang reaches it. */
const HANG_MS = 60_000;

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
}

async function scrape(port: number): Promise<Map<string, Family>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  assertStrictExposition(text);
  const families = parsePrometheusTextFormat(text) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  const family = families.get(name);
  assert.ok(family, `no family ${name}`);
  const metric = family.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  assert.ok(metric, `no ${name} with ${JSON.stringify(labels)}`);
  return Number(metric.value);
}

async function health(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  return { status: response.status, body: await response.json() };
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test({
  name:
    `metrics (${target.label}): lag rises during an S3 outage and returns to 0; /health flips to 503 and back`,
  ignore: target.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await target.start();
    const proxy = S3FaultProxy.start(server.endpoint);
    const dir = await Deno.makeTempDir();
    const port = freePort();
    const env = {
      AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      AWS_ENDPOINT_URL_S3: proxy.endpoint,
      WALSYNC_RUN_DIR: `${dir}/run`,
    };
    const app = new AppProcess(`${dir}/app.db`, 4096);
    const watch = new WalsyncProcess([
      "watch",
      `${dir}/app.db`,
      "-b",
      `s3://${server.bucket}/metrics-${crypto.randomUUID()}`,
      "--sync-interval",
      "100ms",
      "--max-lag",
      "1s",
      "--metrics-addr",
      `127.0.0.1:${port}`,
    ], { env });
    try {
      await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
      await watch.ready();
      await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('before')" });
      await until("the replica to hold everything", async () => {
        const m = await scrape(port);
        return value(m, "walsync_replica_txid", { db: "app.db" }) ===
            value(m, "walsync_txid", { db: "app.db" }) &&
          value(m, "walsync_replica_lag_seconds", { db: "app.db" }) === 0;
      });
      await until("/health to answer 200", async () => (await health(port)).status === 200);

      const before = await scrape(port);
      for (
        const name of [
          "walsync_sync_count",
          "walsync_upload_count",
          "walsync_wal_size",
          "walsync_staged_bytes",
          "walsync_checkpoint_count",
          "walsync_snapshot_count",
          "walsync_last_upload_timestamp_seconds",
        ]
      ) {
        assert.ok(before.get(name)?.metrics.some((m) => m.labels?.db === "app.db"), name);
      }
      assert.ok(value(before, "walsync_sync_count", { db: "app.db" }) > 0);
      assert.equal(value(before, "walsync_database_state", { db: "app.db", state: "active" }), 1);
      assert.equal(value(before, "walsync_lease_state", { state: "held" }), 1);
      assert.ok(value(before, "walsync_replica_operation_total", { operation: "PUT" }) > 0);
      assert.ok(value(before, "walsync_resident_memory_bytes") > 0);
      assert.ok(value(before, "walsync_open_fds") > 0);
      // Compaction's counters are on the page (watch compacts by default).
      assert.equal(value(before, "walsync_compaction_error_count"), 0);
      assert.ok(before.has("walsync_l0_retention_files_total"));
      const histogram = before.get("walsync_replica_operation_duration_seconds");
      assert.equal(histogram?.type, "HISTOGRAM");

      // The outage: commits are captured, uploads fail, lag grows.
      proxy.setMode("error500");
      await app.send({ op: "exec", sql: "INSERT INTO t (v) VALUES ('during')" });
      let firstLag = 0;
      await until("lag to rise above 0", async () => {
        firstLag = value(await scrape(port), "walsync_replica_lag_seconds", { db: "app.db" });
        return firstLag > 0;
      });
      await until(
        "lag to keep rising",
        async () =>
          value(await scrape(port), "walsync_replica_lag_seconds", { db: "app.db" }) > firstLag,
      );
      await until("/health to answer 503", async () => (await health(port)).status === 503);
      const unhealthy = await health(port);
      const failing = unhealthy.body.failing as { db: string; reason: string }[];
      assert.equal(failing[0].db, "app.db");
      assert.match(failing[0].reason, /replica lag/);
      const during = await scrape(port);
      assert.ok(value(during, "walsync_upload_error_count", { db: "app.db" }) > 0);
      assert.ok(during.get("walsync_replica_operation_errors_total")!.metrics.length > 0);
      assert.ok(value(during, "walsync_databases_over_max_lag") >= 1);

      proxy.setMode("forward");
      await until(
        "lag to return to 0",
        async () =>
          value(await scrape(port), "walsync_replica_lag_seconds", { db: "app.db" }) === 0,
      );
      await until("/health to answer 200 again", async () => (await health(port)).status === 200);

      const stopped = await watch.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
    } finally {
      await watch.kill();
      await app.close();
      proxy.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

stopS3ServersAfterTests();
