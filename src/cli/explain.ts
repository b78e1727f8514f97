/**
 * `walsync explain`: prints the fully resolved configuration — every database with its
 * replica and effective settings, and where each value comes from — without doing anything.
 */
import { resolveDatabases } from "../config/config_file.ts";
import {
  COMPACTION_FLAG_SPEC,
  describeCompactionPolicy,
  resolveCompactionPolicy,
} from "../config/compaction_settings.ts";
import { SYNC_TOML_KEYS, SYNC_VALUE_KINDS, type SyncSettings } from "../config/config_schema.ts";
import { formatDuration } from "../config/duration.ts";
import {
  describeSource,
  type EffectiveSettings,
  effectiveSettings,
  parseSyncFlags,
} from "../config/effective_settings.ts";
import { absolutePath, type FlagSpec, parseCommandArgs } from "./args.ts";
import {
  configDatabaseFor,
  loadCommandConfig,
  openCommandReplica,
  replicaNameFor,
  replicaSettings,
  SYNC_FLAG_SPEC,
} from "./command_config.ts";
import { describeOps } from "./watch_ops.ts";
import { EXIT_OK } from "./exit_codes.ts";
import { writeJson, writeOut } from "./output.ts";
import { REPLICA_FLAGS, REPLICA_FLAGS_HELP } from "./replica_flags.ts";

export const EXPLAIN_HELP = `Usage: walsync explain [DB...] [--config FILE] [watch options] [--json]

Prints what "walsync watch" would do with the same arguments, without doing anything: the
config file read, the replica, every database (globs expanded now) with its replica name and
the effective value of every setting, each marked with where it comes from (a flag, its
[[databases]] entry, [sync], or the default). Exit code 2 and every problem listed when the
configuration is invalid.

Options:
${REPLICA_FLAGS_HELP}
      --json              Print the resolved configuration as JSON
  Every setting flag of "walsync watch" (--sync-interval, --snapshot-interval, --max-changes,
  --max-interval, --on-idle, --on-startup, --checkpoint-pages, --checkpoint-idle,
  --truncate-pages, --max-staging) and of compaction and retention (--compaction-levels,
  --pitr, --retain-hourly, --retain-daily, --retain-weekly, --retain-monthly, --l0-linger)
  is accepted, to show its effect.

Examples:
  walsync explain
  walsync explain --config /etc/walsync.toml --json
  walsync explain --config /etc/walsync.toml --sync-interval 5s`;

const EXPLAIN_FLAGS: FlagSpec = {
  ...REPLICA_FLAGS,
  ...SYNC_FLAG_SPEC,
  ...COMPACTION_FLAG_SPEC,
  json: { type: "boolean" },
};

interface ExplainedDatabase {
  name: string;
  path: string;
  exists: boolean;
  /** "databases[0] (line 9)", or "command line". */
  from: string;
  replica: string | null;
  settings: EffectiveSettings;
}

export async function explainCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("explain", args, EXPLAIN_FLAGS);
  if (parsed.values.help) {
    writeOut(EXPLAIN_HELP);
    return EXIT_OK;
  }
  const flags = parseSyncFlags(parsed.values);
  const config = await loadCommandConfig(parsed);
  const settings = replicaSettings(parsed, config);
  // Opening checks the URL; nothing is contacted until the first request.
  const client = settings.url ? await openCommandReplica("explain", parsed, config) : null;
  // `-b file:///dir` over a config made for S3 uses none of [s3]'s S3 settings: do not list them.
  const replica: Partial<typeof settings> = client?.kind === "file"
    ? { url: settings.url }
    : settings;
  const databases: ExplainedDatabase[] = [];
  const replicaFor = (name: string) =>
    client ? `${client.location.replace(/\/$/, "")}/${name}` : null;
  if (parsed.positionals.length > 0) {
    for (const arg of parsed.positionals) {
      const path = absolutePath(arg);
      const match = configDatabaseFor(config, path);
      const name = replicaNameFor(config, path);
      databases.push({
        name,
        path,
        exists: await exists(path),
        from: "command line",
        replica: replicaFor(name),
        settings: effectiveSettings(flags, config, match?.entry ?? null),
      });
    }
  } else if (config) {
    for (const database of await resolveDatabases(config)) {
      databases.push({
        name: database.name,
        path: database.path,
        exists: await exists(database.path),
        from: `databases[${database.entry.index}] (line ${database.entry.line})`,
        replica: replicaFor(database.name),
        settings: effectiveSettings(flags, config, database.entry),
      });
    }
  }
  const global = effectiveSettings(flags, config, null);
  const compaction = resolveCompactionPolicy(parsed.values, config?.compaction);
  const sourceOf = (flag: string, fromConfig: { line: number } | undefined, flagSet: boolean) =>
    flagSet ? `flag --${flag}` : fromConfig ? `[s3] (line ${fromConfig.line})` : "default";

  if (parsed.values.json) {
    writeJson({
      config: config?.file ?? null,
      replica: {
        url: replica.url ?? null,
        location: client?.location ?? null,
        source: sourceOf("bucket", config?.s3.bucket, parsed.values.bucket !== undefined),
        endpoint: replica.endpoint ?? null,
        region: replica.region ?? null,
        forcePathStyle: replica.forcePathStyle ?? null,
        storageClass: replica.storageClass ?? null,
        sseKmsKeyId: replica.sseKmsKeyId ?? null,
      },
      log: { format: config?.log.format ?? null, level: config?.log.level ?? "info" },
      metrics: describeOps(config, global.syncIntervalMs.value).json,
      settings: jsonSettings(global),
      compaction: {
        levelIntervalsMs: compaction.policy.levelIntervalsMs,
        source: compaction.sources.levels,
      },
      retention: {
        pitrMs: compaction.policy.pitrMs,
        ...compaction.policy.snapshots,
        l0LingerMs: compaction.policy.l0LingerMs,
        sources: compaction.sources,
      },
      patterns: (config?.databases ?? []).map((entry) => ({
        entry: `databases[${entry.index}]`,
        line: entry.line,
        path: entry.path,
        glob: entry.glob,
        name: entry.name ?? null,
      })),
      databases: databases.map((d) => ({
        name: d.name,
        path: d.path,
        exists: d.exists,
        from: d.from,
        replica: d.replica,
        settings: jsonSettings(d.settings),
      })),
    });
    return EXIT_OK;
  }

  const lines: string[] = [];
  lines.push(`config      ${config ? config.file : "none (no --config, no ./walsync.toml)"}`);
  lines.push(
    `replica     ${client?.location ?? "none: give -b URL or [s3] bucket"}${
      replica.url
        ? `  (${sourceOf("bucket", config?.s3.bucket, parsed.values.bucket !== undefined)})`
        : ""
    }`,
  );
  if (replica.endpoint) {
    lines.push(
      `endpoint    ${replica.endpoint}  (${
        sourceOf("endpoint", config?.s3.endpoint, parsed.values.endpoint !== undefined)
      })`,
    );
  }
  if (replica.region) {
    lines.push(`region      ${replica.region}  ([s3] (line ${config!.s3.region!.line}))`);
  }
  if (replica.forcePathStyle !== undefined) {
    lines.push(
      `path style  ${replica.forcePathStyle}  ([s3] (line ${config!.s3.forcePathStyle!.line}))`,
    );
  }
  if (replica.storageClass) {
    lines.push(
      `storage     ${replica.storageClass}  ([s3] (line ${config!.s3.storageClass!.line}))`,
    );
  }
  if (replica.sseKmsKeyId) {
    lines.push(`sse-kms     ${replica.sseKmsKeyId}  ([s3] (line ${config!.s3.sseKmsKeyId!.line}))`);
  }
  lines.push(
    `log         format ${config?.log.format ?? "text on a terminal, json otherwise"}, level ${
      config?.log.level ?? "info"
    }`,
  );
  lines.push(...describeOps(config, global.syncIntervalMs.value).lines);
  lines.push(...describeCompactionPolicy(compaction.policy, compaction.sources));
  lines.push("");
  lines.push("settings (for databases without their own):");
  lines.push(...settingLines(global, "  "));
  for (const entry of config?.databases ?? []) {
    if (!entry.glob) continue;
    const count = databases.filter((d) => d.from.startsWith(`databases[${entry.index}]`)).length;
    lines.push("");
    lines.push(
      `glob databases[${entry.index}] (line ${entry.line}): ${entry.path} → ${count} database${
        count === 1 ? "" : "s"
      } now, listed again every 10s while watching`,
    );
  }
  lines.push("");
  lines.push(`databases (${databases.length}):`);
  for (const database of databases) {
    lines.push(`  ${database.name}`);
    lines.push(`    path     ${database.path}${database.exists ? "" : "  (does not exist yet)"}`);
    lines.push(`    from     ${database.from}`);
    if (database.replica) lines.push(`    replica  ${database.replica}`);
    const own = settingLines(database.settings, "    ", (source) => source !== "default");
    lines.push(...own);
  }
  writeOut(lines.join("\n"));
  return EXIT_OK;
}

function settingLines(
  settings: EffectiveSettings,
  indent: string,
  filter: (source: string) => boolean = () => true,
): string[] {
  const lines: string[] = [];
  for (const field of Object.keys(settings) as (keyof SyncSettings)[]) {
    const { value, source } = settings[field];
    const from = describeSource(source);
    if (!filter(from)) continue;
    const key = SYNC_TOML_KEYS[field].padEnd(18);
    lines.push(`${indent}${key}${formatValue(field, value).padEnd(10)}${from}`);
  }
  return lines;
}

function jsonSettings(settings: EffectiveSettings): Record<string, unknown> {
  return Object.fromEntries(
    (Object.keys(settings) as (keyof SyncSettings)[]).map((field) => [
      SYNC_TOML_KEYS[field],
      {
        value: settings[field].value,
        text: formatValue(field, settings[field].value),
        source: describeSource(settings[field].source),
      },
    ]),
  );
}

function formatValue(field: keyof SyncSettings, value: number | boolean): string {
  const kind = SYNC_VALUE_KINDS[field];
  if (kind.type === "duration") return value === 0 ? "0 (off)" : formatDuration(value as number);
  if (kind.type === "size") return formatSize(value as number);
  if (field === "maxChanges" && value === 0) return "0 (off)";
  return String(value);
}

function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
