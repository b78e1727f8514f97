/**
 * What every command takes from walsync.toml: the file itself (`--config FILE`, else
 * `./walsync.toml` when present), the replica (`-b`/`--endpoint` beat `[s3]`), and a
 * database's replica name (a path the config names gets the config's name for it).
 */
import { type DatabaseEntry, loadConfig, type WalsyncConfig } from "../config/config_file.ts";
import { checkHttpUrl } from "../config/config_schema.ts";
import { SYNC_FLAGS } from "../config/effective_settings.ts";
import { defaultName, globToRegExp } from "../config/glob.ts";
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { openReplica, parseReplicaUrl } from "../replica/replica_url.ts";
import { absolutePath, type FlagSpec, type ParsedArgs, stringFlag } from "./args.ts";

/** Read when no `--config` is given and it exists in the working directory. */
export const DEFAULT_CONFIG_FILE = "walsync.toml";

export const CONFIG_FLAG: FlagSpec = { config: { type: "string", short: "c" } };

/** `--sync-interval D` … `--max-staging SIZE`: the settings flags of `watch` and `explain`. */
export const SYNC_FLAG_SPEC: FlagSpec = Object.fromEntries(
  Object.values(SYNC_FLAGS).map((flag) => [
    flag,
    { type: flag === SYNC_FLAGS.onStartup ? "boolean" : "string" },
  ]),
);

export const CONFIG_FLAG_HELP =
  `  -c, --config FILE       walsync.toml to read (default ./walsync.toml when it exists)`;

/** `--config FILE` (must exist), else `./walsync.toml` if it exists, else null. */
export async function loadCommandConfig(parsed: ParsedArgs): Promise<WalsyncConfig | null> {
  const explicit = stringFlag(parsed, "config");
  if (explicit !== undefined) return await loadConfig(absolutePath(explicit));
  const local = absolutePath(DEFAULT_CONFIG_FILE);
  try {
    await Deno.stat(local);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return await loadConfig(local);
}

/** The replica URL and S3 settings: flags first, then `[s3]`. */
export function replicaSettings(parsed: ParsedArgs, config: WalsyncConfig | null): {
  url: string | undefined;
  endpoint: string | undefined;
  region: string | undefined;
  forcePathStyle: boolean | undefined;
  storageClass: string | undefined;
  sseKmsKeyId: string | undefined;
} {
  const endpoint = stringFlag(parsed, "endpoint");
  return {
    url: stringFlag(parsed, "bucket") ?? config?.s3.bucket?.value,
    endpoint: endpoint !== undefined
      ? validateEndpoint(endpoint, "--endpoint")
      : config?.s3.endpoint?.value,
    region: config?.s3.region?.value,
    forcePathStyle: config?.s3.forcePathStyle?.value,
    storageClass: config?.s3.storageClass?.value,
    sseKmsKeyId: config?.s3.sseKmsKeyId?.value,
  };
}

/**
 * Opens the replica for `command`; a usage error when neither `-b` nor `[s3] bucket` names one.
 * `-b` replaces the config's replica: with `-b file:///dir`, `[s3]`'s S3 settings (meant for the
 * config's bucket) are left out, while `--endpoint` with a file replica is an error.
 */
export async function openCommandReplica(
  command: string,
  parsed: ParsedArgs,
  config: WalsyncConfig | null,
  options: { logger?: Logger } = {},
): Promise<ReplicaClient> {
  const { url, ...overrides } = replicaSettings(parsed, config);
  if (!url) {
    throw new UsageError(
      `${command} needs a replica: -b file:///dir or -b s3://bucket/prefix, or [s3] bucket in walsync.toml (run "walsync help ${command}")`,
    );
  }
  // A URL from walsync.toml is canonical already (relative paths resolved against its directory).
  const replica = parseReplicaUrl(url, { baseDir: Deno.cwd() });
  if (replica.kind === "file") {
    const endpoint = stringFlag(parsed, "endpoint");
    if (endpoint !== undefined) {
      throw new UsageError(
        `--endpoint "${endpoint}" applies to s3:// replicas only, not to "${url}"; drop it or give -b s3://bucket/prefix`,
      );
    }
    return await openReplica(replica);
  }
  return await openReplica(replica, { ...overrides, logger: options.logger });
}

/** Checks an endpoint with walsync.toml's rules: an http(s) URL without credentials. */
export function validateEndpoint(endpoint: string, what: string): string {
  const checked = checkHttpUrl(endpoint);
  if (!checked.ok) throw new UsageError(`${what} ${checked.message}`);
  return endpoint;
}

/**
 * The config entry that names the database at `path` (absolute) and its replica name, or
 * null when the config does not cover it. Works for files that do not exist (a restore
 * after losing the disk).
 */
export function configDatabaseFor(
  config: WalsyncConfig | null,
  path: string,
): { entry: DatabaseEntry; name: string } | null {
  for (const entry of config?.databases ?? []) {
    if (entry.glob ? globToRegExp(entry.path).test(path) : entry.path === path) {
      return { entry, name: defaultName(entry, path) };
    }
  }
  return null;
}

/** A database path's replica name: the config's, else the file's base name. */
export function replicaNameFor(config: WalsyncConfig | null, path: string): string {
  return configDatabaseFor(config, path)?.name ?? path.slice(path.lastIndexOf("/") + 1);
}

/**
 * For commands on one database (`snapshot DB`): its config, replica, path and replica name.
 * DB is a database file, or a replica name walsync.toml gives a database (`t05/app.db` for
 * the glob `tenants/<star>/app.db`, or an entry's `name`), as `restore` and `verify` take it.
 * A file wins over a name: it is what the user pointed at.
 */
export async function resolveCommandDatabase(
  command: string,
  parsed: ParsedArgs,
  database: string,
): Promise<{
  path: string;
  name: string;
  config: WalsyncConfig | null;
  client: ReplicaClient;
}> {
  const config = await loadCommandConfig(parsed);
  const client = await openCommandReplica(command, parsed, config);
  const path = absolutePath(database);
  const kind = await fileKind(path);
  if (kind === "file") return { path, name: replicaNameFor(config, path), config, client };
  if (kind === "other") throw new UsageError(`Database "${path}" is not a file`);
  const named = configPathForName(config, database);
  if (named !== null) {
    const found = await fileKind(named.path);
    if (found === "file") return { path: named.path, name: database, config, client };
    // A glob names what it matches: a file it would match but that is not there is no database.
    if (!named.glob) {
      throw new UsageError(
        `Database "${named.path}" (replica name "${database}") does not exist`,
      );
    }
  }
  if (config === null) throw new UsageError(`Database "${path}" does not exist`);
  throw new UsageError(
    `Database "${database}" is neither a file ("${path}" does not exist) nor a replica name in ${config.file}; give a database path, or a name as "walsync list" shows it`,
  );
}

async function fileKind(path: string): Promise<"file" | "other" | "missing"> {
  try {
    return (await Deno.stat(path)).isFile ? "file" : "other";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return "missing";
    }
    throw error;
  }
}

/**
 * The path of the database walsync.toml names `name`, whether or not it exists: the inverse of
 * `configDatabaseFor`. A glob's name is its path below the glob's fixed part (after the entry's
 * `name` prefix), so the path is that part plus the name.
 */
export function configPathForName(
  config: WalsyncConfig | null,
  name: string,
): { path: string; glob: boolean } | null {
  for (const entry of config?.databases ?? []) {
    if (!entry.glob) {
      if (defaultName(entry, entry.path) === name) return { path: entry.path, glob: false };
      continue;
    }
    const prefix = entry.name === undefined ? "" : `${entry.name}/`;
    if (!name.startsWith(prefix)) continue;
    const relative = name.slice(prefix.length);
    const path = entry.root === "/" ? `/${relative}` : `${entry.root}/${relative}`;
    if (globToRegExp(entry.path).test(path) && defaultName(entry, path) === name) {
      return { path, glob: true };
    }
  }
  return null;
}

/**
 * `restore NAME`: NAME is a replica name, or a database path the config names (then its
 * replica name). A path the config does not name is taken as a replica name as written.
 */
export function restoreNameFor(config: WalsyncConfig | null, name: string): string {
  if (config === null) return name;
  return configDatabaseFor(config, absolutePath(name))?.name ?? name;
}
