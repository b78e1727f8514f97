/** Durations as operators write them: "500ms", "5s", "1m", "1h", or an integer of seconds. */
import { UsageError } from "../errors.ts";

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Parses a duration into milliseconds; `what` names the flag or key in the error. */
export function parseDuration(value: string | number, what: string): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new UsageError(
        `${what} "${value}" is not a duration; use e.g. "500ms", "5s", "1m", "1h" or seconds`,
      );
    }
    return Math.round(value * 1000);
  }
  const match = PATTERN.exec(value.trim());
  if (!match) {
    throw new UsageError(
      `${what} "${value}" is not a duration; use e.g. "500ms", "5s", "1m", "1h" or seconds`,
    );
  }
  return Math.round(Number(match[1]) * UNITS_MS[match[2] ?? "s"]);
}

/** "1.5s", "250ms", "2m": the inverse of `parseDuration`, for messages and `explain`. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
