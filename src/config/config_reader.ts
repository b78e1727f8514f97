/**
 * Walks a parsed walsync.toml document section by section, checking every key and value
 * and collecting a problem (key, line, message) for each thing wrong instead of stopping at
 * the first.
 */
import { readCompactionSection, readRetentionKey } from "./compaction_settings.ts";
import { UsageError } from "../errors.ts";
import { validateReplicaName } from "../replica/replica_path.ts";
import { parseReplicaUrl } from "../replica/replica_url.ts";
import type { ConfigProblem, DatabaseEntry, WalsyncConfig } from "./config_file.ts";
import {
  checkEnum,
  checkHttpUrl,
  checkStorageClass,
  checkValue,
  describeValue,
  GLOBAL_ONLY_SYNC_KEYS,
  isTable,
  LOG_FORMATS,
  LOG_LEVELS,
  SECTION_KEYS,
  SYNC_KEYS,
  SYNC_VALUE_KINDS,
  type SyncSettings,
  type TomlValue,
} from "./config_schema.ts";
import { suggest } from "./did_you_mean.ts";
import { type EnvLookup, expandEnv } from "./env_expand.ts";
import { globRoot, isGlob, isSideFile, resolvePath } from "./glob.ts";
import { readMetricsKey } from "./metrics_config.ts";
import type { LineLookup } from "./toml_lines.ts";

export interface ReadOptions {
  /** The file as messages name it. */
  file: string;
  /** Its absolute path; relative database paths are resolved against its directory. */
  absoluteFile: string;
  lineOf: LineLookup;
  env: EnvLookup;
}

/** The config a parsed document describes, and every problem found in it, by line. */
export function readConfigDocument(
  document: Record<string, TomlValue>,
  options: ReadOptions,
): { config: WalsyncConfig; problems: ConfigProblem[] } {
  const { absoluteFile } = options;
  const config: WalsyncConfig = {
    file: absoluteFile,
    s3: {},
    sync: {},
    syncLines: {},
    compaction: { lines: {} },
    log: {},
    databases: [],
  };
  const checker = new Checker(options.file, options.lineOf, options.env);
  const configDir = absoluteFile.slice(0, absoluteFile.lastIndexOf("/")) || "/";
  for (const [key, value] of Object.entries(document)) {
    if (key === "databases") {
      readDatabases(checker, value, configDir, config);
      continue;
    }
    if (key === "compaction") {
      readCompactionSection(
        value,
        (p, m) => checker.report(p, m),
        (p) => checker.line(p),
        config.compaction,
      );
      continue;
    }
    if (key === "exec") {
      const command = checker.string([key], value);
      if (command !== undefined && command.trim() === "") {
        checker.report([key], 'exec must name a command, e.g. exec = "/app/server --port 8080"');
      } else if (command !== undefined) {
        config.exec = { value: command, line: checker.line([key]) };
      }
      continue;
    }
    if (!Object.hasOwn(SECTION_KEYS, key)) {
      checker.unknownTopLevel(key, value);
      continue;
    }
    if (!isTable(value)) {
      checker.report([key], `${key} must be a table ([${key}]), got ${describeValue(value)}`);
      continue;
    }
    for (const [name, setting] of Object.entries(value)) {
      const path = [key, name];
      if (!SECTION_KEYS[key].includes(name)) checker.unknownKey(path, `[${key}]`);
      else if (key === "s3") readS3(checker, name, setting, { config, configDir });
      else if (key === "sync") readSync(checker, path, setting, config.sync, config.syncLines);
      else if (key === "retention") {
        readRetentionKey(
          name,
          setting,
          (p, m) => checker.report(p, m),
          checker.line(path),
          config.compaction,
        );
      } else if (key === "compaction") continue;
      else if (key === "metrics") {
        const expanded = checker.expanded(path, setting);
        const problem = expanded === undefined
          ? null
          : readMetricsKey(name, expanded, config.metrics ??= {});
        if (problem) checker.report(path, problem);
      } else readLog(checker, name, setting, config);
    }
  }
  checkS3SettingsApply(checker, config);
  return { config, problems: checker.sortedProblems() };
}

/** A key path as problems print it: `databases[1].max_changes`. */
type KeyPath = (string | number)[];

class Checker {
  readonly problems: ConfigProblem[] = [];

  constructor(readonly file: string, readonly lineOf: LineLookup, readonly env: EnvLookup) {}

  line(path: KeyPath): number {
    return this.lineOf(path.map(String));
  }

  report(path: KeyPath, message: string): void {
    this.problems.push({ file: this.file, line: this.line(path), key: keyName(path), message });
  }

  /** A string value, expanded; reports a wrong type or unset variable and returns undefined. */
  string(path: KeyPath, value: TomlValue): string | undefined {
    if (typeof value !== "string") {
      this.report(path, `${keyName(path)} must be a string, got ${describeValue(value)}`);
      return undefined;
    }
    try {
      return expandEnv(value, this.env);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      this.report(path, `${keyName(path)}: ${error.message}`);
      return undefined;
    }
  }

  /** Expands a value if it is a string, else passes it through for the type check. */
  expanded(path: KeyPath, value: TomlValue): TomlValue | undefined {
    return typeof value === "string" ? this.string(path, value) : value;
  }

  unknownKey(path: KeyPath, where: string): void {
    const key = String(path[path.length - 1]);
    const section = String(path[0]);
    const near = suggest(key, SECTION_KEYS[section]);
    let hint = near ? `; did you mean "${near}"?` : "";
    if (section === "databases" && GLOBAL_ONLY_SYNC_KEYS.includes(key)) {
      hint = `; ${key} applies to all databases, so set it in [sync]`;
    }
    this.report(path, `unknown key "${key}" in ${where}${hint}`);
  }

  unknownTopLevel(key: string, value: TomlValue): void {
    const isArrayOfTables = Array.isArray(value) && value.length > 0 && value.every(isTable);
    if (isTable(value) || isArrayOfTables) {
      const label = isArrayOfTables ? `[[${key}]]` : `[${key}]`;
      const near = suggest(key, Object.keys(SECTION_KEYS));
      const hint = near ? `; did you mean ${sectionLabel(near)}?` : "";
      this.report([key], `unknown section ${label}${hint}`);
      return;
    }
    const home = Object.keys(SECTION_KEYS).find((s) => SECTION_KEYS[s].includes(key));
    const hint = home ? `; it belongs in ${sectionLabel(home)}` : "";
    this.report([key], `unknown key "${key}" at the top level${hint}`);
  }

  /** Problems in line order (the sort is stable: one line's problems keep their order). */
  sortedProblems(): ConfigProblem[] {
    return [...this.problems].sort((a, b) => a.line - b.line);
  }
}

function sectionLabel(section: string): string {
  return section === "databases" ? "[[databases]]" : `[${section}]`;
}

function keyName(path: KeyPath): string {
  return path.map((part, i) => typeof part === "number" ? `[${part}]` : i > 0 ? `.${part}` : part)
    .join("");
}

function readS3(
  checker: Checker,
  key: string,
  value: TomlValue,
  into: { config: WalsyncConfig; configDir: string },
): void {
  const { config } = into;
  const path = ["s3", key];
  const line = checker.line(path);
  if (key === "force_path_style") {
    const checked = checkValue({ type: "boolean" }, value);
    if (checked.ok) config.s3.forcePathStyle = { value: checked.value as boolean, line };
    else checker.report(path, `s3.${key} ${checked.message}`);
    return;
  }
  const text = checker.string(path, value);
  if (text === undefined) return;
  if (key === "bucket") {
    // The parser `-b` uses, so a string means the same replica in both places; the config
    // adds only that a bare name is a bucket and that ./dir starts at this file's directory.
    try {
      const replica = parseReplicaUrl(text, { baseDir: into.configDir, bareBucket: true });
      config.s3.bucket = { value: replica.url, line };
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      checker.report(path, `s3.bucket: ${error.message}`);
    }
    return;
  }
  if (key === "region") {
    if (text.trim() === "") checker.report(path, `s3.region must not be empty`);
    else config.s3.region = { value: text, line };
    return;
  }
  if (key === "storage_class") {
    const checked = checkStorageClass(text);
    if (checked.ok) config.s3.storageClass = { value: checked.value, line };
    else checker.report(path, `s3.storage_class ${checked.message}`);
    return;
  }
  if (key === "sse_kms_key_id") {
    if (text.trim() === "") checker.report(path, `s3.sse_kms_key_id must not be empty`);
    else config.s3.sseKmsKeyId = { value: text, line };
    return;
  }
  const checked = checkHttpUrl(text);
  if (!checked.ok) checker.report(path, `s3.${key} ${checked.message}`);
  else config.s3.endpoint = { value: checked.value, line };
}

/** S3-only keys beside a file replica would be ignored without a word: report them. */
function checkS3SettingsApply(checker: Checker, config: WalsyncConfig): void {
  const bucket = config.s3.bucket;
  if (!bucket?.value.startsWith("file:")) return;
  const { endpoint, region, forcePathStyle, storageClass, sseKmsKeyId } = config.s3;
  const s3Only: [string, unknown][] = [
    ["endpoint", endpoint],
    ["region", region],
    ["force_path_style", forcePathStyle],
    ["storage_class", storageClass],
    ["sse_kms_key_id", sseKmsKeyId],
  ];
  for (const [key, setting] of s3Only) {
    if (setting === undefined) continue;
    checker.report(
      ["s3", key],
      `s3.${key} applies to s3:// replicas only, but s3.bucket (line ${bucket.line}) is a file replica ("${bucket.value}")`,
    );
  }
}

/** One `[sync]` (or per-database) setting, stored under its field name with its line. */
function readSync(
  checker: Checker,
  path: KeyPath,
  value: TomlValue,
  into: Partial<SyncSettings>,
  lines: Partial<Record<keyof SyncSettings, number>>,
): void {
  const field = SYNC_KEYS[String(path[path.length - 1])];
  const expanded = checker.expanded(path, value);
  if (expanded === undefined) return;
  const checked = checkValue(SYNC_VALUE_KINDS[field], expanded);
  if (!checked.ok) {
    checker.report(path, `${keyName(path)} ${checked.message}`);
    return;
  }
  (into as Record<string, number | boolean>)[field] = checked.value;
  lines[field] = checker.line(path);
}

function readLog(checker: Checker, key: string, value: TomlValue, config: WalsyncConfig): void {
  const path = ["log", key];
  const expanded = checker.expanded(path, value);
  if (expanded === undefined) return;
  const checked = key === "format"
    ? checkEnum(expanded, LOG_FORMATS)
    : checkEnum(expanded, LOG_LEVELS);
  if (!checked.ok) checker.report(path, `log.${key} ${checked.message}`);
  else if (key === "format") config.log.format = checked.value as "text" | "json";
  else config.log.level = checked.value as WalsyncConfig["log"]["level"];
}

function readDatabases(
  checker: Checker,
  value: TomlValue,
  baseDir: string,
  config: WalsyncConfig,
): void {
  if (!Array.isArray(value)) {
    const got = describeValue(value);
    checker.report(["databases"], `databases must be [[databases]] tables, got ${got}`);
    return;
  }
  for (const [index, item] of value.entries()) {
    const at: KeyPath = ["databases", index];
    if (!isTable(item)) {
      const got = describeValue(item);
      checker.report(at, `databases[${index}] must be a table ([[databases]]), got ${got}`);
      continue;
    }
    const entry = readDatabase(checker, index, item, baseDir);
    if (entry) config.databases.push(entry);
  }
}

function readDatabase(
  checker: Checker,
  index: number,
  table: Record<string, TomlValue>,
  baseDir: string,
): DatabaseEntry | undefined {
  const at: KeyPath = ["databases", index];
  const before = checker.problems.length;
  const entry: DatabaseEntry = {
    index,
    line: checker.line(at),
    path: "",
    glob: false,
    root: "",
    overrides: {},
    overrideLines: {},
  };
  for (const [key, value] of Object.entries(table)) {
    const path = [...at, key];
    if (!SECTION_KEYS.databases.includes(key)) {
      checker.unknownKey(path, `databases[${index}]`);
    } else if (key === "path") {
      const given = checker.string(path, value);
      if (given === undefined) continue;
      const problem = given === ""
        ? "must not be empty"
        : given.endsWith("/")
        ? `"${given}" names a directory; give a database file or a glob such as "${given}*.db"`
        : isSideFile(given)
        ? `"${given}" is a SQLite side file; give the database file itself`
        : undefined;
      if (problem) {
        checker.report(path, `databases[${index}].path ${problem}`);
        continue;
      }
      entry.path = resolvePath(baseDir, given);
      entry.glob = isGlob(entry.path);
      entry.root = globRoot(entry.path);
    } else if (key === "name") {
      const name = checker.string(path, value);
      if (name === undefined) continue;
      try {
        entry.name = validateReplicaName(name);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        checker.report(path, `databases[${index}].name: ${error.message}`);
      }
    } else {
      readSync(checker, path, value, entry.overrides, entry.overrideLines);
    }
  }
  if (!Object.hasOwn(table, "path")) {
    checker.report(at, `databases[${index}] has no path; every [[databases]] entry needs one`);
  }
  return checker.problems.length === before ? entry : undefined;
}
