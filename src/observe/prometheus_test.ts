import assert from "node:assert/strict";
import { StoreStats } from "../replica/metered_replica_client.ts";
import type { ProcessObservation } from "./observation.ts";
import { escapeLabel, renderMetrics } from "./prometheus.ts";
import { healthOf } from "./health.ts";

function observation(lagSeconds: number): ProcessObservation {
  const store = new StoreStats();
  store.record("PUT", 0.02, 100);
  store.record("GET", 2, 0, Object.assign(new Error("x"), { code: "SlowDown" }));
  return {
    atMs: 0,
    version: "0.0.0",
    pid: 1,
    startedAtMs: 0,
    replica: { type: "s3", location: "s3://b/p" },
    databases: [{
      path: "/d/a.db",
      name: 'we"ird\\name\n.db',
      txid: 5,
      uploadedTxid: 4,
      state: "active",
      lastError: null,
      problem: null,
      sync: { count: 3, errors: 0 },
      upload: { count: 1, errors: 0 },
      checkpoint: { count: 0, errors: 0 },
      snapshots: 1,
      lagSeconds,
      lastUploadAtMs: null,
      walSizeBytes: 4152,
      syncSeconds: 0.5,
      checkpointSeconds: 0,
      stagedBytes: 10,
      uploadFailures: 0,
      health: "active",
    }],
    store,
    fds: { inUse: 10, limit: 1024 },
    openDatabases: { open: 1, max: 100 },
    rssBytes: 1e6,
    lease: "held",
    maxLagSeconds: 10,
    extraMetrics: [() => "# HELP walsync_x X\n# TYPE walsync_x gauge\nwalsync_x 1\n"],
  };
}

Deno.test("renderMetrics escapes label values and writes histograms cumulatively", () => {
  const page = renderMetrics(observation(1.5), { perDatabase: true });
  assert.match(page, /^walsync_txid\{db="we\\"ird\\\\name\\n\.db"\} 5$/m);
  assert.match(page, /^walsync_replica_lag_seconds\{db=".*"\} 1\.5$/m);
  assert.doesNotMatch(page, /walsync_last_upload_timestamp_seconds\{/, "absent before the first");
  const put = 'replica_type="s3",operation="PUT"';
  assert.match(
    page,
    new RegExp(`walsync_replica_operation_duration_seconds_bucket\\{${put},le="0.01"\\} 0`),
  );
  assert.match(
    page,
    new RegExp(`walsync_replica_operation_duration_seconds_bucket\\{${put},le="0.05"\\} 1`),
  );
  assert.match(
    page,
    new RegExp(`walsync_replica_operation_duration_seconds_bucket\\{${put},le="\\+Inf"\\} 1`),
  );
  assert.match(
    page,
    /walsync_replica_operation_errors_total\{replica_type="s3",operation="GET",code="SlowDown"\} 1/,
  );
  assert.match(page, /^walsync_x 1$/m, "the hook for other rooms' metrics");
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const totals = renderMetrics(observation(1.5), { perDatabase: false });
  assert.doesNotMatch(totals, /db="/);
});

Deno.test("healthOf fails a database at max_lag and a lease that is not held", () => {
  assert.equal(healthOf(observation(9.9)).healthy, true);
  const lagging = healthOf(observation(10));
  assert.equal(lagging.healthy, false);
  assert.match(lagging.failing[0].reason, /replica lag 10\.0s >= max_lag 10s/);
  const doubt = healthOf({ ...observation(0), lease: "doubt" });
  assert.equal(doubt.healthy, false);
  assert.match(doubt.problems[0], /lease is doubt/);
});
