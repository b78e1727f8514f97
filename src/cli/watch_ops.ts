/**
 * The operations side of `watch`: the metrics listener (`/metrics`, `/health`, `/status`),
 * the control socket `walsync status` asks, the heartbeat, and exec mode. Flags beat
 * walsync.toml's `[metrics]` and `exec`, which beat the defaults.
 */
import type { WalsyncConfig } from "../config/config_file.ts";
import { formatDuration, parseDuration } from "../config/duration.ts";
import { checkHttpUrl } from "../config/config_schema.ts";
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { splitCommandLine } from "../exec/command_line.ts";
import { ExecChild } from "../exec/exec_child.ts";
import { type ControlSocket, startControlSocket } from "../observe/control_socket.ts";
import { defaultMaxLagMs, healthOf } from "../observe/health.ts";
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  type Heartbeat,
  redactUrl,
  startHeartbeat,
} from "../observe/heartbeat.ts";
import {
  type ListenAddress,
  type MetricsServer,
  parseListenAddress,
  startMetricsServer,
} from "../observe/http_server.ts";
import {
  type LeaseState,
  type ObservationSources,
  observe,
  type ProcessObservation,
} from "../observe/observation.ts";
import { statusReport } from "../observe/status_report.ts";
import type { StoreStats } from "../replica/metered_replica_client.ts";
import type { Supervisor } from "../replicate/supervisor.ts";
import { type FlagSpec, type ParsedArgs, stringFlag } from "./args.ts";

export const OPS_FLAGS: FlagSpec = {
  "metrics-addr": { type: "string" },
  "metrics-per-database": { type: "boolean" },
  "max-lag": { type: "string" },
  "heartbeat-url": { type: "string" },
  "heartbeat-interval": { type: "string" },
  exec: { type: "string" },
};

export const OPS_FLAGS_HELP =
  `      --metrics-addr A    Serve /metrics, /health and /status on A (HOST:PORT; ":9090"
                          binds 127.0.0.1). Off by default ([metrics] addr)
      --metrics-per-database[=false]
                          Per-database series (default true; false keeps only totals)
      --max-lag D         /health fails for a database whose replica lag reaches D
                          (default 3x the sync interval, at least 10s)
      --heartbeat-url URL GET URL after every interval in which all databases were in
                          sync ([metrics] heartbeat_url; never logged)
      --heartbeat-interval D
                          How often the heartbeat may ping (default 1m)
      --exec CMD          Run the application CMD (one string, e.g. "/app/server -p 80";
                          split like a shell would, no shell run) once replication runs;
                          SIGINT/SIGTERM go to it; when it exits: final sync and upload,
                          then exit with its exit code (128+N if killed by signal N)`;

export interface OpsSettings {
  address: ListenAddress | null;
  perDatabase: boolean;
  maxLagMs: number;
  heartbeatUrl: string | null;
  heartbeatIntervalMs: number;
  exec: string[] | null;
}

/** The settings from flags, then walsync.toml; bad values are usage errors. */
export function opsSettings(
  parsed: ParsedArgs,
  config: WalsyncConfig | null,
  syncIntervalMs: number,
): OpsSettings {
  const metrics = config?.metrics ?? {};
  const addr = stringFlag(parsed, "metrics-addr") ?? metrics.addr;
  const maxLag = stringFlag(parsed, "max-lag");
  const interval = stringFlag(parsed, "heartbeat-interval");
  const url = stringFlag(parsed, "heartbeat-url") ?? metrics.heartbeatUrl ?? null;
  if (url !== null && !checkHttpUrl(url).ok) {
    throw new UsageError("--heartbeat-url must be an http:// or https:// URL (not echoed)");
  }
  const execFlag = stringFlag(parsed, "exec");
  if (execFlag !== undefined && parsed.values.once) {
    throw new UsageError("--exec runs with the daemon; it cannot be combined with --once");
  }
  // `watch --once` (a one-off sync, e.g. from cron) leaves walsync.toml's exec alone.
  const execLine = parsed.values.once ? undefined : execFlag ?? config?.exec?.value;
  return {
    address: addr === undefined ? null : parseListenAddress(addr),
    perDatabase: (parsed.values["metrics-per-database"] as boolean | undefined) ??
      metrics.perDatabase ?? true,
    maxLagMs: maxLag !== undefined
      ? atLeastOneSecond(parseDuration(maxLag, "--max-lag"), "--max-lag")
      : metrics.maxLagMs ?? defaultMaxLagMs(syncIntervalMs),
    heartbeatUrl: url,
    heartbeatIntervalMs: interval !== undefined
      ? atLeastOneSecond(parseDuration(interval, "--heartbeat-interval"), "--heartbeat-interval")
      : metrics.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    exec: execLine === undefined
      ? null
      : splitCommandLine(execLine, execFlag !== undefined ? "--exec command" : "exec command"),
  };
}

/** `[metrics]` and `exec` as `explain` shows them (the heartbeat URL reduced to its host). */
export function describeOps(
  config: WalsyncConfig | null,
  syncIntervalMs: number,
): { lines: string[]; json: Record<string, unknown> } {
  const m = config?.metrics ?? {};
  const maxLagMs = m.maxLagMs ?? defaultMaxLagMs(syncIntervalMs);
  const heartbeat = m.heartbeatUrl ? redactUrl(m.heartbeatUrl) : null;
  const json = {
    addr: m.addr ?? null,
    perDatabase: m.perDatabase ?? true,
    maxLag: formatDuration(maxLagMs),
    heartbeat,
    heartbeatInterval: formatDuration(m.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS),
    exec: config?.exec?.value ?? null,
  };
  const lines = [
    `metrics     ${m.addr ?? "off"}${
      m.perDatabase === false ? ", totals only" : ""
    }, max_lag ${json.maxLag}${
      heartbeat ? `, heartbeat to ${heartbeat} every ${json.heartbeatInterval}` : ""
    }`,
  ];
  if (config?.exec) lines.push(`exec        ${config.exec.value}  (line ${config.exec.line})`);
  return { lines, json };
}

function atLeastOneSecond(ms: number, flag: string): number {
  if (ms < 1000) throw new UsageError(`${flag} must be at least 1s, got ${ms}ms`);
  return ms;
}

/** The running pieces; `close` stops them all. */
export class WatchOps {
  readonly settings: OpsSettings;
  #logger: Logger;
  #child: ExecChild | null;
  #server: MetricsServer | null = null;
  #socket: ControlSocket | null = null;
  #heartbeat: Heartbeat | null = null;
  #sources: ObservationSources | null = null;

  constructor(settings: OpsSettings, logger: Logger) {
    this.settings = settings;
    this.#logger = logger;
    this.#child = settings.exec ? new ExecChild(settings.exec, logger) : null;
  }

  /**
   * What a stop signal aborts: with a running child, nothing (the child gets the signal, and
   * its exit stops walsync); without one, `controller`.
   */
  stopOn(controller: AbortController): AbortController {
    if (!this.#child) return controller;
    const requested = new AbortController();
    requested.signal.addEventListener("abort", () => {
      const running = this.#child!.exit === null && this.#childStarted;
      if (!running) controller.abort();
    });
    return requested;
  }

  #childStarted = false;

  /** Starts the listener, the control socket and the heartbeat. */
  start(parts: {
    supervisor: Supervisor;
    replica: { kind: string; location: string };
    store: StoreStats;
    lease: () => LeaseState;
  }): void {
    this.#sources = {
      supervisor: parts.supervisor,
      replica: parts.replica,
      store: parts.store,
      lease: parts.lease,
      startedAtMs: Date.now(),
      maxLagSeconds: this.settings.maxLagMs / 1000,
      extraMetrics: [],
    };
    const snapshot = () => this.observe();
    if (this.settings.address) {
      this.#server = startMetricsServer({
        address: this.settings.address,
        observe: snapshot,
        perDatabase: this.settings.perDatabase,
        logger: this.#logger,
      });
    }
    this.#socket = startControlSocket(() => statusReport(snapshot()), this.#logger);
    if (this.settings.heartbeatUrl) {
      this.#heartbeat = startHeartbeat({
        url: this.settings.heartbeatUrl,
        intervalMs: this.settings.heartbeatIntervalMs,
        healthy: () => healthOf(snapshot()).healthy,
        logger: this.#logger,
      });
    }
  }

  /**
   * The hook for metrics of other rooms (compaction): each function renders its families in
   * the Prometheus text format and is called on every scrape.
   */
  addMetrics(render: () => string): void {
    this.#sources?.extraMetrics?.push(render);
  }

  /** The snapshot every reader shares. */
  observe(): ProcessObservation {
    return observe(this.#sources!);
  }

  get metricsAddress(): ListenAddress | null {
    return this.#server?.address ?? null;
  }

  /**
   * Exec mode: once replication runs, starts the child; its exit aborts `controller` (the
   * final sync and upload follow) after `beforeStop`. Does nothing without `--exec`.
   */
  async startChild(
    supervisor: Supervisor,
    controller: AbortController,
    /** Runs once the child exited, before the stop: e.g. one more look for new databases. */
    beforeStop: () => Promise<unknown> = () => Promise.resolve(),
  ): Promise<void> {
    if (!this.#child || controller.signal.aborted) return;
    try {
      // Everything committed so far is captured (and uploaded, if the replica answers).
      await supervisor.syncAll();
    } catch (error) {
      this.#logger.warn("initial upload incomplete; starting the application anyway", { error });
    }
    if (controller.signal.aborted) return;
    this.#child.start(() => {
      beforeStop().catch((error) => {
        this.#logger.warn("could not look for new databases before stopping", { error });
      }).finally(() => controller.abort());
    });
    this.#childStarted = true;
  }

  /** Resolves once no child runs (at once without exec mode or before it started). */
  get childExited(): Promise<void> {
    return this.#child?.exited ?? Promise.resolve();
  }

  /** How the child exited (exec mode), else null. */
  get childExit(): { code: number } | null {
    return this.#child?.exit ?? null;
  }

  /** walsync is stopping: a child still running is stopped first (before the final sync). */
  async stopChild(): Promise<void> {
    await this.#child?.stop();
  }

  async close(): Promise<void> {
    await this.stopChild();
    await this.#heartbeat?.stop();
    await this.#socket?.close();
    await this.#server?.close();
  }
}
