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
import { openReplicaUrl } from "../replica/replica_url.ts";
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

/** Opens the replica for `command`; a usage error when neither `-b` nor `[s3] bucket` names one. */
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
  return await openReplicaUrl(url, { ...overrides, logger: options.logger });
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

/** For commands on one database given by path (`snapshot`): its config, name and replica. */
export async function resolveCommandDatabase(
  command: string,
  parsed: ParsedArgs,
  path: string,
): Promise<{
  path: string;
  name: string;
  config: WalsyncConfig | null;
  client: ReplicaClient;
}> {
  const config = await loadCommandConfig(parsed);
  const client = await openCommandReplica(command, parsed, config);
  return { path, name: replicaNameFor(config, path), config, client };
}

/**
 * `restore NAME`: NAME is a replica name, or a database path the config names (then its
 * replica name). A path the config does not name is taken as a replica name as written.
 */
export function restoreNameFor(config: WalsyncConfig | null, name: string): string {
  if (config === null) return name;
  return configDatabaseFor(config, absolutePath(name))?.name ?? name;
}
