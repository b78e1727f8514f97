/**
 * Where command output goes: results on stdout (`list`, `--json`), human messages and logs
 * on stderr.
 */
import { UsageError } from "../errors.ts";
import { Logger, type LogLevel } from "../log.ts";

const encoder = new TextEncoder();
const LOG_LEVELS: LogLevel[] = ["debug", "info", "warn", "error"];

/** Command results go to stdout. */
export function writeOut(text: string): void {
  writeAll(Deno.stdout, text);
}

/** One JSON document on stdout (`--json`). */
export function writeJson(value: unknown): void {
  writeOut(JSON.stringify(value, null, 2));
}

/** Human messages go to stderr. */
export function writeErr(text: string): void {
  writeAll(Deno.stderr, text);
}

/** One line (a newline is added when missing); pipes may take it in several writes. */
function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text.endsWith("\n") ? text : `${text}\n`);
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}

/** The logger for `--log-format`/`--log-level` (or their walsync.toml `[log]` values). */
export function makeLogger(format: unknown, level: unknown): Logger {
  if (format !== undefined && format !== "text" && format !== "json") {
    throw new UsageError(`--log-format "${format}" is invalid; use text or json`);
  }
  if (level !== undefined && !LOG_LEVELS.includes(level as LogLevel)) {
    throw new UsageError(`--log-level "${level}" is invalid; use debug, info, warn or error`);
  }
  return new Logger({
    format: format as "text" | "json" | undefined,
    level: level as LogLevel | undefined,
  });
}
