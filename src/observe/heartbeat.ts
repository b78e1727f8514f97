/**
 * The heartbeat (Litestream's `heartbeat-url`): a GET to a dead-man's-switch URL after every
 * interval in which all databases stayed in sync (health was good at every look), so the
 * service pages someone when pings stop. A failed ping is a warning and the next interval
 * pings again. The URL is never logged whole: query strings and paths carry tokens.
 */
import type { Logger } from "../log.ts";

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 60_000;
/** A ping that takes longer than this counts as failed. */
const PING_TIMEOUT_MS = 10_000;
/** Health is looked at this many times per interval (at least every 5 s). */
const LOOKS_PER_INTERVAL = 10;
const MAX_LOOK_MS = 5_000;

export interface HeartbeatOptions {
  url: string;
  intervalMs: number;
  /** True while every database is in sync (the `/health` verdict). */
  healthy: () => boolean;
  logger: Logger;
}

export interface Heartbeat {
  /** Pings sent and failed (for tests and status). */
  readonly sent: number;
  readonly failed: number;
  stop(): Promise<void>;
}

/** Where a ping goes, as logs may show it: scheme and host only. */
export function redactUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid url)";
  }
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const { logger } = options;
  const shown = redactUrl(options.url);
  const lookMs = Math.max(10, Math.min(MAX_LOOK_MS, options.intervalMs / LOOKS_PER_INTERVAL));
  let sent = 0;
  let failed = 0;
  let allGood = true;
  let intervalStart = Date.now();
  let stopped = false;
  let pinging: Promise<void> = Promise.resolve();
  const ping = async () => {
    try {
      const response = await fetch(options.url, { signal: AbortSignal.timeout(PING_TIMEOUT_MS) });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      sent++;
      logger.debug("heartbeat sent", { to: shown });
    } catch (error) {
      failed++;
      logger.warn("heartbeat ping failed; retried after the next interval", {
        to: shown,
        error: (error as Error).message.replaceAll(options.url, shown),
      });
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    if (!options.healthy()) allGood = false;
    if (Date.now() - intervalStart < options.intervalMs) return;
    if (allGood) pinging = pinging.then(ping);
    else logger.debug("heartbeat skipped: not every database was in sync", { to: shown });
    allGood = true;
    intervalStart = Date.now();
  }, lookMs);
  return {
    get sent() {
      return sent;
    },
    get failed() {
      return failed;
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await pinging;
    },
  };
}
