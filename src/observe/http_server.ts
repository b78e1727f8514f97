/**
 * The metrics listener: `GET /metrics` (Prometheus text 0.0.4), `GET /health` (200 or 503
 * with JSON naming failing databases) and `GET /status` (what `walsync status` prints). Off
 * unless `[metrics] addr` or `--metrics-addr` names an address; an address without a host
 * binds loopback only. Read-only: nothing it answers changes the daemon.
 */
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { healthOf } from "./health.ts";
import type { ProcessObservation } from "./observation.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./prometheus.ts";
import { statusReport } from "./status_report.ts";

export const DEFAULT_METRICS_HOST = "127.0.0.1";

export interface ListenAddress {
  hostname: string;
  port: number;
}

/** `127.0.0.1:9090`, `[::1]:9090`, `:9090` or `9090` (the last two bind loopback). */
export function parseListenAddress(value: string, what = "metrics address"): ListenAddress {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new UsageError(
      `Invalid ${what} "${value}"; expected HOST:PORT such as "127.0.0.1:9090" (or ":9090" for loopback)`,
    );
  }
  const host = match[1] ?? "";
  return {
    hostname: host === "" ? DEFAULT_METRICS_HOST : host.replace(/^\[|\]$/g, ""),
    port,
  };
}

export interface MetricsServerOptions {
  address: ListenAddress;
  observe: () => ProcessObservation;
  perDatabase: boolean;
  logger: Logger;
}

export interface MetricsServer {
  /** The address actually bound (port 0 picks one). */
  readonly address: ListenAddress;
  close(): Promise<void>;
}

export function startMetricsServer(options: MetricsServerOptions): MetricsServer {
  const { logger } = options;
  const controller = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.address.hostname,
      port: options.address.port,
      signal: controller.signal,
      onListen: () => {},
      onError: (error) => {
        logger.warn("metrics listener: a request failed", { error });
        return new Response("internal error\n", { status: 500 });
      },
    }, (request) => answer(request, options));
  } catch (error) {
    const at = `${options.address.hostname}:${options.address.port}`;
    throw new UsageError(`Cannot listen for metrics on "${at}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  const address = { hostname: server.addr.hostname, port: server.addr.port };
  logger.info("metrics listening", {
    url: `http://${
      address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
    }:${address.port}/metrics`,
  });
  return {
    address,
    close: async () => {
      controller.abort();
      await server.finished.catch(() => {});
    },
  };
}

function answer(request: Request, options: MetricsServerOptions): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("only GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const path = new URL(request.url).pathname;
  if (path === "/metrics") {
    const page = renderMetrics(options.observe(), { perDatabase: options.perDatabase });
    return new Response(page, { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
  }
  if (path === "/health") {
    const report = healthOf(options.observe());
    return json(report, report.healthy ? 200 : 503);
  }
  if (path === "/status") return json(statusReport(options.observe()), 200);
  return new Response("not found: try /metrics, /health or /status\n", { status: 404 });
}

function json(value: unknown, status: number): Response {
  return new Response(`${JSON.stringify(value)}\n`, {
    status,
    headers: { "content-type": "application/json" },
  });
}
