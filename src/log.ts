/**
 * walsync's logger: one line per event on stderr, human text on a TTY, JSON lines on
 * request. Field values whose names look secret are never printed.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /secret|password|token|credential|access.?key|authorization/i;
/**
 * Keys every JSON line has: a field with one of these names is written as `field_<name>`, so
 * it never replaces the line's own (a compaction level in place of the log level).
 */
const RESERVED_FIELDS = new Set(["time", "level", "msg"]);
const encoder = new TextEncoder();

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
}

export class Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  #write: (line: string) => void;
  #context: LogFields;

  constructor(options: LoggerOptions = {}, context: LogFields = {}) {
    this.level = options.level ?? "info";
    this.format = options.format ?? (Deno.stderr.isTerminal() ? "text" : "json");
    this.#write = options.write ?? ((line) => Deno.stderr.writeSync(encoder.encode(line)));
    this.#context = context;
  }

  /** A logger that adds `fields` to every line (e.g. the database name). */
  with(fields: LogFields): Logger {
    return new Logger(
      { level: this.level, format: this.format, write: this.#write },
      { ...this.#context, ...fields },
    );
  }

  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#log("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  #log(level: LogLevel, message: string, fields?: LogFields): void {
    if (LEVELS[level] < LEVELS[this.level]) return;
    const all: LogFields = {};
    for (const [key, value] of Object.entries({ ...this.#context, ...fields })) {
      const name = RESERVED_FIELDS.has(key) ? `field_${key}` : key;
      if (SECRET_FIELD.test(key)) all[name] = "[redacted]";
      else if (typeof value === "bigint") all[name] = value.toString(16);
      else if (value instanceof Error) all[name] = value.message;
      else all[name] = value;
    }
    if (this.format === "json") {
      this.#write(
        `${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...all })}\n`,
      );
      return;
    }
    const rest = Object.entries(all).map(([k, v]) =>
      `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`
    );
    this.#write(
      `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${
        rest.length ? ` ${rest.join(" ")}` : ""
      }\n`,
    );
  }
}

/** A logger that prints nothing (library use, tests). */
export const silentLogger: Logger = new Logger({ level: "error", format: "json", write: () => {} });
