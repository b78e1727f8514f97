/**
 * The settings a database actually runs with, and where each came from. Precedence, highest
 * first: a command-line flag, the database's `[[databases]]` entry, `[sync]`, the default.
 */
import { UsageError } from "../errors.ts";
import type { DatabaseEntry, WalsyncConfig } from "./config_file.ts";
import { DEFAULT_SYNC_SETTINGS, type SyncSettings } from "./config_schema.ts";
import { checkValue, SYNC_VALUE_KINDS } from "./config_schema.ts";

/** The command-line flag for each setting (`watch --sync-interval 5s`). */
export const SYNC_FLAGS: Record<keyof SyncSettings, string> = {
  syncIntervalMs: "sync-interval",
  snapshotIntervalMs: "snapshot-interval",
  maxChanges: "max-changes",
  maxIntervalMs: "max-interval",
  onIdleMs: "on-idle",
  onStartup: "on-startup",
  checkpointPages: "checkpoint-pages",
  checkpointIdleMs: "checkpoint-idle",
  truncatePages: "truncate-pages",
  idleReleaseMs: "idle-release",
  maxStagingBytes: "max-staging",
  maxOpen: "max-open",
};

export type SettingSource =
  | { kind: "flag"; flag: string }
  | { kind: "database"; index: number; line: number }
  | { kind: "sync"; line: number }
  | { kind: "default" };

export type EffectiveSettings = {
  [K in keyof SyncSettings]: { value: SyncSettings[K]; source: SettingSource };
};

/** Checks flag values with the same rules as walsync.toml; errors name the flag. */
export function parseSyncFlags(
  values: Record<string, string | boolean | undefined>,
): Partial<SyncSettings> {
  const settings: Partial<SyncSettings> = {};
  for (const [field, flag] of Object.entries(SYNC_FLAGS) as [keyof SyncSettings, string][]) {
    const raw = values[flag];
    if (raw === undefined) continue;
    const kind = SYNC_VALUE_KINDS[field];
    let value: unknown = raw;
    if (kind.type === "integer" && typeof raw === "string" && /^\d+$/.test(raw)) {
      value = BigInt(raw);
    }
    if (kind.type === "boolean" && typeof raw === "string") {
      value = raw === "true" ? true : raw === "false" ? false : raw;
    }
    if (kind.type === "duration" && typeof raw === "string" && /^\d+$/.test(raw)) {
      value = BigInt(raw); // integer seconds, as in walsync.toml
    }
    const checked = checkValue(kind, value);
    if (!checked.ok) throw new UsageError(`--${flag} ${checked.message}`);
    (settings as Record<string, unknown>)[field] = checked.value;
  }
  return settings;
}

/** Resolves every setting for one database (`entry` null: not in the config). */
export function effectiveSettings(
  flags: Partial<SyncSettings>,
  config: WalsyncConfig | null,
  entry: DatabaseEntry | null,
): EffectiveSettings {
  const result: Record<string, { value: unknown; source: SettingSource }> = {};
  for (const field of Object.keys(DEFAULT_SYNC_SETTINGS) as (keyof SyncSettings)[]) {
    if (flags[field] !== undefined) {
      result[field] = { value: flags[field], source: { kind: "flag", flag: SYNC_FLAGS[field] } };
    } else if (entry && entry.overrides[field] !== undefined) {
      result[field] = {
        value: entry.overrides[field],
        source: { kind: "database", index: entry.index, line: entry.overrideLines[field] ?? 0 },
      };
    } else if (config && config.sync[field] !== undefined) {
      result[field] = {
        value: config.sync[field],
        source: { kind: "sync", line: config.syncLines[field] ?? 0 },
      };
    } else {
      result[field] = { value: DEFAULT_SYNC_SETTINGS[field], source: { kind: "default" } };
    }
  }
  return result as EffectiveSettings;
}

/** Just the values. */
export function settingValues(effective: EffectiveSettings): SyncSettings {
  return Object.fromEntries(
    Object.entries(effective).map(([field, { value }]) => [field, value]),
  ) as unknown as SyncSettings;
}

/** "flag --sync-interval", "databases[1] (line 14)", "[sync] (line 6)", "default". */
export function describeSource(source: SettingSource): string {
  switch (source.kind) {
    case "flag":
      return `flag --${source.flag}`;
    case "database":
      return `databases[${source.index}] (line ${source.line})`;
    case "sync":
      return `[sync] (line ${source.line})`;
    case "default":
      return "default";
  }
}
