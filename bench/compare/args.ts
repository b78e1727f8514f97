/**
 * Command-line options of `deno task bench-compare` (bench/compare.ts), parsed strictly: an
 * unknown flag or a bad value is a usage error that names it.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../../src/errors.ts";

/** One way of running a tool: one process for all databases, or one per database. */
export type VariantId =
  | "walsync"
  | "walsync-per-db"
  | "litestream-0.5"
  | "litestream-0.5-per-db"
  | "litestream-0.3"
  | "litestream-0.3-per-db";

export const VARIANT_IDS: VariantId[] = [
  "walsync",
  "walsync-per-db",
  "litestream-0.5",
  "litestream-0.5-per-db",
  "litestream-0.3",
  "litestream-0.3-per-db",
];

export const DEFAULT_DB_COUNTS = [1, 5, 10, 20];
export const DEFAULT_DURATION_SECONDS = 10;
export const DEFAULT_DB_SIZE_KB = 100;
/** A writer commits to every database up to this many (the setting). */
export const DEFAULT_MAX_WRITERS = 100;
export const DEFAULT_RATE_PER_SECOND = 1;
/** Above this many databases the one-process-per-database variants are skipped. */
export const DEFAULT_MAX_PROCESSES = 100;
export const DEFAULT_SETTLE_SECONDS = 5;
/** How long each tool gets to put every database in the replica before the window. */
export const DEFAULT_CATCH_UP_SECONDS = 120;
export const DEFAULT_SAMPLE_MS = 500;
export const DEFAULT_STARTUP_TIMEOUT_SECONDS = 600;
export const DEFAULT_SYNC_INTERVAL_SECONDS = 1;

export interface CompareOptions {
  dbCounts: number[];
  durationSeconds: number;
  dbSizeKb: number;
  replica: "file" | "s3";
  /** Databases written to; null = every database up to DEFAULT_MAX_WRITERS. */
  writers: number | null;
  ratePerSecond: number;
  json: boolean;
  variants: VariantId[];
  maxProcesses: number;
  settleSeconds: number;
  /** Run walsync without its shipped V8 flags. */
  plainV8: boolean;
  /** After catch-up, with the writer running, before the window (steady state). */
  warmupSeconds: number;
  catchUpSeconds: number;
  sampleMs: number;
  startupTimeoutSeconds: number;
  syncIntervalSeconds: number;
  /** Install missing peers into the cache (false: only say how). */
  install: boolean;
  /** A compiled walsync (`deno task compile`) instead of `deno run -A mod.ts`. */
  walsyncBin: string | null;
  help: boolean;
}

export const COMPARE_HELP = `deno task bench-compare [options]

walsync against Litestream 0.5.17 and 0.3.13, each as one process for all databases and as one
process per database: RSS, PSS, CPU, open fds, how many databases reached the replica and
whether the last write of each written database did. Markdown on stdout, progress on stderr.

  --dbs LIST             database counts to run, e.g. 1,10,100,1000 (default ${DEFAULT_DB_COUNTS})
  --duration S           measurement window in seconds (default ${DEFAULT_DURATION_SECONDS})
  --db-size KB           size of each test database (default ${DEFAULT_DB_SIZE_KB})
  --replica file|s3      local directory, or SeaweedFS on 127.0.0.1 started by the bench (default file)
  --writers N            databases the writer commits to (default all, up to ${DEFAULT_MAX_WRITERS})
  --rate R               commits per second to each written database (default ${DEFAULT_RATE_PER_SECOND})
  --tools LIST           variants to run (default all): ${VARIANT_IDS.join(",")}
  --max-processes N      skip the per-database variants above N databases (default ${DEFAULT_MAX_PROCESSES})
  --catch-up S           before the window, wait until every database is in the replica, at most S
                         seconds (default ${DEFAULT_CATCH_UP_SECONDS}; 0 = start the window at once)
  --settle S             wait after the last write before checking the replica (default ${DEFAULT_SETTLE_SECONDS})
  --warmup S             after catch-up, let the writer run S seconds before the window, so a
                         tool reaches its steady state (walsync releases idle databases after
                         30 s; default 0)
  --sample-ms MS         memory sampling interval (default ${DEFAULT_SAMPLE_MS})
  --startup-timeout S    give up waiting for a tool to start (default ${DEFAULT_STARTUP_TIMEOUT_SECONDS})
  --sync-interval S      every tool's sync interval in seconds (default ${DEFAULT_SYNC_INTERVAL_SECONDS})
  --walsync-bin PATH     a compiled walsync (deno task compile) instead of deno run -A mod.ts
  --no-install           do not install missing Litestream peers, only say how
  --plain-v8             run walsync without the V8 flags it ships with (deno.json's walsync
                         and compile tasks: --max-semi-space-size=1)
  --json                 one JSON document on stdout instead of markdown
`;

function fail(message: string): never {
  throw new UsageError(`${message}; run "deno task bench-compare --help" for usage`);
}

function positiveNumber(flag: string, text: string, options: { integer?: boolean } = {}): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    fail(`--${flag} needs a positive number, not "${text}"`);
  }
  if (options.integer && !Number.isInteger(value)) {
    fail(`--${flag} needs a whole number, not "${text}"`);
  }
  return value;
}

/** Parses bench-compare's arguments (without the task name). */
export function parseCompareArgs(args: string[]): CompareOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        dbs: { type: "string" },
        duration: { type: "string" },
        "db-size": { type: "string" },
        replica: { type: "string" },
        writers: { type: "string" },
        rate: { type: "string" },
        tools: { type: "string" },
        "max-processes": { type: "string" },
        settle: { type: "string" },
        warmup: { type: "string" },
        "catch-up": { type: "string" },
        "sample-ms": { type: "string" },
        "startup-timeout": { type: "string" },
        "sync-interval": { type: "string" },
        "walsync-bin": { type: "string" },
        "no-install": { type: "boolean" },
        "plain-v8": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    fail((error as Error).message.split("\n")[0].replace(/\.$/, ""));
  }
  const v = parsed.values;
  const dbCounts = v.dbs === undefined
    ? DEFAULT_DB_COUNTS
    : v.dbs.split(",").map((s) => positiveNumber("dbs", s.trim(), { integer: true }));
  const replica = v.replica ?? "file";
  if (replica !== "file" && replica !== "s3") fail(`--replica is file or s3, not "${replica}"`);
  const variants = v.tools === undefined ? VARIANT_IDS : v.tools.split(",").map((s) => {
    const id = s.trim() as VariantId;
    if (!VARIANT_IDS.includes(id)) fail(`--tools names "${s}"; known: ${VARIANT_IDS.join(", ")}`);
    return id;
  });
  const number = (flag: string, text: string | undefined, fallback: number, integer = false) =>
    text === undefined ? fallback : positiveNumber(flag, text, { integer });
  let writers: number | null = null;
  if (v.writers !== undefined) {
    writers = Number(v.writers);
    if (!Number.isInteger(writers) || writers < 0 || v.writers.trim() === "") {
      fail(`--writers needs a whole number of databases (0 or more), not "${v.writers}"`);
    }
  }
  return {
    dbCounts: [...new Set(dbCounts)].sort((a, b) => a - b),
    durationSeconds: number("duration", v.duration, DEFAULT_DURATION_SECONDS),
    dbSizeKb: number("db-size", v["db-size"], DEFAULT_DB_SIZE_KB),
    replica,
    writers,
    ratePerSecond: number("rate", v.rate, DEFAULT_RATE_PER_SECOND),
    json: v.json ?? false,
    variants,
    maxProcesses: number("max-processes", v["max-processes"], DEFAULT_MAX_PROCESSES, true),
    settleSeconds: v.settle === "0" ? 0 : number("settle", v.settle, DEFAULT_SETTLE_SECONDS),
    warmupSeconds: v.warmup === undefined || v.warmup === "0" ? 0 : number("warmup", v.warmup, 0),
    catchUpSeconds: v["catch-up"] === "0"
      ? 0
      : number("catch-up", v["catch-up"], DEFAULT_CATCH_UP_SECONDS),
    sampleMs: number("sample-ms", v["sample-ms"], DEFAULT_SAMPLE_MS, true),
    startupTimeoutSeconds: number(
      "startup-timeout",
      v["startup-timeout"],
      DEFAULT_STARTUP_TIMEOUT_SECONDS,
    ),
    syncIntervalSeconds: number("sync-interval", v["sync-interval"], DEFAULT_SYNC_INTERVAL_SECONDS),
    install: !(v["no-install"] ?? false),
    plainV8: v["plain-v8"] ?? false,
    walsyncBin: v["walsync-bin"] ?? null,
    help: v.help ?? false,
  };
}

/** How many of `dbCount` databases the writer commits to. */
export function writtenCount(options: Pick<CompareOptions, "writers">, dbCount: number): number {
  return Math.min(dbCount, options.writers ?? DEFAULT_MAX_WRITERS);
}
