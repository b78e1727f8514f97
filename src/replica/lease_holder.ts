/**
 * What every backend's single-writer lease shares: the holder record it stores (so a refusal
 * can name the holder), and the two errors: the replica is held by another walsync, or this
 * process lost it. The S3 lease (`s3/s3_lease.ts`) and the file replica's lock
 * (`file/file_lease.ts`) use them.
 */
import { WalsyncError } from "../errors.ts";

/** Who holds a replica: what a refusal names. */
export interface LeaseHolder {
  host: string;
  pid: number;
  /** When this holder took the replica (RFC 3339). */
  since: string;
  /** Random per acquisition: tells one holder from another (S3 lease). */
  id?: string;
  /** When the lease lapses unless renewed (S3 lease; a file lock lasts as long as its holder). */
  expiresAt?: string;
  /** Set when the holder stopped cleanly: the replica is free (S3 lease). */
  released?: boolean;
}

/** Another live writer holds the replica. */
export class LeaseHeldError extends WalsyncError {
  readonly holder: LeaseHolder | null;

  /** `lock`: the lock file whose holder has not written its name yet (file replicas). */
  constructor(
    location: string,
    holder: LeaseHolder | null,
    options?: ErrorOptions & { lock?: string },
  ) {
    super(
      holder === null && options?.lock !== undefined
        ? `Replica "${location}" is already written by another walsync (lock "${options.lock}" is held); stop that process first`
        : heldMessage(location, holder),
      options,
    );
    this.holder = holder;
  }
}

/** This process no longer holds the replica's lease: it must stop writing to the replica. */
export class LeaseLostError extends WalsyncError {
  readonly holder: LeaseHolder | null;

  constructor(message: string, holder: LeaseHolder | null = null, options?: ErrorOptions) {
    super(message, options);
    this.holder = holder;
  }
}

function heldMessage(location: string, holder: LeaseHolder | null): string {
  if (!holder) {
    return `Replica "${location}" has a lease object walsync cannot read; if no other process ` +
      "writes this replica, delete the lease object and start again";
  }
  const who = `Replica "${location}" is already written by walsync on host "${holder.host}" ` +
    `(pid ${holder.pid}, since ${holder.since}`;
  return holder.expiresAt === undefined
    ? `${who}); stop that process first`
    : `${who}, lease until ${holder.expiresAt}); stop that process, or wait for its lease to ` +
      "expire if it is gone";
}

/** The holder in `data`, or null when it is not a walsync holder record walsync can read. */
export function parseHolder(data: Uint8Array): LeaseHolder | null {
  try {
    const value = JSON.parse(new TextDecoder().decode(data));
    if (
      value && typeof value === "object" && typeof value.host === "string" &&
      typeof value.pid === "number" && typeof value.since === "string" &&
      (value.id === undefined || typeof value.id === "string") &&
      (value.expiresAt === undefined || typeof value.expiresAt === "string")
    ) {
      return value as LeaseHolder;
    }
  } catch { /* not JSON */ }
  return null;
}

export function encodeHolder(holder: LeaseHolder & { tool: "walsync" }): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(holder)}\n`);
}

/** This machine's name, as holders record it. */
export function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}
