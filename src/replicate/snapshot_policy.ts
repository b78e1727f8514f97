/**
 * When to take a scheduled full snapshot (level 9). Snapshots make restores short: a restore
 * reads the newest snapshot plus what followed it. Every trigger needs a change since the last
 * snapshot, so an idle database never costs an object-storage request (DESIGN §2.6).
 */
import { formatDuration } from "../config/duration.ts";
import type { SnapshotHistory } from "./replica_state.ts";

export interface SnapshotPolicy {
  /** Snapshot when the last one is older than this (0 = never). */
  snapshotIntervalMs: number;
  /** Snapshot once this many WAL pages were staged since the last one (0 = never). */
  maxChanges: number;
  /** Snapshot at the latest this long after the first change since the last one (0 = never). */
  maxIntervalMs: number;
  /** Snapshot once the database has had no new commits for this long (0 = never). */
  onIdleMs: number;
}

/** The reason a snapshot is due now, or null. */
export function snapshotDue(
  policy: SnapshotPolicy,
  history: SnapshotHistory,
  state: { txid: number; nowMs: number },
): string | null {
  if (state.txid <= history.txid || history.lastChangeAtMs === null) return null;
  const { nowMs } = state;
  if (policy.maxChanges > 0 && history.pagesSince >= policy.maxChanges) {
    return `max_changes: ${history.pagesSince} pages since the last snapshot`;
  }
  if (policy.snapshotIntervalMs > 0 && nowMs - history.atMs >= policy.snapshotIntervalMs) {
    return `snapshot_interval: last snapshot ${
      formatDuration(roundToSeconds(nowMs - history.atMs))
    } ago`;
  }
  const firstChange = history.firstChangeAtMs ?? history.lastChangeAtMs;
  if (policy.maxIntervalMs > 0 && nowMs - firstChange >= policy.maxIntervalMs) {
    return `max_interval: first change since the last snapshot ${
      formatDuration(roundToSeconds(nowMs - firstChange))
    } ago`;
  }
  if (policy.onIdleMs > 0 && nowMs - history.lastChangeAtMs >= policy.onIdleMs) {
    return `on_idle: no commits for ${
      formatDuration(roundToSeconds(nowMs - history.lastChangeAtMs))
    }`;
  }
  return null;
}

function roundToSeconds(ms: number): number {
  return Math.round(ms / 1000) * 1000;
}
