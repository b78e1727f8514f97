/**
 * One compaction and retention pass over one database's replica: plan from the index, run
 * the merges in level order (each uploaded before the next level reads it), then plan
 * deletions again from what is now stored and delete. A failed merge stops the pass before
 * anything is deleted; the next pass plans again.
 */
import { formatLtxFilename } from "../ltx/ltx_header.ts";
import type { PageEncoding } from "../ltx/ltx_encoder.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import { executeMerge } from "./execute.ts";
import type { LevelIndex } from "./level_index.ts";
import { type LevelGap, type MaintenancePlan, planMaintenance } from "./plan.ts";
import type { CompactionPolicy } from "./policy.ts";

/** Keys per delete request batch handed to the client. */
const DELETE_BATCH = 1000;

export interface MaintenanceOptions {
  nowMs: number;
  policy: CompactionPolicy;
  /** Levels whose compaction is due (default: all). */
  dueLevels?: readonly number[];
  /** Plan only: nothing is written or deleted. */
  dryRun?: boolean;
  pageEncoding?: PageEncoding;
  tempDir?: string;
  /** Permission bits of merged files in a file replica (the database's). */
  fileMode?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface MaintenanceReport {
  /** Files merged (or, in a dry run, to merge): the output and its inputs. */
  merges: { output: LtxFileInfo; inputs: LtxFileInfo[] }[];
  deletions: LtxFileInfo[];
  head: number;
  windowStart: number | null;
  keptSnapshots: number[];
  notes: string[];
  /** Holes no snapshot bridges (from the merge plan). */
  gaps: LevelGap[];
}

export async function runMaintenance(
  client: ReplicaClient,
  name: string,
  index: LevelIndex,
  options: MaintenanceOptions,
): Promise<MaintenanceReport> {
  const log = (options.logger ?? silentLogger).with({ db: name });
  const first = planMaintenance(index.files, {
    nowMs: options.nowMs,
    policy: options.policy,
    dueLevels: options.dueLevels,
  });
  if (options.dryRun) return reportOf(first, first.merges);

  const merged: MaintenancePlan["merges"] = [];
  for (const merge of first.merges) {
    options.signal?.throwIfAborted();
    const inputs = await withLastChecksum(client, name, merge.inputs, options.signal);
    const output = await executeMerge(client, name, inputs, merge.level, {
      pageEncoding: options.pageEncoding,
      tempDir: options.tempDir,
      fileMode: options.fileMode,
      signal: options.signal,
    });
    index.add(output);
    merged.push({ ...merge, output });
    log.debug("compacted", {
      compactionLevel: merge.level,
      file: formatLtxFilename(output.minTxid, output.maxTxid),
      inputs: inputs.length,
      sizeBytes: output.sizeBytes,
    });
  }

  const plan = planMaintenance(index.files, {
    nowMs: options.nowMs,
    policy: options.policy,
    dueLevels: [],
  });
  for (let i = 0; i < plan.deletions.length; i += DELETE_BATCH) {
    options.signal?.throwIfAborted();
    const batch = plan.deletions.slice(i, i + DELETE_BATCH);
    await client.deleteFiles(name, batch, options.signal);
    index.remove(batch);
  }
  if (plan.deletions.length > 0) {
    log.debug("retention deleted files", countByLevel(plan.deletions));
  }
  return reportOf(
    { ...plan, notes: [...first.notes, ...plan.notes], gaps: first.gaps },
    merged,
  );
}

/** Counts per level, for logs: `{ files: 12, level0: 10, level1: 2 }`. */
export function countByLevel(files: readonly LtxFileInfo[]): Record<string, number> {
  const counts: Record<string, number> = { files: files.length };
  for (const f of files) counts[`level${f.level}`] = (counts[`level${f.level}`] ?? 0) + 1;
  return counts;
}

function reportOf(
  plan: MaintenancePlan,
  merges: MaintenancePlan["merges"],
): MaintenanceReport {
  return {
    merges: merges.map((m) => ({ output: m.output, inputs: m.inputs })),
    deletions: plan.deletions,
    head: plan.head,
    windowStart: plan.windowStart,
    keptSnapshots: plan.keptSnapshots,
    notes: plan.notes,
    gaps: plan.gaps,
  };
}

/**
 * The merge's inputs, the last one with its recorded database checksum (which the merged file
 * takes over): an index seeded from a bare listing may lack it, so that one file's metadata is
 * read (one request: `statFile`; a client without it lists StartAfter the key just before).
 * Not a listing where the client can stat: a listing reads every later file, and a backlog of
 * N level-0 files then cost N²/inputs reads (100,000 files: hours).
 */
async function withLastChecksum(
  client: ReplicaClient,
  name: string,
  inputs: LtxFileInfo[],
  signal?: AbortSignal,
): Promise<LtxFileInfo[]> {
  const last = inputs[inputs.length - 1];
  if (last.databaseChecksum !== undefined) return inputs;
  let found: LtxFileInfo | null | undefined;
  if (client.statFile) {
    found = await client.statFile(name, last, signal);
  } else {
    const listed = await client.listFiles(name, last.level, {
      signal,
      startAfter: { level: last.level, minTxid: last.minTxid, maxTxid: last.maxTxid - 1 },
    });
    found = listed.find((f) => f.minTxid === last.minTxid && f.maxTxid === last.maxTxid);
  }
  return found ? [...inputs.slice(0, -1), { ...last, ...found, level: last.level }] : inputs;
}
