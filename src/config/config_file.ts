/**
 * The strict `walsync.toml` loader. Every problem (syntax, unknown section or key, wrong
 * type, value out of range, unset environment variable, missing database path, replica-name
 * collision) names its key, file and line, and all of them are reported together in one
 * `ConfigError` so a run of edits fixes the whole file.
 *
 * String values may use `$VAR` / `${VAR}` (`$$` for a literal `$`); keys may not. Relative
 * database paths are resolved against the config file's directory, not the working
 * directory, and `~` is not expanded (it is a shell feature).
 */
import { parse, TomlError } from "smol-toml";
import { UsageError } from "../errors.ts";
import { validateReplicaName } from "../replica/replica_path.ts";
import { readConfigDocument } from "./config_reader.ts";
import type { SyncSettings, TomlValue } from "./config_schema.ts";
import type { CompactionConfig } from "./compaction_settings.ts";
import type { EnvLookup } from "./env_expand.ts";
import { defaultName, expandGlob, resolvePath } from "./glob.ts";
import type { MetricsConfig } from "./metrics_config.ts";
import { tomlLines } from "./toml_lines.ts";

/** A value with the line it was set on. */
export interface Located<T> {
  value: T;
  line: number;
}

/** One `[[databases]]` entry. */
export interface DatabaseEntry {
  index: number;
  /** Line of its `[[databases]]` header. */
  line: number;
  /** Absolute, after `$VAR` expansion; a file path or a glob. */
  path: string;
  glob: boolean;
  /** The glob's fixed leading directory; for a literal path, its directory. */
  root: string;
  /** The replica name of a literal path; a prefix for a glob's names. */
  name?: string;
  /** Only the settings this entry sets. */
  overrides: Partial<SyncSettings>;
  overrideLines: Partial<Record<keyof SyncSettings, number>>;
}

export interface WalsyncConfig {
  /** Absolute path of the config file. */
  file: string;
  s3: {
    bucket?: Located<string>;
    endpoint?: Located<string>;
    region?: Located<string>;
    forcePathStyle?: Located<boolean>;
    storageClass?: Located<string>;
    sseKmsKeyId?: Located<string>;
  };
  /** Only the settings the file sets; defaults are `DEFAULT_SYNC_SETTINGS`. */
  sync: Partial<SyncSettings>;
  syncLines: Partial<Record<keyof SyncSettings, number>>;
  /** `[[compaction.levels]]` and `[retention]`: only what the file sets. */
  compaction: CompactionConfig;
  log: { format?: "text" | "json"; level?: "debug" | "info" | "warn" | "error" };
  databases: DatabaseEntry[];
  /** `[metrics]`: listener, `/health` threshold, heartbeat (absent without the section). */
  metrics?: MetricsConfig;
  /** Top-level `exec`: the application `watch` starts and supervises. */
  exec?: Located<string>;
}

/** One database file to replicate, with its replica name and the entry that chose it. */
export interface ResolvedDatabase {
  path: string;
  name: string;
  entry: DatabaseEntry;
}

/** One thing wrong with a config file. `line` is 0 when it concerns the whole file. */
export interface ConfigProblem {
  file: string;
  line: number;
  /** Key path such as `sync.interval` or `databases[1].path`; "" for the whole file. */
  key: string;
  message: string;
}

/** Everything wrong with a config file, one problem per line. The CLI exits with code 2. */
export class ConfigError extends UsageError {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[], options?: ErrorOptions) {
    super(problems.map(formatProblem).join("\n"), options);
    this.problems = problems;
  }
}

function formatProblem(problem: ConfigProblem): string {
  return problem.line > 0 ? `${problem.file}:${problem.line}: ${problem.message}` : problem.message;
}

/** Reads and checks `file`; throws `ConfigError` listing every problem. */
export async function loadConfig(file: string): Promise<WalsyncConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    const message = error instanceof Deno.errors.NotFound
      ? `Config file "${file}" not found`
      : `Config file "${file}" could not be read: ${(error as Error).message}`;
    throw new ConfigError([{ file, line: 0, key: "", message }], { cause: error });
  }
  return parseConfig(text, file);
}

/**
 * Checks the text of a config file; `file` names it in messages and anchors relative
 * database paths. `env` looks up variables for `$VAR` (default: the process environment).
 */
export function parseConfig(
  text: string,
  file: string,
  env: EnvLookup = (name) => Deno.env.get(name),
): WalsyncConfig {
  let document: Record<string, TomlValue>;
  try {
    document = parse(text, { integersAsBigInt: true, unsafeKeyBehaviour: "throw" });
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // The parser's message is "Invalid TOML document: <reason>\n\n<code excerpt>".
    const reason = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    const yaml = looksLikeYaml(file, text)
      ? `; ${file.slice(file.lastIndexOf("/") + 1)} looks like YAML (a litestream.yml?); ` +
        'walsync.toml is TOML: see "Migrating from Litestream" in the README for the key mapping'
      : "";
    const message = `TOML syntax error: ${reason} (column ${error.column})${yaml}`;
    throw new ConfigError([{ file, line: error.line, key: "", message }], { cause: error });
  }
  const { config, problems } = readConfigDocument(document, {
    file,
    absoluteFile: file.startsWith("/") ? resolvePath("/", file) : resolvePath(Deno.cwd(), file),
    lineOf: tomlLines(text),
    env,
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * A Litestream config handed to walsync: named `.yml`/`.yaml`, or its first line that is not
 * blank or a comment reads `key:` or `- item` (TOML would say `key = value` or `[table]`).
 */
function looksLikeYaml(file: string, text: string): boolean {
  if (/\.ya?ml$/i.test(file)) return true;
  const first = text.split("\n").map((line) => line.trim()).find((line) =>
    line !== "" && !line.startsWith("#")
  );
  return first !== undefined && /^(?:[A-Za-z_][\w-]*:(?:\s|$)|- |---)/.test(first);
}

/**
 * Every database the config names: glob entries expanded against the file system now,
 * literal paths as given (they may not exist yet). Two files with one replica name, or one
 * file matched by two entries, is an error naming both entries and their lines.
 */
export async function resolveDatabases(config: WalsyncConfig): Promise<ResolvedDatabase[]> {
  const problems: ConfigProblem[] = [];
  const report = (entry: DatabaseEntry, message: string) => {
    const key = `databases[${entry.index}]`;
    problems.push({ file: config.file, line: entry.line, key, message });
  };
  const byPath = new Map<string, ResolvedDatabase>();
  const byName = new Map<string, ResolvedDatabase>();
  const resolved: ResolvedDatabase[] = [];
  for (const entry of config.databases) {
    const self = `databases[${entry.index}]`;
    if (!entry.glob && (await isDirectory(entry.path))) {
      const hint = `give a database file or a glob such as "${entry.path}/*.db"`;
      report(entry, `${self}.path "${entry.path}" is a directory; ${hint}`);
      continue;
    }
    for (const path of entry.glob ? await expandGlob(entry.path) : [entry.path]) {
      const name = defaultName(entry, path);
      try {
        validateReplicaName(name);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        report(entry, `${self} matches "${path}": ${error.message}`);
        continue;
      }
      const both = (other: ResolvedDatabase) =>
        `databases[${other.entry.index}] (line ${other.entry.line}) and ${self} (line ${entry.line})`;
      const samePath = byPath.get(path);
      if (samePath) {
        report(entry, `"${path}" is matched by ${both(samePath)}; remove it from one of them`);
        continue;
      }
      const sameName = byName.get(name);
      if (sameName) {
        const files = `"${sameName.path}" and "${path}"`;
        report(
          entry,
          `${files} both get replica name "${name}" from ${
            both(sameName)
          }; set name on one of them to tell them apart`,
        );
        continue;
      }
      const database = { path, name, entry };
      byPath.set(path, database);
      byName.set(name, database);
      resolved.push(database);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return resolved;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
}
