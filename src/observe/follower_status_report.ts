/**
 * What `walsync status` shows for a running `walsync replicate` (a follower): per database the
 * copy's TXID, the replica's newest TXID at the last listing, the lag of the last applied
 * change, the state and the last error. The follower answers it as JSON on its control socket
 * (control_socket.ts), like `watch` does; `role: "follower"` tells the two apart.
 */
import type { FollowStatus } from "../follow/follow_set.ts";
import { VERSION } from "../version.ts";

export interface FollowerDatabaseStatusReport {
  name: string;
  /** The copy. */
  path: string;
  state: FollowStatus["state"];
  /** The copy's TXID (0 before its first restore). */
  txid: number;
  /** The highest TXID in the replica at the last listing. */
  replicaTxid: number;
  /** From the last applied object's creation in the replica to its apply; null before one. */
  lagSeconds: number | null;
  lastPollAt: string | null;
  lastError: string | null;
}

export interface FollowerStatusReport {
  role: "follower";
  pid: number;
  version: string;
  startedAt: string;
  replica: string;
  /** False while any database fails or stopped (as the follower's /health). */
  healthy: boolean;
  databases: FollowerDatabaseStatusReport[];
}

export function followerStatusReport(options: {
  statuses: FollowStatus[];
  replica: string;
  startedAtMs: number;
}): FollowerStatusReport {
  const { statuses } = options;
  return {
    role: "follower",
    pid: Deno.pid,
    version: VERSION,
    startedAt: new Date(options.startedAtMs).toISOString(),
    replica: options.replica,
    healthy: statuses.every((s) => s.state === "following"),
    databases: statuses.map((s) => ({
      name: s.name,
      path: s.path,
      state: s.state,
      txid: s.txid,
      replicaTxid: s.replicaTxid,
      lagSeconds: s.lastLagMs === null ? null : s.lastLagMs / 1000,
      lastPollAt: s.lastPollOkAt === null ? null : new Date(s.lastPollOkAt).toISOString(),
      lastError: s.lastError,
    })),
  };
}

export function isFollowerReport(report: unknown): report is FollowerStatusReport {
  return typeof report === "object" && report !== null &&
    (report as { role?: unknown }).role === "follower";
}
