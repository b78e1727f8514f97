/**
 * Renders an observation as the Prometheus text exposition format 0.0.4. A small writer of
 * its own rather than prom-client: prom-client's default collectors read Node internals
 * (`process.getActiveResourcesInfo`, perf_hooks event-loop monitors) that fail under Deno, its
 * registry keeps every series alive between scrapes (5,000 databases would be kept twice),
 * and here every value already exists in the snapshot: rendering is string building.
 *
 * Names follow Litestream 0.5 under a `walsync_` prefix where the meaning is the same
 * (litestream_txid → walsync_txid, ...); the README has the mapping.
 */
import { DURATION_BUCKETS_SECONDS, STORE_OPERATIONS } from "../replica/metered_replica_client.ts";
import {
  DATABASE_STATES,
  type DatabaseView,
  LEASE_STATES,
  type ProcessObservation,
} from "./observation.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface RenderOptions {
  /** False drops every series labelled by database (5,000 databases: see bench/README). */
  perDatabase: boolean;
}

type Kind = "counter" | "gauge";

/** A per-database family: its name, type, help and how to read its value. */
interface DatabaseFamily {
  name: string;
  kind: Kind;
  help: string;
  value: (d: DatabaseView) => number | null;
}

const DATABASE_FAMILIES: readonly DatabaseFamily[] = [
  {
    name: "walsync_txid",
    kind: "gauge",
    help: "The last TXID staged locally (captured from the WAL)",
    value: (d) => d.txid,
  },
  {
    name: "walsync_replica_txid",
    kind: "gauge",
    help: "The highest TXID durable in the replica",
    value: (d) => d.uploadedTxid,
  },
  {
    name: "walsync_replica_lag_seconds",
    kind: "gauge",
    help: "Age of the oldest commit not yet durable in the replica (0 when fully replicated)",
    value: (d) => d.lagSeconds,
  },
  {
    name: "walsync_last_upload_timestamp_seconds",
    kind: "gauge",
    help: "Unix time of the last successful upload (absent before the first)",
    value: (d) => d.lastUploadAtMs === null ? null : d.lastUploadAtMs / 1000,
  },
  {
    name: "walsync_wal_size",
    kind: "gauge",
    help: "The size of the database's -wal file at the last look, in bytes",
    value: (d) => d.walSizeBytes,
  },
  {
    name: "walsync_staged_bytes",
    kind: "gauge",
    help: "Bytes staged locally and not yet uploaded",
    value: (d) => d.stagedBytes,
  },
  {
    name: "walsync_sync_count",
    kind: "counter",
    help: "Number of sync operations performed",
    value: (d) => d.sync.count,
  },
  {
    name: "walsync_sync_error_count",
    kind: "counter",
    help: "Number of sync errors that have occurred",
    value: (d) => d.sync.errors,
  },
  {
    name: "walsync_sync_seconds",
    kind: "counter",
    help: "Time spent syncing, in seconds",
    value: (d) => d.syncSeconds,
  },
  {
    name: "walsync_upload_count",
    kind: "counter",
    help: "Number of upload rounds that succeeded",
    value: (d) => d.upload.count,
  },
  {
    name: "walsync_upload_error_count",
    kind: "counter",
    help: "Number of upload rounds that failed (staged files are kept and retried)",
    value: (d) => d.upload.errors,
  },
  {
    name: "walsync_checkpoint_count",
    kind: "counter",
    help: "Number of checkpoints walsync performed",
    value: (d) => d.checkpoint.count,
  },
  {
    name: "walsync_checkpoint_error_count",
    kind: "counter",
    help: "Number of checkpoint errors that have occurred",
    value: (d) => d.checkpoint.errors,
  },
  {
    name: "walsync_checkpoint_seconds",
    kind: "counter",
    help: "Time spent checkpointing, in seconds",
    value: (d) => d.checkpointSeconds,
  },
  {
    name: "walsync_snapshot_count",
    kind: "counter",
    help: "Number of full snapshots staged",
    value: (d) => d.snapshots,
  },
];

/** The page for one scrape. */
export function renderMetrics(o: ProcessObservation, options: RenderOptions): string {
  const out: string[] = [];
  const family = (name: string, kind: Kind | "histogram", help: string) => {
    out.push(`# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n`);
  };

  if (options.perDatabase && o.databases.length > 0) {
    const labels = o.databases.map((d) => `{db="${escapeLabel(d.name)}"}`);
    for (const f of DATABASE_FAMILIES) {
      family(f.name, f.kind, f.help);
      for (let i = 0; i < o.databases.length; i++) {
        const value = f.value(o.databases[i]);
        if (value !== null) out.push(`${f.name}${labels[i]} ${formatValue(value)}\n`);
      }
    }
    family(
      "walsync_database_state",
      "gauge",
      "1 for the database's state: active, released (idle, fully shipped) or failing",
    );
    for (const d of o.databases) {
      out.push(`walsync_database_state{db="${escapeLabel(d.name)}",state="${d.health}"} 1\n`);
    }
  }

  family("walsync_databases", "gauge", "Databases replicated, by state");
  const byState = new Map(DATABASE_STATES.map((s) => [s, 0]));
  let maxLag = 0;
  let overMaxLag = 0;
  for (const d of o.databases) {
    byState.set(d.health, byState.get(d.health)! + 1);
    maxLag = Math.max(maxLag, d.lagSeconds);
    if (d.lagSeconds >= o.maxLagSeconds) overMaxLag++;
  }
  for (const [state, n] of byState) out.push(`walsync_databases{state="${state}"} ${n}\n`);
  family("walsync_replica_lag_max_seconds", "gauge", "The largest replica lag of any database");
  out.push(`walsync_replica_lag_max_seconds ${formatValue(maxLag)}\n`);
  family("walsync_replica_lag_threshold_seconds", "gauge", "[metrics] max_lag, for /health");
  out.push(`walsync_replica_lag_threshold_seconds ${formatValue(o.maxLagSeconds)}\n`);
  family("walsync_databases_over_max_lag", "gauge", "Databases whose lag is at least max_lag");
  out.push(`walsync_databases_over_max_lag ${overMaxLag}\n`);

  if (o.store) renderStore(out, o, family);

  family("walsync_open_databases", "gauge", "Databases holding files open");
  out.push(`walsync_open_databases ${o.openDatabases.open}\n`);
  family("walsync_max_open_databases", "gauge", "Databases allowed open at once (fds, max_open)");
  out.push(`walsync_max_open_databases ${formatValue(o.openDatabases.max)}\n`);
  if (o.fds.inUse !== null) {
    family("walsync_open_fds", "gauge", "File descriptors open in this process");
    out.push(`walsync_open_fds ${o.fds.inUse}\n`);
  }
  if (o.fds.limit !== null) {
    family("walsync_max_fds", "gauge", "The process's file-descriptor limit (soft)");
    out.push(`walsync_max_fds ${o.fds.limit}\n`);
  }
  family("walsync_resident_memory_bytes", "gauge", "Resident set size of the process, in bytes");
  out.push(`walsync_resident_memory_bytes ${o.rssBytes}\n`);
  family("walsync_lease_state", "gauge", "1 for the replica lease's state (held lets uploads go)");
  for (const state of LEASE_STATES) {
    out.push(`walsync_lease_state{state="${state}"} ${state === o.lease ? 1 : 0}\n`);
  }
  family("walsync_start_time_seconds", "gauge", "Unix time the daemon started");
  out.push(`walsync_start_time_seconds ${formatValue(o.startedAtMs / 1000)}\n`);
  family("walsync_build_info", "gauge", "Always 1; the version is a label");
  out.push(`walsync_build_info{version="${escapeLabel(o.version)}"} 1\n`);
  for (const extra of o.extraMetrics) out.push(extra());
  return out.join("");
}

function renderStore(
  out: string[],
  o: ProcessObservation,
  family: (name: string, kind: Kind | "histogram", help: string) => void,
): void {
  const type = escapeLabel(o.replica.type);
  const operations = o.store!.operations;
  const each = (name: string, kind: Kind, help: string, value: (op: string) => number) => {
    family(name, kind, help);
    for (const op of STORE_OPERATIONS) {
      out.push(`${name}{replica_type="${type}",operation="${op}"} ${formatValue(value(op))}\n`);
    }
  };
  each(
    "walsync_replica_operation_total",
    "counter",
    "The number of replica operations performed",
    (op) => operations.get(op as never)!.count,
  );
  each(
    "walsync_replica_operation_bytes",
    "counter",
    "The number of bytes used by replica operations",
    (op) => operations.get(op as never)!.bytes,
  );
  family(
    "walsync_replica_operation_errors_total",
    "counter",
    "Number of replica operation errors by type, operation, and error code",
  );
  for (const op of STORE_OPERATIONS) {
    for (const [code, n] of operations.get(op)!.errors) {
      out.push(
        `walsync_replica_operation_errors_total{replica_type="${type}",operation="${op}",code="${
          escapeLabel(code)
        }"} ${n}\n`,
      );
    }
  }
  const name = "walsync_replica_operation_duration_seconds";
  family(name, "histogram", "Duration of replica operations by type and operation");
  for (const op of STORE_OPERATIONS) {
    const stats = operations.get(op)!;
    const labels = `replica_type="${type}",operation="${op}"`;
    DURATION_BUCKETS_SECONDS.forEach((le, i) => {
      out.push(`${name}_bucket{${labels},le="${le}"} ${stats.buckets[i]}\n`);
    });
    out.push(`${name}_bucket{${labels},le="+Inf"} ${stats.count}\n`);
    out.push(`${name}_sum{${labels}} ${formatValue(stats.durationSumSeconds)}\n`);
    out.push(`${name}_count{${labels}} ${stats.count}\n`);
  }
}

/** Label values escape backslash, double quote and newline (0.0.4). */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return Number.isInteger(value) ? String(value) : value.toFixed(6).replace(/\.?0+$/, "");
}
