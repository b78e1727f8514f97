import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import type { FollowStatus } from "../follow/follow_set.ts";
import { renderFollowerMetrics, startFollowerMetricsServer } from "./follower_metrics.ts";

const statuses: FollowStatus[] = [
  {
    name: "a.db",
    path: "/c/a.db",
    txid: 7,
    replicaTxid: 9,
    state: "following",
    lastLagMs: 1500,
    lastPollOkAt: 9000,
    lastError: null,
  },
  {
    name: 'we"ird.db',
    path: "/c/w",
    txid: 0,
    replicaTxid: 0,
    state: "stopped",
    lastLagMs: null,
    lastPollOkAt: null,
    lastError: "Replica object level 0 … has SHA-256 …",
  },
];

Deno.test("follower metrics: states, TXIDs, lag and poll age per database", () => {
  const page = renderFollowerMetrics(statuses, 10_000);
  assert.match(page, /^walsync_follower_databases\{state="following"\} 1$/m);
  assert.match(page, /^walsync_follower_databases\{state="stopped"\} 1$/m);
  assert.match(page, /^walsync_follower_txid\{db="we\\"ird.db"\} 0$/m);
  assert.match(page, /^walsync_follower_lag_seconds\{db="a.db"\} 1.5$/m);
  assert.match(page, /^walsync_follower_replica_txid\{db="a.db"\} 9$/m);
  assert.match(page, /^walsync_follower_last_poll_age_seconds\{db="a.db"\} 1$/m);
  assert.doesNotMatch(page, /lag_seconds\{db="we/);
});

Deno.test("follower /health is 503 naming a stopped database", async () => {
  const server = startFollowerMetricsServer({
    address: { hostname: "127.0.0.1", port: 0 },
    status: () => statuses,
    logger: new Logger({ write: () => {} }),
  });
  try {
    const response = await fetch(`http://127.0.0.1:${server.address.port}/health`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), {
      healthy: false,
      databases: [{ name: 'we"ird.db', state: "stopped" }],
    });
  } finally {
    await server.close();
  }
});
