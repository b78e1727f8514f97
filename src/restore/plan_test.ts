import assert from "node:assert/strict";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { planRestore } from "./plan.ts";

const file = (level: number, minTxid: number, maxTxid: number, second = maxTxid): LtxFileInfo => ({
  level,
  minTxid,
  maxTxid,
  sizeBytes: 100,
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, second)),
});
const ranges = (plan: { files: LtxFileInfo[] }) =>
  plan.files.map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`);

const replica = [
  file(0, 1, 1),
  ...Array.from({ length: 9 }, (_, i) => file(0, i + 2, i + 2)),
  file(9, 1, 5),
  file(1, 6, 8),
];

Deno.test("planRestore starts from the newest snapshot and takes the fewest files to the latest TXID", () => {
  const plan = planRestore(replica, { kind: "latest" });
  assert.equal(plan.txid, 10);
  assert.deepEqual(ranges(plan), ["9:1-5", "1:6-8", "0:9-9", "0:10-10"]);
});

Deno.test("planRestore stops exactly at a requested TXID", () => {
  assert.deepEqual(ranges(planRestore(replica, { kind: "txid", txid: 7 })), [
    "9:1-5",
    "0:6-6",
    "0:7-7",
  ]);
  assert.deepEqual(ranges(planRestore(replica, { kind: "txid", txid: 4 })), [
    "0:1-1",
    "0:2-2",
    "0:3-3",
    "0:4-4",
  ]);
  assert.deepEqual(ranges(planRestore(replica, { kind: "txid", txid: 5 })), ["9:1-5"]);
});

Deno.test("planRestore resolves a timestamp to the last TXID committed at or before it", () => {
  const plan = planRestore(replica, {
    kind: "timestamp",
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, 7, 500)),
  });
  assert.equal(plan.txid, 7);
  assert.throws(
    () => planRestore(replica, { kind: "timestamp", at: new Date(Date.UTC(2025, 0, 1)) }),
    /Nothing in the replica is as old as 2025-01-01T00:00:00.000Z/,
  );
});

Deno.test("planRestore lets an overlapping compaction continue a chain", () => {
  const files = [file(0, 1, 1), file(0, 2, 2), file(0, 3, 3), file(1, 2, 6)];
  assert.deepEqual(ranges(planRestore(files, { kind: "latest" })), ["0:1-1", "1:2-6"]);
});

Deno.test("planRestore names the missing TXID when the chain has a gap", () => {
  const files = [file(0, 1, 1), file(0, 2, 2), file(0, 4, 4)];
  assert.throws(() => planRestore(files, { kind: "latest" }), /TXID 3 is missing/);
});

Deno.test("planRestore refuses a TXID beyond the replica and a replica without a snapshot", () => {
  assert.throws(
    () => planRestore(replica, { kind: "txid", txid: 11 }),
    /TXID 11 \(000000000000000b\) is not in the replica; the latest is 10/,
  );
  assert.throws(
    () => planRestore([file(0, 2, 2)], { kind: "latest" }),
    /no snapshot at or before TXID 2/,
  );
  assert.throws(() => planRestore([], { kind: "latest" }), /no LTX files/);
});

Deno.test("planRestore refuses a time whose exact TXID only a compacted file still holds", () => {
  // Level 0 for 6..8 is gone: TXID 6 might have been committed before 7.5 s, or not.
  const files = [file(9, 1, 5), file(1, 6, 8), file(0, 9, 9), file(0, 10, 10)];
  assert.throws(
    () => planRestore(files, { kind: "timestamp", at: new Date(Date.UTC(2026, 0, 1, 0, 0, 7)) }),
    /no longer holds the exact state at 2026-01-01T00:00:07.000Z: TXID 6 is kept only inside level 1 0000000000000006-0000000000000008\.ltx .* Restorable nearby: TXID 5 and TXID 8/,
  );
  // With the level-0 file of the next TXID the time is exact.
  assert.equal(
    planRestore(files, { kind: "timestamp", at: new Date(Date.UTC(2026, 0, 1, 0, 0, 9, 500)) })
      .txid,
    9,
  );
});

Deno.test("planRestore says when a TXID lies inside a compacted file retention kept", () => {
  const files = [file(9, 1, 5), file(1, 6, 8), file(0, 9, 9)];
  assert.throws(
    () => planRestore(files, { kind: "txid", txid: 7 }),
    /TXID 7 \(0000000000000007\) is not restorable: it lies inside level 1 0000000000000006-0000000000000008\.ltx, a merge of TXIDs 6\.\.8; .* before it \(TXID 5\) and after it \(TXID 8\)/,
  );
});
