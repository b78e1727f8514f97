/**
 * Upload: staged files go to the replica in TXID order and leave staging once stored. A
 * replicator that opened without listing the replica (an outage at start-up) first compares
 * the replica's last TXID with what it staged; a mismatch is re-seeded with a snapshot by the
 * next sync, and nothing is uploaded over another writer's TXIDs meanwhile.
 */
import { WalsyncError } from "../errors.ts";
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { type ReplicationContext, type SyncResult } from "./context.ts";
import { PageChecksums } from "./page_checksums.ts";
import { replicaMaxTxid, replicaMismatch } from "./reconcile.ts";
import { takeSnapshot } from "./snapshot.ts";
import type { StagedFile } from "./staging.ts";

/** Staged files up to this size are read into memory to upload; larger ones stream. */
export const DEFAULT_READ_WHOLE_BYTES = 1024 * 1024;

/** The replica's side as a replicator knows it. */
export interface ReplicaProgress {
  /** The highest TXID known to be in the replica. */
  uploadedTxid: number;
  /** False until the replica has been compared with the staged TXIDs. */
  checked: boolean;
  /** A mismatch that comparison found; the next sync re-seeds with a snapshot. */
  reseed: Reseed | null;
}

export interface Reseed {
  reason: string;
  /** Another writer continued the replica: staged files must never be uploaded. */
  anotherWriter: boolean;
  /** The replica's last TXID when compared. */
  replicated: number;
}

/** Uploads staged files in TXID order; stops at the first failure (retried next time). */
export async function uploadStaged(
  ctx: ReplicationContext,
  progress: ReplicaProgress,
  signal?: AbortSignal,
): Promise<number> {
  if (progress.reseed) return 0;
  if (!progress.checked) {
    const replicated = await replicaMaxTxid(ctx.client, ctx.name, signal);
    const mismatch = replicaMismatch(replicated, ctx.state, await ctx.staging.list());
    progress.checked = true;
    if (mismatch) {
      ctx.log.warn("the replica differs from what walsync staged; re-seeding it", {
        reason: mismatch.reason,
      });
      progress.reseed = { ...mismatch, replicated };
      return 0;
    }
    progress.uploadedTxid = replicated;
  }
  let uploaded = 0;
  const staged = await ctx.staging.list();
  const { files, gap } = await skipGaps(ctx, staged, progress.uploadedTxid);
  // A snapshot goes before the level-0 file of its TXID: compaction, seeing that level-0
  // file, then knows the snapshot that covers it (and never merges a full copy).
  files.sort((a, b) => a.maxTxid - b.maxTxid || b.level - a.level);
  ctx.pending.count = staged.length;
  ctx.pending.bytes = staged.reduce((n, f) => n + f.sizeBytes, 0);
  for (const file of files) {
    signal?.throwIfAborted();
    // Small files (nearly every batch) are read whole: one synchronous read instead of a
    // stream of asynchronous ones.
    const body = file.sizeBytes <= DEFAULT_READ_WHOLE_BYTES
      ? Deno.readFileSync(file.path)
      : Deno.openSync(file.path, { read: true }).readable;
    let stored: LtxFileInfo;
    try {
      stored = await ctx.client.writeFile(ctx.name, file, body, {
        sha256: file.sha256,
        databaseChecksum: file.databaseChecksum,
        createdAt: file.createdAt,
        sizeBytes: file.sizeBytes,
        fileMode: ctx.staging.fileMode,
      }, signal);
    } catch (error) {
      if (!(body instanceof Uint8Array)) await body.cancel().catch(() => {});
      throw error;
    }
    ctx.onUploaded?.(stored, ctx.staging.fileMode);
    await ctx.staging.remove(file);
    ctx.pending.count--;
    ctx.pending.bytes -= file.sizeBytes;
    progress.uploadedTxid = Math.max(progress.uploadedTxid, file.maxTxid);
    uploaded++;
    ctx.log.debug("uploaded", {
      ltxLevel: file.level,
      minTxid: file.minTxid,
      maxTxid: file.maxTxid,
    });
  }
  if (gap) throw gap;
  return uploaded;
}

/**
 * The replica must never get a level-0 file past a TXID it lacks: that would leave a hole no
 * restore can cross. Staged files follow the last uploaded TXID without a gap, or start at a
 * snapshot (a level-0 file whose level-9 twin, 1 to its TXID, is staged with it). Files after
 * a gap that a staged snapshot supersedes are dropped (they could only ever be restored
 * through the missing TXIDs); any other gap ends the upload there, with an error.
 */
async function skipGaps(
  ctx: ReplicationContext,
  files: StagedFile[],
  uploadedTxid: number,
): Promise<{ files: StagedFile[]; gap: WalsyncError | null }> {
  const snapshots = files.filter((f) => f.level === SNAPSHOT_LEVEL);
  const kept: StagedFile[] = [];
  let next = uploadedTxid + 1;
  for (const file of files) {
    if (file.level === 0 && file.minTxid > next) {
      const twin = snapshots.some((s) => s.maxTxid === file.maxTxid);
      const superseded = snapshots.some((s) => s.maxTxid > file.maxTxid);
      if (!twin && superseded) {
        ctx.log.warn(
          "dropping a staged file a staged snapshot supersedes (TXIDs before it are missing)",
          {
            minTxid: file.minTxid,
            maxTxid: file.maxTxid,
          },
        );
        await ctx.staging.remove(file);
        continue;
      }
      if (!twin) {
        return {
          files: kept,
          gap: new WalsyncError(
            `Staged files of "${ctx.name}" skip TXIDs ${next}..${file.minTxid - 1} after TXID ${
              next - 1
            } (in "${ctx.staging.dir}"); nothing after them is uploaded until they are there`,
          ),
        };
      }
    }
    if (file.level === 0) next = Math.max(next, file.maxTxid + 1);
    kept.push(file);
  }
  return { files: kept, gap: null };
}

/** Re-seeds a replica that another writer continued, or that lost files, with a snapshot. */
export async function reseedReplica(
  ctx: ReplicationContext,
  progress: ReplicaProgress,
): Promise<SyncResult> {
  const reseed = progress.reseed!;
  if (reseed.anotherWriter) {
    // Our unsent files would overwrite that writer's TXIDs: the snapshot supersedes them.
    for (const file of await ctx.staging.list()) await ctx.staging.remove(file);
    ctx.pending.count = 0;
    ctx.pending.bytes = 0;
  }
  ctx.state = {
    txid: Math.max(reseed.replicated, ctx.state.txid),
    pageSize: ctx.db.pageSize,
    commit: 0,
    wal: null,
    pages: new PageChecksums(ctx.db.pageSize),
  };
  progress.uploadedTxid = reseed.replicated;
  progress.reseed = null;
  try {
    return await takeSnapshot(ctx, reseed.reason);
  } catch (error) {
    progress.reseed = reseed; // try again at the next sync
    throw error;
  }
}
