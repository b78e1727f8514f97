/**
 * One writer per replica: commands that write to a replica (`watch`, `snapshot`) hold its
 * lease while they run, so a second walsync exits naming the holder instead of interleaving
 * TXIDs. S3 replicas hold `<prefix>/.walsync-lease.json` (renewed, riding out outages: see
 * s3_lease_keeper.ts); file replicas hold an exclusive lock on `<root>/.walsync-lock`.
 */
import { UsageError, type WalsyncError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { FileReplicaClient } from "../replica/file/file_replica_client.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import type { S3ReplicaClient } from "../replica/s3/s3_replica_client.ts";

/** How long a clean stop waits to give the lease back before leaving it to expire. */
const RELEASE_TIMEOUT_MS = 5_000;

/** Where the lease stands: "held" lets uploads go; see s3_lease_keeper.ts for the others. */
export type LeaseStatus = "held" | "acquiring" | "doubt" | "lost";

export interface HeldLease {
  /** For metrics, `/health` and status. */
  readonly state: LeaseStatus;
  /** Set once another walsync holds the replica: stop writing, exit with this error. */
  readonly lost: WalsyncError | null;
  /** Uploads may go ahead now: false while the lease is being taken, in doubt, or lost. */
  canUpload(): boolean;
  /** Stops renewing and gives the lease back (not after losing it), within a few seconds. */
  release(): Promise<void>;
  /** Stops renewing without a request (a forced quit): an S3 lease then lapses by itself. */
  abandon(): Promise<void>;
}

export interface HoldReplicaLeaseOptions {
  logger: Logger;
  /** Aborted when the lease is lost, so the command stops. */
  controller: AbortController;
  /**
   * The daemon: when the store does not answer, start anyway with uploads paused and take the
   * lease once it answers. Otherwise such a failure is thrown (`--once`, `snapshot`).
   */
  waitForStorage?: boolean;
  /** Called when uploads may resume after the lease was being taken or in doubt. */
  onHeld?: () => void;
}

/**
 * Takes the replica's lease (a live holder is a `LeaseHeldError`) and keeps it until
 * released. Losing it to another walsync logs an error and aborts `controller`.
 */
export async function holdReplicaLease(
  client: ReplicaClient,
  options: HoldReplicaLeaseOptions,
): Promise<HeldLease> {
  if (client.kind === "file") return await holdFileLease(client as FileReplicaClient);
  if (client.kind !== "s3") {
    return {
      state: "held",
      lost: null,
      canUpload: () => true,
      release: () => Promise.resolve(),
      abandon: () => Promise.resolve(),
    };
  }
  const { logger, controller } = options;
  const { S3Lease } = await import("../replica/s3/s3_lease.ts");
  const { LeaseKeeper } = await import("../replica/s3/s3_lease_keeper.ts");
  const lease = new S3Lease(client as S3ReplicaClient, { logger, ttlMs: leaseTtlMs() });
  let lost: WalsyncError | null = null;
  const keeper = new LeaseKeeper(lease, {
    logger,
    onHeld: options.onHeld,
    onLost: (error) => {
      logger.error("stopping without further uploads: the replica lease was lost", { error });
      lost = error;
      controller.abort();
    },
  });
  await keeper.start({ waitForStorage: options.waitForStorage ?? false });
  return {
    get state() {
      return keeper.state;
    },
    get lost() {
      return lost;
    },
    canUpload: () => keeper.canUpload(),
    release: async () => {
      try {
        await keeper.release(AbortSignal.timeout(RELEASE_TIMEOUT_MS));
      } catch (error) {
        logger.warn("could not give the replica lease back; it expires by itself", {
          error,
          ttlMs: lease.ttlMs,
        });
      }
    },
    abandon: () => keeper.stop(),
  };
}

async function holdFileLease(client: FileReplicaClient): Promise<HeldLease> {
  const { FileLease } = await import("../replica/file/file_lease.ts");
  const lease = await FileLease.acquire(client.root, { location: client.location });
  return {
    state: "held",
    lost: null,
    canUpload: () => true,
    release: () => lease.release(),
    // The lock goes with the process; releasing it costs no request, so do it anyway.
    abandon: () => lease.release(),
  };
}

/**
 * Test-only: `WALSYNC_LEASE_TTL_MS` shortens the lease so outage tests need not wait out the
 * 30 s default. Not a supported setting: other walsync processes on the replica must agree.
 */
function leaseTtlMs(): number | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get("WALSYNC_LEASE_TTL_MS");
  } catch {
    return undefined; // no --allow-env
  }
  if (value === undefined || value === "") return undefined;
  const ttlMs = Number(value);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 300) {
    throw new UsageError(
      `WALSYNC_LEASE_TTL_MS "${value}" must be a whole number of ms, at least 300`,
    );
  }
  return ttlMs;
}
