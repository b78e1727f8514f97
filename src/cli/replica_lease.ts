/**
 * One writer per replica: commands that write to an S3 replica (`watch`, `snapshot`) hold its
 * lease while they run, so a second walsync exits naming the holder instead of interleaving
 * TXIDs. File replicas rely on each database's staging lock instead.
 */
import type { Logger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import type { LeaseLostError, S3Lease } from "../replica/s3/s3_lease.ts";
import type { S3ReplicaClient } from "../replica/s3/s3_replica_client.ts";

export interface HeldLease {
  /** Set once the lease was lost to another process: stop writing. */
  readonly lost: LeaseLostError | null;
  /** Gives the lease back (not after losing it). */
  release(): Promise<void>;
}

/**
 * Acquires the replica's lease (S3 only; a no-op otherwise) and renews it until `controller`
 * aborts. Losing it logs an error and aborts `controller`.
 */
export async function holdReplicaLease(
  client: ReplicaClient,
  options: { logger: Logger; controller: AbortController },
): Promise<HeldLease> {
  const { logger, controller } = options;
  if (client.kind !== "s3") return { lost: null, release: () => Promise.resolve() };
  const { S3Lease } = await import("../replica/s3/s3_lease.ts");
  const lease: S3Lease = new S3Lease(client as S3ReplicaClient, { logger });
  await lease.acquire(controller.signal);
  let lost: LeaseLostError | null = null;
  void lease.keepAlive({
    signal: controller.signal,
    onLost: (error) => {
      logger.error("stopping without further uploads: the replica lease was lost", { error });
      lost = error;
      controller.abort();
    },
  });
  return {
    get lost() {
      return lost;
    },
    release: async () => {
      if (lost === null) await lease.release().catch(() => {});
    },
  };
}
