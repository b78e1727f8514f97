import assert from "node:assert/strict";
import type { SnapshotHistory } from "./replica_state.ts";
import { snapshotDue, type SnapshotPolicy } from "./snapshot_policy.ts";

const OFF: SnapshotPolicy = { snapshotIntervalMs: 0, maxChanges: 0, maxIntervalMs: 0, onIdleMs: 0 };
const T0 = 1_700_000_000_000;

function history(fields: Partial<SnapshotHistory> = {}): SnapshotHistory {
  return {
    txid: 10,
    atMs: T0,
    pagesSince: 5,
    firstChangeAtMs: T0 + 1000,
    lastChangeAtMs: T0 + 2000,
    ...fields,
  };
}

Deno.test("snapshotDue never snapshots a database unchanged since its last snapshot", () => {
  const policy = { snapshotIntervalMs: 1, maxChanges: 1, maxIntervalMs: 1, onIdleMs: 1 };
  const unchanged = history({ pagesSince: 0, firstChangeAtMs: null, lastChangeAtMs: null });
  assert.equal(snapshotDue(policy, unchanged, { txid: 10, nowMs: T0 + 86_400_000 }), null);
});

Deno.test("snapshotDue with every trigger off never snapshots", () => {
  assert.equal(snapshotDue(OFF, history(), { txid: 12, nowMs: T0 + 86_400_000 }), null);
});

Deno.test("snapshotDue fires max_changes once enough pages were staged", () => {
  const policy = { ...OFF, maxChanges: 100 };
  assert.equal(snapshotDue(policy, history({ pagesSince: 99 }), { txid: 12, nowMs: T0 }), null);
  assert.equal(
    snapshotDue(policy, history({ pagesSince: 100 }), { txid: 12, nowMs: T0 }),
    "max_changes: 100 pages since the last snapshot",
  );
});

Deno.test("snapshotDue fires snapshot_interval counted from the last snapshot", () => {
  const policy = { ...OFF, snapshotIntervalMs: 3_600_000 };
  assert.equal(snapshotDue(policy, history(), { txid: 12, nowMs: T0 + 3_599_999 }), null);
  assert.equal(
    snapshotDue(policy, history(), { txid: 12, nowMs: T0 + 3_600_000 }),
    "snapshot_interval: last snapshot 1h ago",
  );
});

Deno.test("snapshotDue fires max_interval counted from the first change after the snapshot", () => {
  const policy = { ...OFF, maxIntervalMs: 60_000 };
  assert.equal(snapshotDue(policy, history(), { txid: 12, nowMs: T0 + 60_999 }), null);
  assert.equal(
    snapshotDue(policy, history(), { txid: 12, nowMs: T0 + 61_000 }),
    "max_interval: first change since the last snapshot 1m ago",
  );
});

Deno.test("snapshotDue fires on_idle once commits stopped for long enough", () => {
  const policy = { ...OFF, onIdleMs: 30_000 };
  assert.equal(snapshotDue(policy, history(), { txid: 12, nowMs: T0 + 31_999 }), null);
  assert.equal(
    snapshotDue(policy, history(), { txid: 12, nowMs: T0 + 32_000 }),
    "on_idle: no commits for 30s",
  );
});
