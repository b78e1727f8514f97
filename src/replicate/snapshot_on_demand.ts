/**
 * Snapshots taken on demand while the daemon runs: asked for by `walsync snapshot` (a request
 * file in the database's staging directory, see snapshot_request.ts), or by compaction when
 * level 0 lost TXIDs for good. Each runs in its database's queue, and is uploaded before it
 * is answered.
 */
import { formatChecksum } from "../checksum/database_checksum.ts";
import { WalsyncError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DatabaseSlot } from "./database_slot.ts";
import type { Replicator } from "./replicator.ts";
import {
  type SnapshotAnswer,
  takeSnapshotRequests,
  writeSnapshotAnswer,
} from "./snapshot_request.ts";
import type { UploadQueue } from "./upload_queue.ts";

export interface OnDemand {
  uploads: UploadQueue;
  log: Logger;
  /** The replica this process writes (a request naming another one is refused). */
  location: string;
}

/** Answers every waiting request of `slots`: snapshot, upload, answer, in each one's queue. */
export async function serveSnapshotRequests(
  slots: Iterable<DatabaseSlot>,
  context: OnDemand,
): Promise<void> {
  const log = context.log;
  for (const slot of slots) {
    const stagingDir = slot.stagingDir;
    if (stagingDir === null) continue;
    let requests;
    try {
      requests = await takeSnapshotRequests(stagingDir);
    } catch (error) {
      log.warn("could not read snapshot requests", { db: slot.name, error });
      continue;
    }
    for (const request of requests) {
      const run = slot.busy.then(async () => {
        let answer: SnapshotAnswer;
        try {
          answer = await requestedSnapshot(slot, request.replica, context);
        } catch (error) {
          answer = { ok: false, error: (error as Error).message };
        }
        log.info("snapshot requested by walsync snapshot", { db: slot.name, ...answer });
        await writeSnapshotAnswer(stagingDir, request.id, answer);
      }).catch((error) => {
        log.error("could not answer a snapshot request", { db: slot.name, error });
      });
      slot.busy = run;
    }
  }
}

async function requestedSnapshot(
  slot: DatabaseSlot,
  replica: string,
  context: OnDemand,
): Promise<SnapshotAnswer> {
  if (replica !== context.location) {
    throw new WalsyncError(
      `This walsync replicates "${slot.name}" to ${context.location}, not to ${replica}`,
    );
  }
  const { txid, replicator } = await snapshotNow(slot, "requested by walsync snapshot", context);
  const checksum = formatChecksum(replicator.databaseChecksum);
  return { ok: true, txid, checksum, replica: context.location };
}

/**
 * A snapshot (level 9 at the current TXID) of `slot`, staged and uploaded. Called from the
 * database's queue (`slot.busy`).
 */
export async function snapshotNow(
  slot: DatabaseSlot,
  reason: string,
  { uploads }: OnDemand,
): Promise<{ txid: number; replicator: Replicator }> {
  if (!slot.replicator) await slot.step(true, { open: true }); // released: open it
  const replicator = slot.replicator;
  if (!replicator) {
    throw new WalsyncError(`"${slot.name}" is not replicated now: ${slot.status().problem}`);
  }
  const { txid } = await replicator.snapshot(reason, { scheduled: true });
  slot.stats.snapshots++;
  slot.stats.captured(replicator.txid, replicator.uploadedTxid, Date.now());
  await uploads.idle(slot);
  await uploads.upload(slot, true);
  if (txid === null || replicator.uploadedTxid < txid) {
    throw new WalsyncError(`The snapshot of "${slot.name}" was staged but not uploaded yet`);
  }
  return { txid, replicator };
}
