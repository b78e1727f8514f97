/**
 * The order in which `verify` reads a replica's objects, decided from the listing alone
 * (pure). One walk goes from the earliest snapshot through every TXID a restore can reach,
 * each step taking the file that ends soonest (level 0 where it exists, so that the state at
 * every TXID is checked); it never cuts the walk short, because from any position short of
 * the furthest reachable one some file continues. Every other object is checked against the
 * walk's state: a compaction [a..b] at the first position of the walk from which it applies
 * (a−1 when the walk passes there), a snapshot just before the walk passes its TXID (so that a
 * walk broken by a damaged object can resume from it). Objects the walk never reaches are
 * checked on their own.
 */
import type { LtxFileInfo } from "../replica/replica_client.ts";

export type WalkRole = "step" | "check" | "alone";

export interface WalkItem {
  file: LtxFileInfo;
  /** step: applied to the walk's state; check: compared against it; alone: read on its own. */
  role: WalkRole;
  /** The TXID of the walk's state when the item is read (0 before the first snapshot). */
  at: number;
}

export interface VerifyWalk {
  /** Every object exactly once, in reading order. */
  items: WalkItem[];
  /** The furthest TXID the walk reaches (0 when no file starts at TXID 1). */
  reach: number;
}

export function planVerifyWalk(files: LtxFileInfo[]): VerifyWalk {
  const steps = walkSteps(files);
  const stepSet = new Set(steps.map((s) => s.file));
  // positions[k] is the walk's TXID before step k; the last entry is where it ends.
  const positions = [0, ...steps.map((s) => s.file.maxTxid)];
  const checksAt: WalkItem[][] = positions.map(() => []);
  const alone: WalkItem[] = [];
  for (const file of files) {
    if (stepSet.has(file)) continue;
    const k = file.minTxid === 1
      ? lastBefore(positions, file.maxTxid)
      : firstFrom(positions, file.minTxid - 1);
    if (k >= 1 && positions[k] < file.maxTxid || (k === 0 && file.minTxid === 1)) {
      checksAt[k].push({ file, role: "check", at: positions[k] });
    } else {
      alone.push({ file, role: "alone", at: 0 });
    }
  }
  const items: WalkItem[] = [];
  for (let k = 0; k < positions.length; k++) {
    // Snapshots last: one may replace a broken state, and the increments checked at the
    // same position need the state as the walk has it.
    items.push(...checksAt[k].sort(byKind));
    if (k < steps.length) items.push(steps[k]);
  }
  items.push(...alone.sort((a, b) => compareFiles(a.file, b.file)));
  return { items, reach: positions.at(-1)! };
}

/** The walk's steps: from TXID 0, repeatedly the applicable file that ends soonest. */
function walkSteps(files: LtxFileInfo[]): WalkItem[] {
  const sorted = [...files].sort(compareFiles);
  // Ends soonest; on a tie, starts latest (the finer file), then the lower level.
  const heap = new MinHeap<LtxFileInfo>((a, b) =>
    a.maxTxid - b.maxTxid || b.minTxid - a.minTxid || a.level - b.level
  );
  const steps: WalkItem[] = [];
  let at = 0;
  let next = 0;
  while (true) {
    // A file [a..b] applies to the state at any TXID from a−1 to b−1; at 0 only snapshots do.
    while (next < sorted.length && sorted[next].minTxid <= at + 1) heap.push(sorted[next++]);
    while (heap.size > 0 && heap.peek().maxTxid <= at) heap.pop();
    if (heap.size === 0) break;
    const file = heap.pop();
    steps.push({ file, role: "step", at });
    at = file.maxTxid;
  }
  return steps;
}

/** Index of the last position below `txid` (positions ascend, positions[0] is 0). */
function lastBefore(positions: number[], txid: number): number {
  let lo = 0;
  let hi = positions.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (positions[mid] < txid) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Index of the first position at or above `txid`, or positions.length. */
function firstFrom(positions: number[], txid: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (positions[mid] < txid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function byKind(a: WalkItem, b: WalkItem): number {
  const snapshotA = a.file.minTxid === 1 ? 1 : 0;
  const snapshotB = b.file.minTxid === 1 ? 1 : 0;
  return snapshotA - snapshotB || compareFiles(a.file, b.file);
}

function compareFiles(a: LtxFileInfo, b: LtxFileInfo): number {
  return a.minTxid - b.minTxid || a.maxTxid - b.maxTxid || a.level - b.level;
}

/** A binary min-heap. */
class MinHeap<T> {
  #items: T[] = [];
  readonly #less: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#less = compare;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#less(items[i], items[parent]) >= 0) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): T {
    const items = this.#items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      while (true) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.#less(items[left], items[smallest]) < 0) smallest = left;
        if (right < items.length && this.#less(items[right], items[smallest]) < 0) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest], items[i]];
        i = smallest;
      }
    }
    return top;
  }
}
