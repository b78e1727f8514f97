import assert from "node:assert/strict";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { planVerifyWalk } from "./verify_walk.ts";

function file(level: number, minTxid: number, maxTxid: number): LtxFileInfo {
  return { level, minTxid, maxTxid, sizeBytes: 100, createdAt: new Date(0) };
}

/** The walk as "role level min-max@at" strings. */
function walk(files: LtxFileInfo[]): string[] {
  return planVerifyWalk(files).items.map((item) =>
    `${item.role} ${item.file.level} ${item.file.minTxid}-${item.file.maxTxid}@${item.at}`
  );
}

Deno.test("planVerifyWalk steps through every level-0 file and checks a snapshot just before its TXID", () => {
  const files = [file(0, 1, 1), file(0, 2, 2), file(0, 3, 3), file(9, 1, 3), file(0, 4, 4)];
  assert.deepEqual(walk(files), [
    "step 0 1-1@0",
    "step 0 2-2@1",
    "check 9 1-3@2",
    "step 0 3-3@2",
    "step 0 4-4@3",
  ]);
  assert.equal(planVerifyWalk(files).reach, 4);
});

Deno.test("planVerifyWalk checks a compaction against the state just before its first TXID", () => {
  const files = [1, 2, 3, 4, 5, 6].map((t) => file(0, t, t));
  files.push(file(1, 2, 5));
  assert.deepEqual(walk(files), [
    "step 0 1-1@0",
    "check 1 2-5@1",
    "step 0 2-2@1",
    "step 0 3-3@2",
    "step 0 4-4@3",
    "step 0 5-5@4",
    "step 0 6-6@5",
  ]);
});

Deno.test("planVerifyWalk prefers the level-0 file of a new page size over the snapshot at the same TXID", () => {
  assert.deepEqual(walk([file(0, 1, 1), file(0, 2, 2), file(9, 1, 2)]), [
    "step 0 1-1@0",
    "check 9 1-2@1",
    "step 0 2-2@1",
  ]);
});

Deno.test("planVerifyWalk crosses compactions where level 0 was pruned, and checks what it passes", () => {
  // Litestream's shape: level 0 kept only recently, level 1 behind it, daily snapshots.
  const files = [file(9, 1, 10), file(1, 11, 20), file(1, 21, 30), file(0, 25, 25)];
  files.push(...[26, 27, 28, 29, 30, 31].map((t) => file(0, t, t)));
  assert.deepEqual(walk(files), [
    "step 9 1-10@0",
    "step 1 11-20@10",
    "step 1 21-30@20",
    // No state from 21 to 29 is reachable (only 21-30 continues from 20), for restores as
    // for the walk: the level-0 files there are out of reach.
    "step 0 31-31@30",
    "alone 0 25-25@0",
    "alone 0 26-26@0",
    "alone 0 27-27@0",
    "alone 0 28-28@0",
    "alone 0 29-29@0",
    "alone 0 30-30@0",
  ]);
});

Deno.test("planVerifyWalk never takes a finer file that would cut the walk short", () => {
  // From TXID 2 only the compaction continues (3 is in no level-0 file).
  const files = [file(0, 1, 1), file(0, 2, 2), file(0, 4, 4), file(1, 2, 5), file(0, 6, 6)];
  const { items, reach } = planVerifyWalk(files);
  assert.equal(reach, 6);
  assert.deepEqual(walk(files), [
    "step 0 1-1@0",
    "step 0 2-2@1",
    "step 1 2-5@2",
    "step 0 6-6@5",
    "alone 0 4-4@0",
  ]);
  assert.equal(items.length, files.length);
});

Deno.test("planVerifyWalk starts at the earliest snapshot and leaves what lies past a hole alone", () => {
  assert.deepEqual(walk([file(0, 3, 3), file(9, 1, 4), file(0, 5, 5), file(0, 7, 7)]), [
    "step 9 1-4@0",
    "step 0 5-5@4",
    "alone 0 3-3@0",
    "alone 0 7-7@0",
  ]);
  assert.deepEqual(walk([file(0, 2, 2), file(0, 3, 3)]), ["alone 0 2-2@0", "alone 0 3-3@0"]);
  assert.equal(planVerifyWalk([file(0, 2, 2)]).reach, 0);
});
