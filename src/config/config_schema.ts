/**
 * What walsync.toml may contain: the settings types and their defaults, the keys of each
 * section, and the checks each value must pass. Messages name the key and quote the value.
 */
import { formatDuration, parseDuration } from "./duration.ts";
import { parseSize } from "./size.ts";
import { suggest } from "./did_you_mean.ts";

/** How often and when changes are shipped, snapshotted and checkpointed. */
export interface SyncSettings {
  syncIntervalMs: number;
  snapshotIntervalMs: number;
  maxChanges: number;
  maxIntervalMs: number;
  onIdleMs: number;
  onStartup: boolean;
  checkpointPages: number;
  checkpointIdleMs: number;
  truncatePages: number;
  /** Release a database fully shipped and unchanged this long (0 = never). */
  idleReleaseMs: number;
  /** Global only: `[sync] max_staging`, never per database. */
  maxStagingBytes: number;
  /** Global only: databases open at once (more wait, and idle ones are released for them). */
  maxOpen: number;
}

export const DEFAULT_SYNC_SETTINGS: SyncSettings = {
  syncIntervalMs: 1000,
  snapshotIntervalMs: 86_400_000,
  maxChanges: 0,
  maxIntervalMs: 0,
  onIdleMs: 0,
  onStartup: false,
  checkpointPages: 1000,
  checkpointIdleMs: 60_000,
  truncatePages: 121_359,
  idleReleaseMs: 30_000,
  maxStagingBytes: 1024 ** 3,
  maxOpen: 256,
};

export const LOG_FORMATS = ["text", "json"] as const;
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** The TOML key (in `[sync]` or `[[databases]]`) for each setting, for `explain`. */
export const SYNC_TOML_KEYS: Record<keyof SyncSettings, string> = {
  syncIntervalMs: "interval",
  snapshotIntervalMs: "snapshot_interval",
  maxChanges: "max_changes",
  maxIntervalMs: "max_interval",
  onIdleMs: "on_idle",
  onStartup: "on_startup",
  checkpointPages: "checkpoint_pages",
  checkpointIdleMs: "checkpoint_idle",
  truncatePages: "truncate_pages",
  idleReleaseMs: "idle_release",
  maxStagingBytes: "max_staging",
  maxOpen: "max_open",
};

/** TOML key → settings field: the inverse of `SYNC_TOML_KEYS`. */
export const SYNC_KEYS: Record<string, keyof SyncSettings> = Object.fromEntries(
  Object.entries(SYNC_TOML_KEYS).map(([field, key]) => [key, field as keyof SyncSettings]),
);

/** Settings that apply to the whole process and cannot be overridden per database. */
export const GLOBAL_ONLY_SYNC_KEYS: readonly string[] = ["max_staging", "max_open"];

/** The value a key takes and the smallest value it allows. */
export type ValueKind =
  | { type: "duration"; minMs: number }
  | { type: "integer"; min: number }
  | { type: "boolean" }
  | { type: "size"; minBytes: number };

export const SYNC_VALUE_KINDS: Record<keyof SyncSettings, ValueKind> = {
  syncIntervalMs: { type: "duration", minMs: 0 },
  snapshotIntervalMs: { type: "duration", minMs: 0 },
  maxChanges: { type: "integer", min: 0 },
  maxIntervalMs: { type: "duration", minMs: 0 },
  onIdleMs: { type: "duration", minMs: 0 },
  onStartup: { type: "boolean" },
  checkpointPages: { type: "integer", min: 1 },
  checkpointIdleMs: { type: "duration", minMs: 1 },
  truncatePages: { type: "integer", min: 1 },
  idleReleaseMs: { type: "duration", minMs: 0 },
  maxStagingBytes: { type: "size", minBytes: 1024 ** 2 },
  maxOpen: { type: "integer", min: 1 },
};

/** The keys each section accepts, in the order the docs list them. */
export const SECTION_KEYS: Record<string, readonly string[]> = {
  s3: ["bucket", "endpoint", "region", "force_path_style", "storage_class", "sse_kms_key_id"],
  sync: Object.keys(SYNC_KEYS),
  retention: ["pitr", "hourly", "daily", "weekly", "monthly", "l0_linger"],
  compaction: ["levels"],
  log: ["format", "level"],
  metrics: ["addr", "per_database", "max_lag", "heartbeat_url", "heartbeat_interval"],
  databases: [
    "path",
    "name",
    ...Object.keys(SYNC_KEYS).filter((key) => !GLOBAL_ONLY_SYNC_KEYS.includes(key)),
  ],
};

/** A value as the TOML parser returns it, integers as bigints. */
export type TomlValue = unknown;

/** Either the checked value or the reason it is wrong (to follow "<key> "). */
export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

/** `"ten"`, `-1`, `1.5`, `true`, `an array`: the value as a message quotes it. */
export function describeValue(value: TomlValue): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "nan";
    if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
    return Number.isInteger(value) ? value.toFixed(1) : String(value);
  }
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (Array.isArray(value)) return "an array";
  if (isTable(value)) return "a table";
  return String(value);
}

/** A TOML table (the parser's objects, not arrays or dates). */
export function isTable(value: TomlValue): value is Record<string, TomlValue> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** Checks a setting's value (strings already expanded) against its kind. */
export function checkValue(kind: ValueKind, value: TomlValue): Checked<number | boolean> {
  switch (kind.type) {
    case "boolean":
      return typeof value === "boolean"
        ? { ok: true, value }
        : { ok: false, message: `must be true or false, got ${describeValue(value)}` };
    case "integer":
      return checkInteger(value, kind.min);
    case "duration":
      return checkDuration(value, kind.minMs);
    case "size":
      return checkSize(value, kind.minBytes);
  }
}

/** A TOML integer (not a float, not a string) of at least `min`. */
export function checkInteger(value: TomlValue, min: number): Checked<number> {
  if (typeof value === "bigint" && value >= BigInt(min) && value <= Number.MAX_SAFE_INTEGER) {
    return { ok: true, value: Number(value) };
  }
  return { ok: false, message: `must be a whole number >= ${min}, got ${describeValue(value)}` };
}

function checkDuration(value: TomlValue, minMs: number): Checked<number> {
  const bound = minMs === 0 ? ">= 0" : minMs === 1 ? "> 0" : `>= ${formatDuration(minMs)}`;
  const failed: Checked<number> = {
    ok: false,
    message: `must be a duration ${bound} ("500ms", "5s", "1m", "1h" or whole seconds), got ${
      describeValue(value)
    }`,
  };
  let ms: number;
  if (typeof value === "bigint") {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER) / 1000n) return failed;
    ms = Number(value) * 1000;
  } else if (typeof value === "string") {
    try {
      ms = parseDuration(value, "duration");
    } catch {
      return failed;
    }
    if (!Number.isSafeInteger(ms)) return failed;
  } else {
    return failed; // Floats too: "1.5s" says what a bare 1.5 leaves to guesswork.
  }
  return ms >= minMs ? { ok: true, value: ms } : failed;
}

function checkSize(value: TomlValue, minBytes: number): Checked<number> {
  const failed: Checked<number> = {
    ok: false,
    message: `must be a size >= ${formatBytes(minBytes)} ("512MiB", "1GiB" or whole bytes), got ${
      describeValue(value)
    }`,
  };
  let bytes: number;
  if (typeof value === "bigint") {
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) return failed;
    bytes = Number(value);
  } else if (typeof value === "string") {
    try {
      bytes = parseSize(value, "size");
    } catch {
      return failed;
    }
  } else {
    return failed;
  }
  return Number.isSafeInteger(bytes) && bytes >= minBytes ? { ok: true, value: bytes } : failed;
}

function formatBytes(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}`;
}

/** One of `choices`, with a "did you mean" for a near miss. */
export function checkEnum<T extends string>(
  value: TomlValue,
  choices: readonly T[],
): Checked<T> {
  if (typeof value === "string" && (choices as readonly string[]).includes(value)) {
    return { ok: true, value: value as T };
  }
  const near = typeof value === "string" ? suggest(value, choices) : undefined;
  const list = choices.map((c) => `"${c}"`).join(", ");
  return {
    ok: false,
    message: `must be one of ${list}, got ${describeValue(value)}${
      near ? `; did you mean "${near}"?` : ""
    }`,
  };
}

/** An `http://` or `https://` URL. */
export function checkHttpUrl(value: string): Checked<string> {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url && (url.username || url.password)) {
    // Never echo it: the value holds a secret.
    return {
      ok: false,
      message: "must not carry credentials; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    };
  }
  return url && (url.protocol === "http:" || url.protocol === "https:") && url.host !== ""
    ? { ok: true, value }
    : { ok: false, message: `must be an http:// or https:// URL, got "${value}"` };
}

/** Storage classes objects can be read back from at once (a restore cannot wait for a thaw). */
export const STORAGE_CLASSES = [
  "STANDARD",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER_IR",
  "REDUCED_REDUNDANCY",
  "EXPRESS_ONEZONE",
] as const;

/** An S3 storage class walsync can restore from without a thaw. */
export function checkStorageClass(value: string): Checked<string> {
  if ((STORAGE_CLASSES as readonly string[]).includes(value)) return { ok: true, value };
  if (value === "GLACIER" || value === "DEEP_ARCHIVE") {
    return {
      ok: false,
      message:
        `"${value}" needs a thaw before every read, so restores would fail; use GLACIER_IR or a lifecycle rule on old snapshots`,
    };
  }
  return checkEnum(value, STORAGE_CLASSES);
}
