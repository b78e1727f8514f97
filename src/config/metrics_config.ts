/**
 * walsync.toml `[metrics]` (the metrics listener, `/health`'s threshold, the heartbeat) and
 * the top-level `exec` (the application `watch` runs and supervises).
 */
import { checkHttpUrl, checkValue, describeValue, type TomlValue } from "./config_schema.ts";

export interface MetricsConfig {
  /** HOST:PORT of the listener (off when unset). */
  addr?: string;
  /** False drops per-database series (default true). */
  perDatabase?: boolean;
  /** `/health` fails for a database whose replica lag reaches this. */
  maxLagMs?: number;
  heartbeatUrl?: string;
  heartbeatIntervalMs?: number;
}

export const METRICS_KEYS: readonly string[] = [
  "addr",
  "per_database",
  "max_lag",
  "heartbeat_url",
  "heartbeat_interval",
];

/** Checks one `[metrics]` key (`value` already `$VAR`-expanded); returns a problem or null. */
export function readMetricsKey(
  key: string,
  value: TomlValue,
  metrics: MetricsConfig,
): string | null {
  const where = `metrics.${key}`;
  switch (key) {
    case "addr": {
      if (
        typeof value !== "string" ||
        !/^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):)?\d{1,5}$/.test(value)
      ) {
        return `${where} must be "HOST:PORT" such as "127.0.0.1:9090", got ${describeValue(value)}`;
      }
      metrics.addr = value;
      return null;
    }
    case "per_database": {
      const checked = checkValue({ type: "boolean" }, value);
      if (!checked.ok) return `${where} ${checked.message}`;
      metrics.perDatabase = checked.value as boolean;
      return null;
    }
    case "max_lag":
    case "heartbeat_interval": {
      const checked = checkValue({ type: "duration", minMs: 1000 }, value);
      if (!checked.ok) return `${where} ${checked.message}`;
      if (key === "max_lag") metrics.maxLagMs = checked.value as number;
      else metrics.heartbeatIntervalMs = checked.value as number;
      return null;
    }
    case "heartbeat_url": {
      if (typeof value !== "string") {
        return `${where} must be an http:// or https:// URL, got ${describeValue(value)}`;
      }
      // The URL may carry a token: a bad one is never echoed.
      const checked = checkHttpUrl(value);
      if (!checked.ok) return `${where} must be an http:// or https:// URL`;
      metrics.heartbeatUrl = value;
      return null;
    }
  }
  return `unknown key "${key}" in [metrics]`;
}
