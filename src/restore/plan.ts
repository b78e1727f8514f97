/**
 * Restore planning, pure: from a replica's listing and a target, choose the newest snapshot
 * at or before the target and then the shortest contiguous chain of files up to it.
 * Overlapping files (compactions) may join the chain: each holds the newest version of every
 * page it covers, so applying it on top of an earlier state is correct.
 */
import { WalsyncError } from "../errors.ts";
import { formatLtxFilename, formatTxid, SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import type { LtxFileInfo } from "../replica/replica_client.ts";

export type RestoreTarget =
  | { kind: "latest" }
  | { kind: "txid"; txid: number }
  | { kind: "timestamp"; at: Date };

export interface RestorePlan {
  /** Files to apply in order: a snapshot, then increments. */
  files: LtxFileInfo[];
  /** The TXID the restored database will be at. */
  txid: number;
}

/** The replica cannot provide the requested state. */
export class RestorePlanError extends WalsyncError {}

export function describeFile(file: LtxFileInfo): string {
  return `level ${file.level} ${formatLtxFilename(file.minTxid, file.maxTxid)}`;
}

export function planRestore(files: LtxFileInfo[], target: RestoreTarget): RestorePlan {
  if (files.length === 0) {
    throw new RestorePlanError("The replica has no LTX files for this database");
  }
  const latest = files.reduce((max, f) => Math.max(max, f.maxTxid), 0);
  let targetTxid: number;
  if (target.kind === "latest") {
    targetTxid = latest;
  } else if (target.kind === "txid") {
    if (target.txid > latest) {
      throw new RestorePlanError(
        `TXID ${target.txid} (${
          formatTxid(target.txid)
        }) is not in the replica; the latest is ${latest} (${formatTxid(latest)})`,
      );
    }
    targetTxid = target.txid;
  } else {
    const before = files.filter((f) => f.createdAt.getTime() <= target.at.getTime());
    if (before.length === 0) {
      const first = files.reduce(
        (min, f) => (f.createdAt < min ? f.createdAt : min),
        files[0].createdAt,
      );
      throw new RestorePlanError(
        `Nothing in the replica is as old as ${target.at.toISOString()}; the oldest file is from ${first.toISOString()}`,
      );
    }
    targetTxid = before.reduce((max, f) => Math.max(max, f.maxTxid), 0);
    refuseInexactTime(files, targetTxid, latest, target.at);
  }

  const snapshots = files.filter((f) => f.minTxid === 1 && f.maxTxid <= targetTxid);
  if (snapshots.length === 0) {
    throw new RestorePlanError(`The replica has no snapshot at or before TXID ${targetTxid}`);
  }
  // Newest snapshot; on a tie prefer level 9, the one meant for restores.
  const start = snapshots.reduce((best, f) =>
    f.maxTxid > best.maxTxid || (f.maxTxid === best.maxTxid && f.level > best.level) ? f : best
  );
  const chain: LtxFileInfo[] = [start];
  const increments = files.filter((f) => f.level !== SNAPSHOT_LEVEL && f.maxTxid <= targetTxid);
  let at = start.maxTxid;
  while (at < targetTxid) {
    let next: LtxFileInfo | null = null;
    for (const f of increments) {
      if (f.minTxid > at + 1 || f.maxTxid <= at) continue;
      if (
        !next || f.maxTxid > next.maxTxid ||
        (f.maxTxid === next.maxTxid && f.minTxid > next.minTxid) ||
        // The same range at a higher level: the one compaction keeps (Litestream's tie rule).
        (f.maxTxid === next.maxTxid && f.minTxid === next.minTxid && f.level > next.level)
      ) next = f;
    }
    if (!next) {
      const inside = compactedAround(files, targetTxid);
      if (inside) {
        throw new RestorePlanError(
          `TXID ${targetTxid} (${formatTxid(targetTxid)}) is not restorable: it lies inside ${
            describeFile(inside)
          }, a merge of TXIDs ${inside.minTxid}..${inside.maxTxid}; beyond the point-in-time window retention keeps the states before it (TXID ${
            inside.minTxid - 1
          }) and after it (TXID ${inside.maxTxid}), not those within`,
        );
      }
      throw new RestorePlanError(
        `The replica has no file continuing from TXID ${at} (${
          formatTxid(at)
        }) towards ${targetTxid}; TXID ${at + 1} is missing`,
      );
    }
    chain.push(next);
    at = next.maxTxid;
  }
  return { files: chain, txid: targetTxid };
}

/**
 * A time resolves to the last TXID written at or before it. That is exact only while the
 * next TXID has a file of its own (its time is then known to be later): once compaction and
 * retention left it only inside a multi-TXID file, it may have been committed before the
 * time too, and a restore would silently return an older state. Refused, naming what is near.
 */
function refuseInexactTime(files: LtxFileInfo[], txid: number, latest: number, at: Date): void {
  if (txid >= latest) return;
  const next = txid + 1;
  if (files.some((f) => f.minTxid === next && f.maxTxid === next)) return;
  const inside = files.find((f) => f.minTxid <= next && f.maxTxid >= next);
  const later = inside
    ? ` and TXID ${inside.maxTxid} (written ${inside.createdAt.toISOString()})`
    : "";
  throw new RestorePlanError(
    `The replica no longer holds the exact state at ${at.toISOString()}: TXID ${next} is kept ` +
      `only inside ${
        inside ? describeFile(inside) : "no file"
      } (compaction and retention removed the files of each TXID beyond the point-in-time window). ` +
      `Restorable nearby: TXID ${txid}${later}; restore one of them with --txid`,
  );
}

/** A merged file (levels 1..8) that `txid` lies strictly inside, if any. */
function compactedAround(files: LtxFileInfo[], txid: number): LtxFileInfo | undefined {
  return files.find((f) =>
    f.minTxid <= txid && txid < f.maxTxid && f.minTxid < f.maxTxid && f.level !== SNAPSHOT_LEVEL &&
    f.level !== 0
  );
}
