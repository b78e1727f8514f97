/**
 * Restores many databases of one replica into one directory, each under its replica name
 * (`DIR/<name>`), a bounded number at a time. One database failing does not stop the
 * others: every outcome is returned, and the caller decides the exit code. Each restore is
 * the single restore (verified, temp file + rename, never overwriting without `force`).
 */
import { WalsyncError } from "../errors.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { validateReplicaName } from "../replica/replica_path.ts";
import { globToRegExp } from "../config/glob.ts";
import { type IntegrityCheck, restore, type RestoreResult } from "./apply.ts";
import type { RestoreTarget } from "./plan.ts";

/** Restores running at once unless `--parallel` says otherwise. */
export const DEFAULT_BULK_PARALLEL = 4;

export type BulkOutcome =
  | { name: string; output: string; status: "restored"; result: RestoreResult }
  | { name: string; output: string; status: "skipped"; reason: string }
  | { name: string; output: string; status: "failed"; error: string };

export interface BulkRestoreOptions {
  client: ReplicaClient;
  names: string[];
  outputDir: string;
  target?: RestoreTarget;
  force?: boolean;
  /** An existing output is skipped (as `--if-db-not-exists`), not a failure. */
  skipExisting?: boolean;
  integrityCheck?: IntegrityCheck;
  parallel?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** Called as each database ends, with how many have ended. */
  onOutcome?: (outcome: BulkOutcome, done: number, total: number) => void;
}

/**
 * The replica names `pattern` matches (glob: `*` and `?` within a segment, `**` across
 * segments, `[...]`), or every name when `pattern` is null; sorted.
 */
export function matchReplicaNames(names: string[], pattern: string | null): string[] {
  const matcher = pattern === null ? null : globToRegExp(pattern);
  return names.filter((name) => matcher === null || matcher.test(name)).sort();
}

export async function restoreMany(options: BulkRestoreOptions): Promise<BulkOutcome[]> {
  const { names, signal } = options;
  const logger = options.logger ?? silentLogger;
  const parallel = Math.max(1, options.parallel ?? DEFAULT_BULK_PARALLEL);
  const outcomes: BulkOutcome[] = new Array(names.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < names.length && !signal?.aborted) {
      const index = next++;
      const outcome = await restoreOne(names[index], options, logger);
      outcomes[index] = outcome;
      options.onOutcome?.(outcome, ++done, names.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, names.length) }, worker));
  signal?.throwIfAborted();
  return outcomes;
}

async function restoreOne(
  name: string,
  options: BulkRestoreOptions,
  logger: Logger,
): Promise<BulkOutcome> {
  let output = `${options.outputDir}/${name}`;
  try {
    validateReplicaName(name); // a name from a listing must not escape DIR
    output = `${options.outputDir}/${name}`;
    if (options.skipExisting && await exists(output)) {
      return { name, output, status: "skipped", reason: "output exists" };
    }
    const parent = output.slice(0, output.lastIndexOf("/"));
    await Deno.mkdir(parent, { recursive: true });
    const result = await restore({
      client: options.client,
      name,
      output,
      target: options.target,
      force: options.force,
      integrityCheck: options.integrityCheck,
      signal: options.signal,
      logger,
    });
    return { name, output, status: "restored", result };
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    const message = error instanceof WalsyncError || error instanceof Error
      ? error.message
      : String(error);
    return { name, output, status: "failed", error: message };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
