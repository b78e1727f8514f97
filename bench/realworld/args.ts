/**
 * Command-line options of `deno task bench-realworld` (bench/realworld.ts), parsed strictly.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../../src/errors.ts";
import { CHECKPOINT_MODES, type CheckpointMode } from "./checkpoint.ts";

export type RealworldTest = "sync" | "restore" | "throughput" | "checkpoint" | "network";
export const REALWORLD_TESTS: RealworldTest[] = [
  "sync",
  "restore",
  "throughput",
  "checkpoint",
  "network",
];

export type RealworldTool = "walsync" | "litestream-0.5";
export const REALWORLD_TOOLS: RealworldTool[] = ["walsync", "litestream-0.5"];

/** The seed's restore table: 1.2, 12 and 120 MB. */
export const DEFAULT_SIZES_MB = [1.2, 12, 120];
export const DEFAULT_SAMPLES = 20;
export const DEFAULT_THROUGHPUT_SECONDS = 5;
export const DEFAULT_OUTAGE_SECONDS = 5;
export const DEFAULT_CHECKPOINT_MODES: CheckpointMode[] = ["PASSIVE", "TRUNCATE"];
export const DEFAULT_WAL_KB = 1024;
export const DEFAULT_DB_SIZE_KB = 100;
export const DEFAULT_SYNC_INTERVAL_SECONDS = 1;

export interface RealworldOptions {
  tests: RealworldTest[];
  replica: "file" | "s3";
  tools: RealworldTool[];
  sizesMb: number[];
  samples: number;
  seconds: number;
  outageSeconds: number;
  checkpointModes: CheckpointMode[];
  walKb: number;
  dbSizeKb: number;
  syncIntervalSeconds: number;
  install: boolean;
  walsyncBin: string | null;
  json: boolean;
  help: boolean;
}

export const REALWORLD_HELP = `deno task bench-realworld [options]

The seed's realworld suite for walsync and Litestream 0.5.17, each checked for loss: after
every test the replica is restored with the tool's own restore and must hold every row written.

  --test LIST              ${REALWORLD_TESTS.join(",")} (default all)
  --replica s3|file        SeaweedFS on 127.0.0.1, started by the bench, or a local directory (default s3)
  --tools LIST             ${REALWORLD_TOOLS.join(",")} (default both)
  --sizes LIST             restore: database sizes in MB (default ${DEFAULT_SIZES_MB})
  --samples N              sync: marker commits (default ${DEFAULT_SAMPLES})
  --seconds S              throughput: length of the burst (default ${DEFAULT_THROUGHPUT_SECONDS})
  --outage S               network: length of the outage (default ${DEFAULT_OUTAGE_SECONDS})
  --checkpoint-modes LIST  checkpoint: ${
  CHECKPOINT_MODES.join(",")
} (default ${DEFAULT_CHECKPOINT_MODES})
  --wal-kb KB              checkpoint: WAL size before the checkpoint (default ${DEFAULT_WAL_KB})
  --db-size KB             sync and throughput: database size (default ${DEFAULT_DB_SIZE_KB})
  --sync-interval S        every tool's sync interval in seconds (default ${DEFAULT_SYNC_INTERVAL_SECONDS})
  --walsync-bin PATH       a compiled walsync (deno task compile) instead of deno run -A mod.ts
  --no-install             do not install Litestream 0.5.17 when missing, only say how
  --json                   one JSON document on stdout instead of markdown
`;

function fail(message: string): never {
  throw new UsageError(`${message}; run "deno task bench-realworld --help" for usage`);
}

function list<T extends string>(flag: string, text: string | undefined, known: T[], fallback: T[]) {
  if (text === undefined) return fallback;
  return text.split(",").map((s) => {
    const value = s.trim() as T;
    if (!known.includes(value)) fail(`--${flag} names "${s}"; known: ${known.join(", ")}`);
    return value;
  });
}

function positive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    fail(`--${flag} needs a positive number, not "${text}"`);
  }
  return value;
}

/** Parses bench-realworld's arguments. */
export function parseRealworldArgs(args: string[]): RealworldOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        test: { type: "string" },
        replica: { type: "string" },
        tools: { type: "string" },
        sizes: { type: "string" },
        samples: { type: "string" },
        seconds: { type: "string" },
        outage: { type: "string" },
        "checkpoint-modes": { type: "string" },
        "wal-kb": { type: "string" },
        "db-size": { type: "string" },
        "sync-interval": { type: "string" },
        "walsync-bin": { type: "string" },
        "no-install": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    fail((error as Error).message.split("\n")[0].replace(/\.$/, ""));
  }
  const v = parsed.values;
  const replica = v.replica ?? "s3";
  if (replica !== "file" && replica !== "s3") fail(`--replica is s3 or file, not "${replica}"`);
  const samples = positive("samples", v.samples, DEFAULT_SAMPLES);
  if (!Number.isInteger(samples)) fail(`--samples needs a whole number, not "${v.samples}"`);
  return {
    tests: list("test", v.test, REALWORLD_TESTS, REALWORLD_TESTS),
    replica,
    tools: list("tools", v.tools, REALWORLD_TOOLS, REALWORLD_TOOLS),
    sizesMb: v.sizes === undefined
      ? DEFAULT_SIZES_MB
      : v.sizes.split(",").map((s) => positive("sizes", s.trim(), 0)),
    samples,
    seconds: positive("seconds", v.seconds, DEFAULT_THROUGHPUT_SECONDS),
    outageSeconds: positive("outage", v.outage, DEFAULT_OUTAGE_SECONDS),
    checkpointModes: list(
      "checkpoint-modes",
      v["checkpoint-modes"]?.toUpperCase(),
      CHECKPOINT_MODES,
      DEFAULT_CHECKPOINT_MODES,
    ),
    walKb: positive("wal-kb", v["wal-kb"], DEFAULT_WAL_KB),
    dbSizeKb: positive("db-size", v["db-size"], DEFAULT_DB_SIZE_KB),
    syncIntervalSeconds: positive(
      "sync-interval",
      v["sync-interval"],
      DEFAULT_SYNC_INTERVAL_SECONDS,
    ),
    install: !(v["no-install"] ?? false),
    walsyncBin: v["walsync-bin"] ?? null,
    json: v.json ?? false,
    help: v.help ?? false,
  };
}
