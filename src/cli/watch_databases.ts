/**
 * The databases `watch` replicates: those named on the command line (checked up front), or
 * those walsync.toml lists, discovered again every round (globs) so tenants that appear are
 * picked up and those deleted let go; a database that cannot be opened is logged and retried.
 */
import {
  resolveDatabases,
  type ResolvedDatabase,
  type WalsyncConfig,
} from "../config/config_file.ts";
import { effectiveSettings, settingValues } from "../config/effective_settings.ts";
import type { SyncSettings } from "../config/config_schema.ts";
import { UsageError, WalsyncError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DatabaseSettings } from "../replicate/database_slot.ts";
import type { Supervisor } from "../replicate/supervisor.ts";
import { DEFAULT_DISCOVERY_INTERVAL_MS, Discovery } from "../watch/discovery.ts";
import { absolutePath } from "./args.ts";
import { configDatabaseFor, replicaNameFor } from "./command_config.ts";

/** A database that keeps failing is logged again this often (and when the reason changes). */
const REPEAT_FAILURE_LOG_MS = 5 * 60_000;
/** Failing databases named in the start-up error before "and N more". */
const MAX_FAILURES_SHOWN = 5;

export interface WatchedDatabase {
  path: string;
  name: string;
  settings: SyncSettings;
}

export type DiscoveredDatabase = { path: string; name: string; settings: SyncSettings };

/**
 * Databases that could not be replicated: logged at error level when they first fail or the
 * reason changes, and again every few minutes while it lasts, never every round.
 */
export class FailureLog {
  #failing = new Map<string, { message: string; loggedAtMs: number }>();
  #log: Logger;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  get count(): number {
    return this.#failing.size;
  }

  failed(path: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const now = Date.now();
    const last = this.#failing.get(path);
    if (last?.message === message && now - last.loggedAtMs < REPEAT_FAILURE_LOG_MS) return;
    this.#failing.set(path, { message, loggedAtMs: now });
    this.#log.error("cannot replicate database; retrying", { path, error: message });
  }

  succeeded(path: string): void {
    this.#failing.delete(path);
  }

  /** One line naming every failing database and why (the first few of many). */
  summary(): string {
    const shown = [...this.#failing].slice(0, MAX_FAILURES_SHOWN)
      .map(([path, { message }]) => `"${path}": ${message}`);
    const more = this.#failing.size - shown.length;
    return `${shown.join("; ")}${more > 0 ? `; and ${more} more` : ""}`;
  }
}

/** Databases named on the command line, with the config's names and settings for them. */
export function commandLineDatabases(
  paths: string[],
  flags: Partial<SyncSettings>,
  config: WalsyncConfig | null,
): WatchedDatabase[] {
  const byName = new Map<string, string>();
  const byFile = new Map<string, string>();
  const databases: WatchedDatabase[] = [];
  for (const arg of paths) {
    const path = absolutePath(arg);
    // Two paths to one file (a symlink, a hard link) are one database, replicated once.
    const file = fileKey(path);
    const same = file === null ? undefined : byFile.get(file);
    if (same !== undefined && same !== path) {
      throw new UsageError(
        `"${same}" and "${path}" are the same database file; name it once`,
      );
    }
    if (file !== null) byFile.set(file, path);
    const name = replicaNameFor(config, path);
    const other = byName.get(name);
    if (other === path) continue;
    if (other !== undefined) {
      throw new UsageError(
        `Databases "${other}" and "${path}" would share the replica name "${name}"; watch them from walsync.toml with distinct names`,
      );
    }
    byName.set(name, path);
    const entry = configDatabaseFor(config, path)?.entry ?? null;
    databases.push({
      path,
      name,
      settings: settingValues(effectiveSettings(flags, config, entry)),
    });
  }
  return databases;
}

/** The config's databases, as they appear: globs are listed again on every round. */
export function configDiscovery(
  config: WalsyncConfig,
  initial: ResolvedDatabase[],
  flags: Partial<SyncSettings>,
  logger: Logger,
  sameAs: (path: string) => string | null,
): Discovery<DiscoveredDatabase> {
  let lastError = "";
  // The first round uses the listing start-up already made (and checked); later ones list anew.
  let first: ResolvedDatabase[] | null = initial;
  return new Discovery(
    async () => {
      let resolved: ResolvedDatabase[];
      try {
        resolved = first ?? await resolveDatabases(config);
        first = null;
      } catch (error) {
        // A new file that collides with another name must not stop the daemon: log it (once).
        const message = (error as Error).message;
        if (message !== lastError) logger.error("walsync.toml databases", { error });
        lastError = message;
        if (!(error instanceof WalsyncError)) throw error;
        return [];
      }
      lastError = "";
      return resolved.map((database) => ({
        ...database,
        settings: settingValues(effectiveSettings(flags, config, database.entry)),
      }));
    },
    logger,
    { sameAs },
  );
}

/** Adds the databases discovery found; returns how many it tried. */
export async function addDiscovered(
  supervisor: Supervisor,
  discovery: Discovery<DiscoveredDatabase>,
  failures: FailureLog,
  signal: AbortSignal,
): Promise<{ tried: number }> {
  let tried = 0;
  for (const database of await discovery.findNew()) {
    if (signal.aborted) break;
    tried++;
    try {
      await supervisor.add(database.path, database.name, databaseSettings(database.settings));
      discovery.markKnown(database.path);
      failures.succeeded(database.path);
    } catch (error) {
      // Tried again next round (e.g. locked by an application creating it).
      failures.failed(database.path, error);
    }
  }
  return { tried };
}

export async function discoverUntilAborted(
  supervisor: Supervisor,
  discovery: Discovery<DiscoveredDatabase>,
  failures: FailureLog,
  options: { signal: AbortSignal; removeGone: boolean; logger: Logger },
): Promise<void> {
  const { signal, logger } = options;
  while (!signal.aborted) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, DEFAULT_DISCOVERY_INTERVAL_MS);
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
    if (signal.aborted) break;
    await addDiscovered(supervisor, discovery, failures, signal);
    if (!options.removeGone) continue;
    // A database file that is gone (a tenant deleted): stop replicating it, and free its
    // connection and staging lock; its replica stays.
    for (const database of supervisor.databases) {
      if (signal.aborted || (await fileExists(database.path))) continue;
      logger.info("database file is gone; stopping its replication", {
        db: database.name,
        path: database.path,
      });
      await supervisor.remove(database.path);
      discovery.forget(database.path);
    }
  }
}

/** Path-based (never opens the file, so no SQLite lock can be dropped). */
async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

export function databaseSettings(settings: SyncSettings): DatabaseSettings {
  return {
    syncIntervalMs: settings.syncIntervalMs,
    snapshotIntervalMs: settings.snapshotIntervalMs,
    maxChanges: settings.maxChanges,
    maxIntervalMs: settings.maxIntervalMs,
    onIdleMs: settings.onIdleMs,
    onStartup: settings.onStartup,
    checkpointPages: settings.checkpointPages,
    truncatePages: settings.truncatePages,
    idleCheckpointMs: settings.checkpointIdleMs,
    idleReleaseMs: settings.idleReleaseMs,
  };
}

/** Device and inode of the file `path` names (symlinks followed), or null if there is none. */
function fileKey(path: string): string | null {
  try {
    const info = Deno.statSync(path);
    return info.ino === null ? null : `${info.dev}:${info.ino}`;
  } catch {
    return null;
  }
}
