/**
 * One read-only snapshot of everything the daemon knows about its databases and itself:
 * what `/metrics`, `/health`, `walsync status` and the heartbeat all read. Taking it copies
 * counters the supervisor, the metered replica client and the lease expose; it never reaches
 * into their internals and never does I/O beyond counting this process's open descriptors.
 */
import type { DatabaseObservation } from "../replicate/database_slot.ts";
import type { StoreStats } from "../replica/metered_replica_client.ts";
import { countOpenFds } from "../replicate/fd_budget.ts";
import { VERSION } from "../version.ts";

/** What metrics and status call a database's state. */
export type DatabaseState = "active" | "released" | "failing";
export const DATABASE_STATES: readonly DatabaseState[] = ["active", "released", "failing"];

export type LeaseState = "held" | "acquiring" | "doubt" | "lost";
export const LEASE_STATES: readonly LeaseState[] = ["held", "acquiring", "doubt", "lost"];

export interface DatabaseView extends DatabaseObservation {
  /** `state` as metrics and status show it. */
  health: DatabaseState;
}

export interface ProcessObservation {
  atMs: number;
  version: string;
  pid: number;
  startedAtMs: number;
  replica: { type: string; location: string };
  databases: DatabaseView[];
  /** Object-store operations (null when the client is not metered). */
  store: StoreStats | null;
  fds: { inUse: number | null; limit: number | null };
  openDatabases: { open: number; max: number };
  rssBytes: number;
  lease: LeaseState;
  /** `[metrics] max_lag`: a database lagging this much fails `/health`. */
  maxLagSeconds: number;
  /**
   * Extra metric families other rooms export (compaction, once it lands): each renders its own
   * lines in the Prometheus text format, `# HELP`/`# TYPE` included.
   */
  extraMetrics: (() => string)[];
}

/** What a snapshot is taken from: the daemon's parts, read through narrow views. */
export interface ObservationSources {
  supervisor: {
    observe(nowMs?: number): DatabaseObservation[];
    readonly openBudget: { open: number; maxOpen: number; fdLimit: number | null };
  };
  replica: { kind: string; location: string };
  store?: StoreStats | null;
  lease: () => LeaseState;
  startedAtMs: number;
  maxLagSeconds: number;
  /** The hook for other rooms' metrics (see `ProcessObservation.extraMetrics`). */
  extraMetrics?: (() => string)[];
}

/** Takes the snapshot now. */
export function observe(sources: ObservationSources, nowMs = Date.now()): ProcessObservation {
  const budget = sources.supervisor.openBudget;
  return {
    atMs: nowMs,
    version: VERSION,
    pid: Deno.pid,
    startedAtMs: sources.startedAtMs,
    replica: { type: sources.replica.kind, location: sources.replica.location },
    databases: sources.supervisor.observe(nowMs).map((d) => ({ ...d, health: healthOf(d) })),
    store: sources.store ?? null,
    fds: { inUse: countOpenFds(), limit: budget.fdLimit },
    openDatabases: { open: budget.open, max: budget.maxOpen },
    rssBytes: Deno.memoryUsage().rss,
    lease: sources.lease(),
    maxLagSeconds: sources.maxLagSeconds,
    extraMetrics: sources.extraMetrics ?? [],
  };
}

/**
 * Released databases are fine by definition (fully shipped); an active one with a problem,
 * a failing sync or failing uploads, or one that cannot be opened, is failing.
 */
function healthOf(d: DatabaseObservation): DatabaseState {
  if (d.state === "released") return "released";
  if (d.state === "reopening") return "failing";
  return d.problem !== null || d.lastError !== null || d.uploadFailures > 0 ? "failing" : "active";
}
