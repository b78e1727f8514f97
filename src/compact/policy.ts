/**
 * What compaction and retention are asked to keep: level intervals, the point-in-time window,
 * grandfather-father-son snapshot counts and how long compacted level-0 files linger. Plain
 * data with Litestream's defaults; `config/` fills it from walsync.toml and flags.
 */

/** Levels 1..8 at most hold compactions; level 9 holds snapshots. */
export const MAX_COMPACTION_LEVELS = 8;
/** Litestream's default level intervals: 30 s, 5 min, 1 h. */
export const DEFAULT_LEVEL_INTERVALS_MS: readonly number[] = [30_000, 300_000, 3_600_000];
export const DEFAULT_PITR_MS = 24 * 3_600_000;
export const DEFAULT_L0_LINGER_MS = 5 * 60_000;
/**
 * Inputs of one merge at most: each holds a read window and a page, so a merge's memory is
 * bounded by this, not by how many files wait (a long outage, a first `walsync compact`).
 */
export const MAX_MERGE_INPUTS = 128;
/**
 * Inputs up to this size are read whole before a merge (a small object costs one request and
 * frees its connection at once); larger ones are streamed, each holding a connection.
 */
export const MERGE_BUFFER_INPUT_BYTES = 1024 * 1024;
/** Inputs read whole, in bytes, per merge at most. */
export const MAX_MERGE_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Streamed inputs per merge at most (well under an S3 client's 32 connections). */
export const MAX_MERGE_STREAMS = 8;

export interface SnapshotCounts {
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
}

export interface CompactionPolicy {
  /** Interval of level 1, 2, … (ms); empty turns compaction off. */
  levelIntervalsMs: readonly number[];
  /** Every position this far back from now stays restorable (0: only the latest). */
  pitrMs: number;
  /** Snapshots beyond the window kept per period (the newest of each period). */
  snapshots: SnapshotCounts;
  /** A level-0 file stays at least this long after it was written. */
  l0LingerMs: number;
  /** Inputs per merge at most (default `MAX_MERGE_INPUTS`). */
  maxMergeInputs?: number;
}

export const DEFAULT_COMPACTION_POLICY: CompactionPolicy = {
  levelIntervalsMs: DEFAULT_LEVEL_INTERVALS_MS,
  pitrMs: DEFAULT_PITR_MS,
  snapshots: { hourly: 24, daily: 7, weekly: 12, monthly: 12 },
  l0LingerMs: DEFAULT_L0_LINGER_MS,
};

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The period a time falls in, per kind (UTC; weeks start on Monday). */
export function periodOf(kind: keyof SnapshotCounts, ms: number): number {
  switch (kind) {
    case "hourly":
      return Math.floor(ms / HOUR_MS);
    case "daily":
      return Math.floor(ms / DAY_MS);
    case "weekly":
      // 1970-01-01 was a Thursday: shift so that weeks begin on Monday.
      return Math.floor((Math.floor(ms / DAY_MS) + 3) / 7);
    case "monthly": {
      const d = new Date(ms);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
  }
}

/**
 * Grandfather-father-son: for each kind, the newest snapshot of each of the latest `count`
 * periods that have one. `times` are the snapshots' times; returns the indexes kept.
 */
export function selectSnapshots(times: readonly number[], counts: SnapshotCounts): Set<number> {
  const order = times.map((t, i) => [t, i] as const).sort((a, b) => b[0] - a[0]);
  const kept = new Set<number>();
  for (const kind of ["hourly", "daily", "weekly", "monthly"] as const) {
    const seen = new Set<number>();
    for (const [t, i] of order) {
      if (seen.size >= counts[kind]) break;
      const period = periodOf(kind, t);
      if (seen.has(period)) continue;
      seen.add(period);
      kept.add(i);
    }
  }
  return kept;
}

/** Start of the wall-clock period of `intervalMs` that `nowMs` is in (`now.Truncate(interval)`). */
export function levelBoundary(intervalMs: number, nowMs: number): number {
  return Math.floor(nowMs / intervalMs) * intervalMs;
}
