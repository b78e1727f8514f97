/**
 * What `walsync status` shows: each database's TXIDs, lag, WAL size, state and last error,
 * and the process's lease and replica. The daemon answers it as JSON (on the metrics
 * listener's `/status`, or its control socket); the command prints it.
 */
import { healthOf } from "./health.ts";
import type { ProcessObservation } from "./observation.ts";

export interface DatabaseStatusReport {
  name: string;
  path: string;
  state: string;
  txid: number;
  replicatedTxid: number;
  lagSeconds: number;
  walSizeBytes: number;
  stagedBytes: number;
  lastUploadAt: string | null;
  lastError: string | null;
  problem: string | null;
}

export interface StatusReport {
  pid: number;
  version: string;
  startedAt: string;
  replica: string;
  lease: string;
  healthy: boolean;
  maxLagSeconds: number;
  databases: DatabaseStatusReport[];
}

export function statusReport(o: ProcessObservation): StatusReport {
  return {
    pid: o.pid,
    version: o.version,
    startedAt: new Date(o.startedAtMs).toISOString(),
    replica: o.replica.location,
    lease: o.lease,
    healthy: healthOf(o).healthy,
    maxLagSeconds: o.maxLagSeconds,
    databases: o.databases.map((d) => ({
      name: d.name,
      path: d.path,
      state: d.health,
      txid: d.txid,
      replicatedTxid: d.uploadedTxid,
      lagSeconds: Math.round(d.lagSeconds * 1000) / 1000,
      walSizeBytes: d.walSizeBytes,
      stagedBytes: d.stagedBytes,
      lastUploadAt: d.lastUploadAtMs === null ? null : new Date(d.lastUploadAtMs).toISOString(),
      lastError: d.lastError,
      problem: d.problem,
    })),
  };
}
