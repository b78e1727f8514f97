/**
 * Compaction and retention planning, pure: from a replica's listing (every level), a clock and
 * a policy, which files to merge into which level and which files no retained position needs.
 *
 * Merges (Litestream's rules, made safer): level N takes the files of level N−1 that continue
 * past what level N holds, as one chain. A hole stops the run unless a snapshot (a file
 * starting at TXID 1) bridges it, and then a new run starts after that snapshot. A file that
 * is itself a full copy of the database (TXID 1, or a level-0 twin of a level-9 snapshot that
 * a discontinuity forced) is never merged: the snapshot covers it, so levels 1..8 never turn
 * into copies of the database (Litestream #1510).
 *
 * Retention keeps: every position from the start of the point-in-time window to the latest
 * (the chain of the window's first position, and every file after it); the snapshots that
 * grandfather-father-son selects (each is restorable by itself); the newest file of every
 * level; level-0 files younger than `l0LingerMs`; and the files a higher level has not
 * merged yet. Everything else is deleted. Deletions assume the planned merges were stored.
 */
import { formatLtxFilename, SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { compareLtxFiles, type LtxFileInfo } from "../replica/replica_client.ts";
import { planRestore, RestorePlanError } from "../restore/plan.ts";
import { continues } from "./merge.ts";
import {
  type CompactionPolicy,
  MAX_MERGE_BUFFERED_BYTES,
  MAX_MERGE_INPUTS,
  MAX_MERGE_STREAMS,
  MERGE_BUFFER_INPUT_BYTES,
  selectSnapshots,
} from "./policy.ts";

export interface PlannedMerge {
  level: number;
  /** A chain of files of level − 1, in TXID order. */
  inputs: LtxFileInfo[];
  /** What the merge will store (size unknown until written: the inputs' sum). */
  output: LtxFileInfo;
}

export interface MaintenancePlan {
  merges: PlannedMerge[];
  deletions: LtxFileInfo[];
  /** The latest TXID. */
  head: number;
  /** First position of the point-in-time window (its TXID), or null when no file is older. */
  windowStart: number | null;
  /** TXIDs of the snapshots kept beyond the window. */
  keptSnapshots: number[];
  /** Conditions worth a warning: a gap that stops compaction, a chain that is broken. */
  notes: string[];
  /** Holes no snapshot bridges, where a level's compaction stops (`level` is the source). */
  gaps: LevelGap[];
}

/** TXIDs `fromTxid..toTxid` of level `level` are missing: the level above stops before them. */
export interface LevelGap {
  level: number;
  fromTxid: number;
  toTxid: number;
}

export interface PlanOptions {
  nowMs: number;
  policy: CompactionPolicy;
  /** Levels whose compaction is due (default: every configured level). */
  dueLevels?: readonly number[];
  /** Plan deletions too (default true). */
  retention?: boolean;
}

/** Plans merges, then the deletions the listing after them allows. */
export function planMaintenance(
  listing: readonly LtxFileInfo[],
  options: PlanOptions,
): MaintenancePlan {
  const files = [...listing].sort(compareLtxFiles);
  const notes: string[] = [];
  const gaps: LevelGap[] = [];
  const levels = options.policy.levelIntervalsMs.length;
  const due = new Set(options.dueLevels ?? Array.from({ length: levels }, (_, i) => i + 1));
  const merges: PlannedMerge[] = [];
  for (let level = 1; level <= levels; level++) {
    if (!due.has(level)) continue;
    const planned = planLevel(
      files,
      level,
      options.policy.maxMergeInputs ?? MAX_MERGE_INPUTS,
      notes,
      gaps,
    );
    for (const merge of planned) {
      merges.push(merge);
      files.push(merge.output);
    }
    files.sort(compareLtxFiles);
  }
  const head = files.reduce((max, f) => Math.max(max, f.maxTxid), 0);
  const plan: MaintenancePlan = {
    merges,
    deletions: [],
    head,
    windowStart: null,
    keptSnapshots: [],
    notes,
    gaps,
  };
  if (options.retention ?? true) planRetention(files, options, plan);
  return plan;
}

/** True for a file that holds the whole database (where a chain may start). */
export function isFullCopy(file: LtxFileInfo, snapshotSizes: Map<number, number>): boolean {
  if (file.minTxid === 1) return true;
  if (file.level !== 0) return false;
  // A level-0 twin of a snapshot is a full copy unless it is a diff (much smaller).
  const snapshot = snapshotSizes.get(file.maxTxid);
  return snapshot !== undefined && file.sizeBytes * 2 >= snapshot;
}

function planLevel(
  files: LtxFileInfo[],
  level: number,
  maxInputs: number,
  notes: string[],
  gaps: LevelGap[],
): PlannedMerge[] {
  const source = files.filter((f) => f.level === level - 1);
  const seek = files.reduce((max, f) => (f.level === level ? Math.max(max, f.maxTxid) : max), 0);
  // Where a chain may restart: the TXIDs of files holding the whole database.
  const bases = [...new Set(files.filter((f) => f.minTxid === 1).map((f) => f.maxTxid))]
    .sort((a, b) => a - b);
  const snapshotSizes = new Map<number, number>();
  for (const f of files) if (f.level === SNAPSHOT_LEVEL) snapshotSizes.set(f.maxTxid, f.sizeBytes);

  const merges: PlannedMerge[] = [];
  let run: LtxFileInfo[] = [];
  const flush = () => {
    if (run.length > 0) merges.push(mergeOf(level, run));
    run = [];
  };
  let at = seek;
  for (let i = 0; i < source.length; i++) {
    const file = source[i];
    if (file.maxTxid <= at) continue;
    if (!continues(at, file.minTxid, file.maxTxid)) {
      flush();
      // A hole: only a snapshot at or past the TXID before this file bridges it.
      const base = bases.find((b) => b >= file.minTxid - 1 && b > at);
      if (base === undefined) {
        gaps.push({ level: level - 1, fromTxid: at + 1, toTxid: file.minTxid - 1 });
        notes.push(
          `level ${level - 1} has no file for TXID ${at + 1} (before ${
            formatLtxFilename(file.minTxid, file.maxTxid)
          }): level ${level} is compacted up to TXID ${at} until it is there (a staged file is ` +
            `uploaded again; if it is lost for good, a snapshot starts a new chain: the daemon takes one, or walsync snapshot)`,
        );
        break;
      }
      at = base;
      i--; // look at this file again from the snapshot
      continue;
    }
    if (isFullCopy(file, snapshotSizes)) {
      flush(); // never merged: the snapshot at its TXID covers it
      at = file.maxTxid;
      continue;
    }
    if (!fitsInMerge(run, file)) flush();
    run.push(file);
    at = file.maxTxid;
    if (run.length >= maxInputs) flush();
  }
  flush();
  return merges;
}

/** Whether `file` may join `run`: read-whole bytes and streamed inputs stay bounded. */
function fitsInMerge(run: LtxFileInfo[], file: LtxFileInfo): boolean {
  if (run.length === 0) return true;
  const all = [...run, file];
  const streamed = all.filter((f) => f.sizeBytes > MERGE_BUFFER_INPUT_BYTES).length;
  const buffered = all.reduce(
    (n, f) => (f.sizeBytes > MERGE_BUFFER_INPUT_BYTES ? n : n + f.sizeBytes),
    0,
  );
  return streamed <= MAX_MERGE_STREAMS && buffered <= MAX_MERGE_BUFFERED_BYTES;
}

function mergeOf(level: number, inputs: LtxFileInfo[]): PlannedMerge {
  const first = inputs[0];
  const last = inputs[inputs.length - 1];
  return {
    level,
    inputs,
    output: {
      level,
      minTxid: first.minTxid,
      maxTxid: last.maxTxid,
      sizeBytes: inputs.reduce((n, f) => n + f.sizeBytes, 0),
      createdAt: last.createdAt,
      databaseChecksum: last.databaseChecksum,
      fileMode: inputs.find((f) => f.fileMode !== undefined)?.fileMode,
    },
  };
}

function planRetention(files: LtxFileInfo[], options: PlanOptions, plan: MaintenancePlan): void {
  if (files.length === 0) return;
  const { policy, nowMs } = options;
  const keep = new Set<LtxFileInfo>();
  const head = plan.head;

  // The point-in-time window: its first position is the last TXID committed at its start.
  const cutoff = nowMs - policy.pitrMs;
  let windowStart: number | null = policy.pitrMs <= 0 ? head : null;
  if (windowStart === null) {
    for (const f of files) {
      if (f.createdAt.getTime() <= cutoff) windowStart = Math.max(windowStart ?? 0, f.maxTxid);
    }
  }
  plan.windowStart = windowStart;
  if (windowStart === null) return; // the whole replica is inside the window
  try {
    for (const f of planRestore(files, { kind: "txid", txid: windowStart }).files) keep.add(f);
  } catch (error) {
    if (!(error instanceof RestorePlanError)) throw error;
    plan.notes.push(
      `the window's first position, TXID ${windowStart}, has no chain (${error.message}); nothing is deleted`,
    );
    return;
  }
  for (const f of files) if (f.maxTxid > windowStart) keep.add(f);

  // Grandfather-father-son snapshots, each restorable by itself.
  const snapshots = files.filter((f) => f.level === SNAPSHOT_LEVEL);
  const selected = selectSnapshots(snapshots.map((s) => s.createdAt.getTime()), policy.snapshots);
  for (const i of selected) {
    keep.add(snapshots[i]);
    if (snapshots[i].maxTxid <= windowStart) plan.keptSnapshots.push(snapshots[i].maxTxid);
  }
  plan.keptSnapshots.sort((a, b) => a - b);

  // Safety nets: the newest file of every level, young level-0 files, and files a configured
  // higher level has not merged yet.
  const newest = new Map<number, LtxFileInfo>();
  const maxOfLevel = new Map<number, number>();
  for (const f of files) {
    const best = newest.get(f.level);
    if (
      !best || f.maxTxid > best.maxTxid || (f.maxTxid === best.maxTxid && f.minTxid < best.minTxid)
    ) {
      newest.set(f.level, f);
    }
    maxOfLevel.set(f.level, Math.max(maxOfLevel.get(f.level) ?? 0, f.maxTxid));
  }
  for (const f of newest.values()) keep.add(f);
  const levels = policy.levelIntervalsMs.length;
  for (const f of files) {
    if (f.level === 0 && f.createdAt.getTime() > nowMs - policy.l0LingerMs) keep.add(f);
    if (f.level < levels && f.maxTxid > (maxOfLevel.get(f.level + 1) ?? 0)) keep.add(f);
  }
  plan.deletions = files.filter((f) => !keep.has(f));
}
