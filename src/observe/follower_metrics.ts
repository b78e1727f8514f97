/**
 * `walsync replicate --metrics-addr`: `GET /metrics` (Prometheus text 0.0.4) and `GET /health`
 * for a follower process, read from `FollowSet.status()` only. Per database: the copy's TXID,
 * the lag of its last applied change (object created in the replica → applied) and the age of
 * its last successful poll (which grows while a database fails or stops); and how many
 * databases are following, failing, stopped. /health is 503 while any database fails or stopped.
 * `GET /status` answers the follower's status report (follower_status_report.ts).
 */
import { UsageError } from "../errors.ts";
import type { FollowStatus } from "../follow/follow_set.ts";
import type { Logger } from "../log.ts";
import type { ListenAddress } from "./http_server.ts";
import { escapeLabel, PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";

const STATES: FollowStatus["state"][] = ["following", "failing", "stopped"];

export function renderFollowerMetrics(statuses: FollowStatus[], nowMs: number): string {
  const lines: string[] = [];
  const family = (name: string, help: string, rows: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of rows) lines.push(`${name}${labels} ${value}`);
  };
  const db = (s: FollowStatus) => `{db="${escapeLabel(s.name)}"}`;
  family(
    "walsync_follower_databases",
    "Databases this follower follows, by state.",
    STATES.map((state) => [
      `{state="${state}"}`,
      statuses.filter((s) => s.state === state).length,
    ]),
  );
  family(
    "walsync_follower_txid",
    "The TXID of the local copy (0 before its first restore).",
    statuses.map((s) => [db(s), s.txid]),
  );
  family(
    "walsync_follower_replica_txid",
    "The highest TXID in the replica at the database's last listing.",
    statuses.map((s) => [db(s), s.replicaTxid]),
  );
  family(
    "walsync_follower_lag_seconds",
    "From the last applied object's creation in the replica to its apply.",
    statuses.filter((s) => s.lastLagMs !== null).map((s) => [db(s), s.lastLagMs! / 1000]),
  );
  family(
    "walsync_follower_last_poll_age_seconds",
    "Seconds since the database's last successful poll of the replica.",
    statuses.filter((s) => s.lastPollOkAt !== null).map((
      s,
    ) => [db(s), (nowMs - s.lastPollOkAt!) / 1000]),
  );
  return `${lines.join("\n")}\n`;
}

export interface FollowerMetricsServer {
  readonly address: ListenAddress;
  close(): Promise<void>;
}

export function startFollowerMetricsServer(options: {
  address: ListenAddress;
  status: () => FollowStatus[];
  /** What GET /status answers (as `walsync status --metrics-addr` reads it). */
  report?: () => unknown;
  logger: Logger;
}): FollowerMetricsServer {
  const controller = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.address.hostname,
      port: options.address.port,
      signal: controller.signal,
      onListen: () => {},
      onError: (error) => {
        options.logger.warn("metrics listener: a request failed", { error });
        return new Response("internal error\n", { status: 500 });
      },
    }, (request) => answer(request, options.status, options.report));
  } catch (error) {
    const at = `${options.address.hostname}:${options.address.port}`;
    throw new UsageError(`Cannot listen for metrics on "${at}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  const address = { hostname: server.addr.hostname, port: server.addr.port };
  options.logger.info("metrics listening", {
    url: `http://${address.hostname}:${address.port}/metrics`,
  });
  return {
    address,
    close: async () => {
      controller.abort();
      await server.finished.catch(() => {});
    },
  };
}

function answer(
  request: Request,
  status: () => FollowStatus[],
  report?: () => unknown,
): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("only GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const path = new URL(request.url).pathname;
  if (path === "/metrics") {
    return new Response(renderFollowerMetrics(status(), Date.now()), {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
    });
  }
  if (path === "/health") {
    const troubled = status().filter((s) => s.state !== "following");
    const body = {
      healthy: troubled.length === 0,
      databases: troubled.map((s) => ({ name: s.name, state: s.state })),
    };
    return new Response(`${JSON.stringify(body)}\n`, {
      status: body.healthy ? 200 : 503,
      headers: { "content-type": "application/json" },
    });
  }
  if (path === "/status" && report) {
    return new Response(`${JSON.stringify(report())}\n`, {
      headers: { "content-type": "application/json" },
    });
  }
  return new Response("not found: try /metrics, /health or /status\n", { status: 404 });
}
