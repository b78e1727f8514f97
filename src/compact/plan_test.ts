import assert from "node:assert/strict";
import fc from "fast-check";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { planRestore } from "../restore/plan.ts";
import { continues } from "./merge.ts";
import { isFullCopy, planMaintenance } from "./plan.ts";
import { type CompactionPolicy, levelBoundary, selectSnapshots } from "./policy.ts";

const S = 1000;

function file(level: number, min: number, max: number, ms: number, sizeBytes = 100): LtxFileInfo {
  return { level, minTxid: min, maxTxid: max, createdAt: new Date(ms), sizeBytes };
}

const names = (files: LtxFileInfo[]) => files.map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`);

const policy: CompactionPolicy = {
  levelIntervalsMs: [1 * S, 3 * S, 10 * S],
  pitrMs: 5 * S,
  snapshots: { hourly: 0, daily: 0, weekly: 0, monthly: 0 },
  l0LingerMs: 2 * S,
};

Deno.test("a compaction merges the contiguous run after what the level holds", () => {
  const files = [1, 2, 3, 4, 5].map((t) => file(0, t, t, t * S));
  files.push(file(1, 2, 3, 3 * S));
  const plan = planMaintenance(files, { nowMs: 6 * S, policy, dueLevels: [1], retention: false });
  assert.deepEqual(plan.merges.map((m) => names(m.inputs)), [["0:4-4", "0:5-5"]]);
  assert.deepEqual(names(plan.merges.map((m) => m.output)), ["1:4-5"]);
});

Deno.test("a gap in level 0 compacts the prefix and stops there", () => {
  const files = [2, 3, 5, 6].map((t) => file(0, t, t, t * S));
  files.unshift(file(0, 1, 1, S, 1000));
  const plan = planMaintenance(files, { nowMs: 7 * S, policy, dueLevels: [1], retention: false });
  assert.deepEqual(plan.merges.map((m) => names(m.inputs)), [["0:2-2", "0:3-3"]]);
  assert.match(plan.notes.join("\n"), /no file for TXID 4/);
});

Deno.test("full copies are never merged: the first snapshot and a forced one (Litestream #1510)", () => {
  const files = [
    file(0, 1, 1, 1 * S, 5000),
    file(0, 2, 2, 2 * S),
    file(0, 3, 3, 3 * S, 5000), // forced full copy, twin of 9:1-3
    file(9, 1, 3, 3 * S, 5000),
    file(0, 4, 4, 4 * S),
    file(0, 5, 5, 5 * S, 300), // a diff snapshot: merged like any batch
    file(9, 1, 5, 5 * S, 5000),
    file(0, 6, 6, 6 * S),
  ];
  const plan = planMaintenance(files, { nowMs: 7 * S, policy, retention: false });
  assert.deepEqual(plan.merges.map((m) => names(m.inputs)), [
    ["0:2-2"],
    ["0:4-4", "0:5-5", "0:6-6"],
    ["1:2-2"],
    ["1:4-6"],
    ["2:2-2"],
    ["2:4-6"],
  ]);
  const sizes = new Map([[3, 5000], [5, 5000]]);
  assert.equal(isFullCopy(files[2], sizes), true);
  assert.equal(isFullCopy(files[5], sizes), false);
});

Deno.test("a hole that a later snapshot bridges restarts the run after the snapshot", () => {
  const files = [
    file(0, 1, 1, S, 5000),
    file(0, 2, 2, 2 * S),
    file(0, 6, 6, 6 * S),
    file(9, 1, 5, 5 * S, 5000),
    file(0, 7, 7, 7 * S),
  ];
  const plan = planMaintenance(files, { nowMs: 8 * S, policy, dueLevels: [1], retention: false });
  assert.deepEqual(plan.merges.map((m) => names(m.inputs)), [["0:2-2"], ["0:6-6", "0:7-7"]]);
});

Deno.test("merges hold at most maxMergeInputs files each", () => {
  const files = Array.from({ length: 10 }, (_, i) => file(0, i + 2, i + 2, (i + 2) * S));
  files.unshift(file(0, 1, 1, S, 5000));
  const plan = planMaintenance(files, {
    nowMs: 20 * S,
    policy: { ...policy, maxMergeInputs: 4 },
    dueLevels: [1],
    retention: false,
  });
  assert.deepEqual(plan.merges.map((m) => m.inputs.length), [4, 4, 2]);
});

Deno.test("grandfather-father-son keeps the newest snapshot of each of the latest periods", () => {
  const h = 3_600_000;
  const times = [0.5 * h, 1.2 * h, 1.7 * h, 2.1 * h, 26 * h, 27.5 * h];
  const kept = selectSnapshots(times, { hourly: 2, daily: 2, weekly: 0, monthly: 0 });
  // hourly: 27.5h, 26h; daily: day 1 → 27.5h, day 0 → 2.1h
  assert.deepEqual([...kept].sort(), [3, 4, 5]);
});

/** A replica as the daemon would grow it, for random histories. */
interface Step {
  commits: number;
  snapshot: "none" | "full" | "diff";
  advanceMs: number;
}

function simulate(steps: Step[], p: CompactionPolicy) {
  let files: LtxFileInfo[] = [];
  let txid = 0;
  let now = 1_000_000 * S;
  const times = new Map<number, number>();
  const lastRun = p.levelIntervalsMs.map(() => -1);
  const checks: {
    now: number;
    files: LtxFileInfo[];
    windowStart: number | null;
    kept: number[];
  }[] = [];
  for (const step of steps) {
    for (let i = 0; i < step.commits; i++) {
      txid++;
      now += 100;
      times.set(txid, now);
      files.push(file(0, txid, txid, now, txid === 1 ? 5000 : 100));
    }
    if (step.snapshot !== "none" && txid > 0) {
      txid++;
      now += 100;
      times.set(txid, now);
      files.push(file(0, txid, txid, now, step.snapshot === "full" ? 5000 : 100));
      files.push(file(9, 1, txid, now, 5000));
    }
    now += step.advanceMs;
    const due = p.levelIntervalsMs.flatMap((iv, i) => {
      const b = levelBoundary(iv, now);
      if (b === lastRun[i]) return [];
      lastRun[i] = b;
      return [i + 1];
    });
    const plan = planMaintenance(files, { nowMs: now, policy: p, dueLevels: due });
    for (const merge of plan.merges) {
      for (let i = 1; i < merge.inputs.length; i++) {
        const [a, b] = [merge.inputs[i - 1], merge.inputs[i]];
        assert.ok(continues(a.maxTxid, b.minTxid, b.maxTxid), "merge inputs chain");
      }
      assert.ok(merge.inputs.every((f) => f.minTxid !== 1), "a full copy is never merged");
      files.push(merge.output);
    }
    const deleted = new Set(plan.deletions);
    files = files.filter((f) => !deleted.has(f));
    checks.push({
      now,
      files: [...files],
      windowStart: plan.windowStart,
      kept: plan.keptSnapshots,
    });
  }
  return { checks, times, head: txid };
}

Deno.test("retention never deletes what a retained position needs (random histories)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          commits: fc.integer({ min: 0, max: 6 }),
          snapshot: fc.constantFrom("none", "none", "none", "full", "diff"),
          advanceMs: fc.integer({ min: 0, max: 4 * S }),
        }),
        { minLength: 1, maxLength: 40 },
      ),
      fc.record({
        pitrMs: fc.constantFrom(0, 2 * S, 5 * S, 20 * S),
        hourly: fc.integer({ min: 0, max: 3 }),
      }),
      (steps, knobs) => {
        const p = {
          ...policy,
          pitrMs: knobs.pitrMs,
          snapshots: { ...policy.snapshots, hourly: knobs.hourly },
        };
        const { checks, times } = simulate(steps, p);
        for (const check of checks) {
          if (check.files.length === 0) continue;
          const head = check.files.reduce((m, f) => Math.max(m, f.maxTxid), 0);
          // Every position of the window restores exactly, and so does each kept snapshot.
          const cutoff = check.now - p.pitrMs;
          const positions = [...times].filter(([t, ms]) => t <= head && ms > cutoff).map(([t]) =>
            t
          );
          if (check.windowStart !== null) positions.push(check.windowStart);
          positions.push(head, ...check.kept);
          for (const txid of positions) {
            const plan = planRestore(check.files, { kind: "txid", txid });
            assert.equal(plan.txid, txid);
            assert.equal(plan.files[plan.files.length - 1].maxTxid, txid);
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("a long history stays small: files are bounded by the window, not the age", () => {
  const steps: Step[] = Array.from({ length: 400 }, (_, i) => ({
    commits: 3,
    snapshot: i % 50 === 49 ? "full" : "none",
    advanceMs: S,
  }));
  const { checks } = simulate(steps, policy);
  const last = checks[checks.length - 1].files;
  assert.ok(last.length < 120, `${last.length} files after 400 steps`);
  assert.ok(last.filter((f) => f.level === 0).length < 60);
});

Deno.test("a merge streams at most 8 large inputs and reads at most 16 MiB of small ones whole", () => {
  const MiB = 1024 * 1024;
  const big = Array.from({ length: 10 }, (_, i) => file(0, i + 2, i + 2, (i + 2) * S, 2 * MiB));
  const small = Array.from({ length: 20 }, (_, i) => file(0, i + 12, i + 12, (i + 12) * S, MiB));
  const plan = planMaintenance([file(0, 1, 1, S, 5000), ...big, ...small], {
    nowMs: 40 * S,
    policy,
    dueLevels: [1],
    retention: false,
  });
  assert.deepEqual(plan.merges.map((m) => m.inputs.length), [8, 18, 4]);
});
