/**
 * `/health`: healthy when the replica's lease is held and every database's replica lag is
 * under `[metrics] max_lag` and none is failing to open; otherwise the answer names each
 * failing database and why, so a pager message says what to look at.
 */
import type { ProcessObservation } from "./observation.ts";

/** `[metrics] max_lag` when unset: a few sync intervals, never under this. */
export const MIN_DEFAULT_MAX_LAG_MS = 10_000;
/** ... and this many sync intervals. */
export const MAX_LAG_SYNC_INTERVALS = 3;

export interface HealthReport {
  healthy: boolean;
  lease: string;
  databases: number;
  maxLagSeconds: number;
  /** Each unhealthy database and why (at most `MAX_LISTED`, then `more`). */
  failing: { db: string; reason: string; lagSeconds: number }[];
  more: number;
  problems: string[];
}

/** Failing databases named in one answer (the rest are counted). */
const MAX_LISTED = 100;

/** `max_lag` unless configured: 3 × the sync interval, at least 10 s. */
export function defaultMaxLagMs(syncIntervalMs: number): number {
  return Math.max(MIN_DEFAULT_MAX_LAG_MS, MAX_LAG_SYNC_INTERVALS * syncIntervalMs);
}

export function healthOf(o: ProcessObservation): HealthReport {
  const problems: string[] = [];
  if (o.lease !== "held") {
    problems.push(`the replica lease is ${o.lease}, not held: uploads are paused`);
  }
  const failing: HealthReport["failing"] = [];
  let count = 0;
  for (const d of o.databases) {
    let reason: string | null = null;
    if (d.lagSeconds >= o.maxLagSeconds) {
      reason = `replica lag ${d.lagSeconds.toFixed(1)}s >= max_lag ${o.maxLagSeconds}s` +
        (d.lastError ? `: ${d.lastError}` : d.problem ? `: ${d.problem}` : "");
    } else if (d.state === "reopening") {
      reason = d.problem ?? d.lastError ?? "cannot be opened";
    }
    if (reason === null) continue;
    count++;
    if (failing.length < MAX_LISTED) {
      failing.push({ db: d.name, reason, lagSeconds: round(d.lagSeconds) });
    }
  }
  return {
    healthy: problems.length === 0 && count === 0,
    lease: o.lease,
    databases: o.databases.length,
    maxLagSeconds: o.maxLagSeconds,
    failing,
    more: count - failing.length,
    problems,
  };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
