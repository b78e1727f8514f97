/**
 * Compaction levels and retention from walsync.toml and flags:
 *
 *     [[compaction.levels]]      # up to 8; default 30s, 5m, 1h (Litestream's)
 *     interval = "30s"
 *     [retention]
 *     pitr = "24h"               # every position this far back stays restorable
 *     hourly = 24                # snapshots kept beyond the window, per period
 *     l0_linger = "5m"           # level-0 files stay at least this long
 *
 * Flags (watch, compact): --compaction-levels 30s,5m,1h (or "off"), --pitr D,
 * --retain-hourly N, --retain-daily N, --retain-weekly N, --retain-monthly N, --l0-linger D.
 */
import {
  type CompactionPolicy,
  DEFAULT_COMPACTION_POLICY,
  MAX_COMPACTION_LEVELS,
} from "../compact/policy.ts";
import { UsageError } from "../errors.ts";
import { formatDuration } from "./duration.ts";
import {
  type Checked,
  checkInteger,
  checkValue,
  describeValue,
  isTable,
  type TomlValue,
} from "./config_schema.ts";

/** What walsync.toml sets (only what it sets), with the line of each. */
export interface CompactionConfig {
  levelIntervalsMs?: number[];
  levelsLine?: number;
  pitrMs?: number;
  l0LingerMs?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  lines: Record<string, number>;
}

/** `[retention]` keys and what each takes. */
export const RETENTION_KEYS = ["pitr", "hourly", "daily", "weekly", "monthly", "l0_linger"];

export const COMPACTION_FLAG_SPEC = {
  "compaction-levels": { type: "string" },
  pitr: { type: "string" },
  "retain-hourly": { type: "string" },
  "retain-daily": { type: "string" },
  "retain-weekly": { type: "string" },
  "retain-monthly": { type: "string" },
  "l0-linger": { type: "string" },
} as const;

export const COMPACTION_FLAGS_HELP = `      --compaction-levels LIST
                          Compaction level intervals, comma-separated, up to 8 (default
                          30s,5m,1h as Litestream; "off" keeps every level-0 file)
      --pitr D            Every position this far back stays restorable (default 24h)
      --retain-hourly N   Snapshots kept beyond the window: the newest of each of the last N
                          hours that have one (default 24; UTC, as restic's --keep-hourly)
      --retain-daily N    Likewise per day (default 7)
      --retain-weekly N   Likewise per ISO week (default 12)
      --retain-monthly N  Likewise per month (default 12)
      --l0-linger D       Level-0 files stay at least D after they were written, for
                          restores that planned with them (default 5m)`;

type Report = (path: (string | number)[], message: string) => void;

/** Reads `[compaction]` (a table with `levels`, an array of `{ interval }` tables). */
export function readCompactionSection(
  value: TomlValue,
  report: Report,
  lineOf: (path: (string | number)[]) => number,
  into: CompactionConfig,
): void {
  if (!isTable(value)) {
    report(["compaction"], `compaction must be a table, got ${describeValue(value)}`);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key !== "levels") {
      report(["compaction", key], `unknown key "${key}" in [compaction]; did you mean "levels"?`);
      continue;
    }
    if (!Array.isArray(item)) {
      report(["compaction", "levels"], `compaction.levels must be [[compaction.levels]] tables`);
      continue;
    }
    if (item.length > MAX_COMPACTION_LEVELS) {
      report(
        ["compaction", "levels"],
        `compaction.levels has ${item.length} levels; at most ${MAX_COMPACTION_LEVELS}`,
      );
      continue;
    }
    const intervals: number[] = [];
    for (const [i, level] of item.entries()) {
      const at = ["compaction", "levels", i];
      if (!isTable(level)) {
        report(at, `compaction.levels[${i}] must be a table with interval = "30s"`);
        continue;
      }
      for (const k of Object.keys(level)) {
        if (k !== "interval") {
          report([...at, k], `unknown key "${k}" in [[compaction.levels]]; it takes interval`);
        }
      }
      const checked = checkValue({ type: "duration", minMs: 1 }, level.interval);
      if (!checked.ok) {
        report([...at, "interval"], `compaction.levels[${i}].interval ${checked.message}`);
      } else intervals.push(checked.value as number);
    }
    into.levelIntervalsMs = intervals;
    into.levelsLine = lineOf(["compaction", "levels"]);
  }
}

/** Reads one `[retention]` key. */
export function readRetentionKey(
  key: string,
  value: TomlValue,
  report: Report,
  line: number,
  into: CompactionConfig,
): void {
  if (key === "pitr" || key === "l0_linger") {
    const checked = checkValue({ type: "duration", minMs: 0 }, value);
    if (!checked.ok) return report(["retention", key], `retention.${key} ${checked.message}`);
    if (key === "pitr") into.pitrMs = checked.value as number;
    else into.l0LingerMs = checked.value as number;
  } else {
    const checked = checkInteger(value, 0);
    if (!checked.ok) return report(["retention", key], `retention.${key} ${checked.message}`);
    into[key as "hourly" | "daily" | "weekly" | "monthly"] = checked.value;
  }
  into.lines[key] = line;
}

/** The policy a command runs with, and where each part came from (for `explain`). */
export function resolveCompactionPolicy(
  flags: Record<string, unknown>,
  config: CompactionConfig | undefined,
): { policy: CompactionPolicy; sources: Record<string, string> } {
  const d = DEFAULT_COMPACTION_POLICY;
  const sources: Record<string, string> = {};
  const pick = <T>(
    key: string,
    flag: string,
    parse: (raw: string) => T,
    file: T | undefined,
    def: T,
  ): T => {
    const raw = flags[flag];
    if (typeof raw === "string") {
      sources[key] = `flag --${flag}`;
      return parse(raw);
    }
    if (file !== undefined) {
      sources[key] = `[${key === "levels" ? "compaction" : "retention"}] (line ${
        key === "levels" ? config?.levelsLine : config?.lines[key]
      })`;
      return file;
    }
    sources[key] = "default";
    return def;
  };
  const duration = (flag: string) => (raw: string) => unwrap(flag, parseDurationFlag(raw));
  const count = (flag: string) => (raw: string) =>
    unwrap(flag, /^\d+$/.test(raw) ? checkInteger(BigInt(raw), 0) : checkInteger(raw, 0));
  const policy: CompactionPolicy = {
    levelIntervalsMs: pick("levels", "compaction-levels", parseLevels, config?.levelIntervalsMs, [
      ...d.levelIntervalsMs,
    ]),
    pitrMs: pick("pitr", "pitr", duration("pitr"), config?.pitrMs, d.pitrMs),
    l0LingerMs: pick(
      "l0_linger",
      "l0-linger",
      duration("l0-linger"),
      config?.l0LingerMs,
      d.l0LingerMs,
    ),
    snapshots: {
      hourly: pick(
        "hourly",
        "retain-hourly",
        count("retain-hourly"),
        config?.hourly,
        d.snapshots.hourly,
      ),
      daily: pick("daily", "retain-daily", count("retain-daily"), config?.daily, d.snapshots.daily),
      weekly: pick(
        "weekly",
        "retain-weekly",
        count("retain-weekly"),
        config?.weekly,
        d.snapshots.weekly,
      ),
      monthly: pick(
        "monthly",
        "retain-monthly",
        count("retain-monthly"),
        config?.monthly,
        d.snapshots.monthly,
      ),
    },
  };
  return { policy, sources };
}

/** One line per setting, for `explain`. */
export function describeCompactionPolicy(
  policy: CompactionPolicy,
  sources: Record<string, string>,
): string[] {
  const levels = policy.levelIntervalsMs.length === 0
    ? "off (every level-0 file is kept)"
    : policy.levelIntervalsMs.map((ms, i) => `${i + 1}: ${formatDuration(ms)}`).join(", ");
  const s = policy.snapshots;
  return [
    `compaction  levels ${levels}, snapshots at level 9  (${sources.levels})`,
    `retention   pitr ${
      formatDuration(policy.pitrMs)
    } (${sources.pitr}); snapshots beyond it: hourly ${s.hourly}, daily ${s.daily}, weekly ${s.weekly}, monthly ${s.monthly}; l0_linger ${
      formatDuration(policy.l0LingerMs)
    } (${sources.l0_linger})`,
  ];
}

function parseLevels(raw: string): number[] {
  if (raw === "off" || raw === "") return [];
  const parts = raw.split(",").map((p) => p.trim());
  if (parts.length > MAX_COMPACTION_LEVELS) {
    throw new UsageError(
      `--compaction-levels has ${parts.length} levels; at most ${MAX_COMPACTION_LEVELS}`,
    );
  }
  return parts.map((part) => {
    const checked = parseDurationFlag(part, 1);
    if (!checked.ok) throw new UsageError(`--compaction-levels "${part}" ${checked.message}`);
    return checked.value;
  });
}

function parseDurationFlag(raw: string, minMs = 0): Checked<number> {
  const value = /^\d+$/.test(raw) ? BigInt(raw) : raw;
  return checkValue({ type: "duration", minMs }, value) as Checked<number>;
}

function unwrap<T>(flag: string, checked: Checked<T>): T {
  if (!checked.ok) throw new UsageError(`--${flag} ${checked.message}`);
  return checked.value;
}
