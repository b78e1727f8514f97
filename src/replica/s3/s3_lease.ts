/**
 * Single writer per replica: a small JSON object created with `If-None-Match: *` and renewed
 * before it expires with `If-Match` on its ETag. A second walsync finds a live lease and
 * stops with an error naming the holder; a holder that died is taken over once its lease
 * expired (again with `If-Match`, so two successors cannot both win).
 *
 * One lease per replica root (`<prefix>/.walsync-lease.json`) rather than per database: it
 * costs two requests per TTL for the whole process, whatever the database count, so idle
 * databases still cause no requests. Expiry compares the holder's `expiresAt` with the
 * local clock; hosts must keep their clocks within a few seconds (NTP) of each other.
 *
 * Where the server ignores or rejects conditional writes, walsync warns once and continues
 * with a best-effort lease (read, then write).
 */
import { WalsyncError } from "../../errors.ts";
import { processAlive } from "../../process_alive.ts";
import type { Logger } from "../../log.ts";
import type { ConditionalPutResult } from "./s3_small_objects.ts";

export const DEFAULT_LEASE_PATH = ".walsync-lease.json";
export const DEFAULT_LEASE_TTL_MS = 30_000;
/** Renew after a third of the TTL: one renewal may fail without losing the lease. */
export const DEFAULT_RENEW_INTERVAL_MS = DEFAULT_LEASE_TTL_MS / 3;

/** An ETag no object ever has: a write conditioned on it must fail where If-Match works. */
const PROBE_ETAG = '"walsync-conditional-write-probe"';

/** The small-object operations a lease needs (the S3 replica client provides them). */
export interface LeaseStore {
  readonly location: string;
  putObject(
    path: string,
    data: Uint8Array,
    options?: { ifNoneMatch?: boolean; ifMatch?: string; signal?: AbortSignal },
  ): Promise<ConditionalPutResult>;
  getObject(
    path: string,
    signal?: AbortSignal,
  ): Promise<{ data: Uint8Array; etag: string | undefined } | null>;
  removeObject(
    path: string,
    options?: { ifMatch?: string; signal?: AbortSignal },
  ): Promise<boolean>;
}

/** What the lease object holds. */
export interface LeaseRecord {
  tool: "walsync";
  /** Random per acquisition: tells our own lease from another process's. */
  id: string;
  host: string;
  pid: number;
  /** When this holder first acquired the lease (RFC 3339). */
  since: string;
  /** When the lease lapses unless renewed (RFC 3339). */
  expiresAt: string;
}

/** Another live writer holds the lease. */
export class LeaseHeldError extends WalsyncError {
  readonly holder: LeaseRecord | null;

  constructor(location: string, holder: LeaseRecord | null, options?: ErrorOptions) {
    super(
      holder
        ? `Replica "${location}" is already written by walsync on host "${holder.host}" ` +
          `(pid ${holder.pid}, since ${holder.since}, lease until ${holder.expiresAt}); ` +
          "stop that process, or wait for its lease to expire if it is gone"
        : `Replica "${location}" has a lease object walsync cannot read; if no other process ` +
          "writes this replica, delete the lease object and start again",
      options,
    );
    this.holder = holder;
  }
}

/** This process no longer holds the lease: it must stop writing to the replica. */
export class LeaseLostError extends WalsyncError {
  readonly holder: LeaseRecord | null;

  constructor(message: string, holder: LeaseRecord | null = null, options?: ErrorOptions) {
    super(message, options);
    this.holder = holder;
  }
}

export interface S3LeaseOptions {
  /** Relative to the replica root; default `.walsync-lease.json`. */
  path?: string;
  ttlMs?: number;
  renewIntervalMs?: number;
  /** Defaults: this machine's hostname and this process's pid. */
  host?: string;
  pid?: number;
  /** Clock in ms (tests move it). */
  now?: () => number;
  /** Whether a process on this host is alive (default: `/proc/<pid>` exists, on Linux). */
  processAlive?: (pid: number) => boolean;
  logger?: Logger;
}

export class S3Lease {
  readonly path: string;
  readonly ttlMs: number;
  readonly renewIntervalMs: number;
  #store: LeaseStore;
  #options: S3LeaseOptions;
  #now: () => number;
  #record: LeaseRecord | null = null;
  #etag: string | undefined;
  #conditional = true;
  #warned = false;

  constructor(store: LeaseStore, options: S3LeaseOptions = {}) {
    this.#store = store;
    this.#options = options;
    this.path = options.path ?? DEFAULT_LEASE_PATH;
    this.ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.renewIntervalMs = options.renewIntervalMs ?? Math.floor(this.ttlMs / 3);
    if (this.renewIntervalMs >= this.ttlMs) {
      throw new RangeError(`Lease renew interval ${this.renewIntervalMs} ms must be below its TTL`);
    }
    this.#now = options.now ?? Date.now;
  }

  /** The lease as last written by this process, or null when not held. */
  get record(): LeaseRecord | null {
    return this.#record;
  }

  /** False once the server turned out to lack conditional writes (the lease is best effort). */
  get conditionalWrites(): boolean {
    return this.#conditional;
  }

  get #location(): string {
    return `${this.#store.location.replace(/\/$/, "")}/${this.path}`;
  }

  /** Takes the lease, or throws `LeaseHeldError` naming the live holder. */
  async acquire(signal?: AbortSignal): Promise<LeaseRecord> {
    const now = this.#now();
    const record: LeaseRecord = {
      tool: "walsync",
      id: crypto.randomUUID(),
      host: this.#options.host ?? hostname(),
      pid: this.#options.pid ?? Deno.pid,
      since: new Date(now).toISOString(),
      expiresAt: new Date(now + this.ttlMs).toISOString(),
    };
    const body = encodeRecord(record);
    const current = await this.#store.getObject(this.path, signal);
    let result: ConditionalPutResult;
    if (current) {
      const holder = parseRecord(current.data);
      if (!holder) throw new LeaseHeldError(this.#store.location, null);
      const gone = this.#holderGone(holder);
      if (!this.#expired(holder) && !gone) throw new LeaseHeldError(this.#store.location, holder);
      this.#options.logger?.info(
        gone
          ? "taking over the lease of a walsync that died on this host"
          : "taking over an expired replica lease",
        {
          replica: this.#store.location,
          host: holder.host,
          pid: holder.pid,
          expiresAt: holder.expiresAt,
        },
      );
      result = current.etag === undefined
        ? { ok: false, reason: "unsupported" }
        : await this.#store.putObject(this.path, body, { ifMatch: current.etag, signal });
    } else {
      result = await this.#store.putObject(this.path, body, { ifNoneMatch: true, signal });
    }
    if (!result.ok && result.reason === "unsupported") {
      this.#unsupported("the server rejected a conditional write");
      result = await this.#store.putObject(this.path, body, { signal });
    }
    if (!result.ok) {
      // Another process won the race between our read and our write.
      const winner = await this.#store.getObject(this.path, signal);
      throw new LeaseHeldError(this.#store.location, winner ? parseRecord(winner.data) : null);
    }
    this.#record = record;
    this.#etag = result.etag;
    if (this.#conditional) await this.#probe(body, signal);
    return record;
  }

  /** Extends the lease by its TTL; throws `LeaseLostError` if another process took it. */
  async renew(signal?: AbortSignal): Promise<LeaseRecord> {
    const held = this.#record;
    if (!held) throw new LeaseLostError(`Lease "${this.#location}" is not held`);
    const record = { ...held, expiresAt: new Date(this.#now() + this.ttlMs).toISOString() };
    const body = encodeRecord(record);
    let result: ConditionalPutResult;
    if (this.#conditional && this.#etag !== undefined) {
      result = await this.#store.putObject(this.path, body, { ifMatch: this.#etag, signal });
      if (!result.ok && result.reason === "unsupported") {
        this.#unsupported("the server rejected a conditional write");
      }
    } else {
      result = { ok: false, reason: "unsupported" };
    }
    if (!result.ok && result.reason === "unsupported") {
      // Best effort: make sure nobody else took over, then write.
      const current = await this.#store.getObject(this.path, signal);
      const holder = current ? parseRecord(current.data) : null;
      if (current && holder?.id !== held.id) this.#lost(holder);
      result = await this.#store.putObject(this.path, body, { signal });
    }
    if (!result.ok) {
      const current = await this.#store.getObject(this.path, signal);
      this.#lost(current ? parseRecord(current.data) : null);
    }
    this.#record = record;
    this.#etag = result.ok ? result.etag : undefined;
    return record;
  }

  /**
   * Renews every `renewIntervalMs` until `signal` aborts. Calls `onLost` once, and returns,
   * when another process took the lease or renewals kept failing until the next one would
   * come too late: the caller must stop writing to the replica then.
   */
  async keepAlive(
    options: { signal: AbortSignal; onLost: (error: LeaseLostError) => void },
  ): Promise<void> {
    const { signal, onLost } = options;
    while (!signal.aborted) {
      try {
        await sleep(this.renewIntervalMs, signal);
      } catch {
        return; // aborted
      }
      try {
        await this.renew(signal);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof LeaseLostError) {
          onLost(error);
          return;
        }
        const expiresAt = Date.parse(this.#record?.expiresAt ?? "");
        if (!(this.#now() + this.renewIntervalMs < expiresAt)) {
          this.#record = null;
          onLost(
            new LeaseLostError(
              `Lease "${this.#location}" could not be renewed before it expires: ${
                (error as Error).message
              }`,
              null,
              { cause: error },
            ),
          );
          return;
        }
        this.#options.logger?.warn("replica lease renewal failed; retrying", {
          replica: this.#store.location,
          error: (error as Error).message,
        });
      }
    }
  }

  /**
   * A holder on this host whose process no longer exists (walsync was killed and restarted):
   * its lease can be taken at once instead of after it expires. Where liveness cannot be
   * checked, the holder counts as alive; a reused pid also counts as alive (safe side).
   */
  #holderGone(holder: LeaseRecord): boolean {
    const host = this.#options.host ?? hostname();
    const pid = this.#options.pid ?? Deno.pid;
    if (holder.host !== host || holder.pid === pid) return false;
    const alive = this.#options.processAlive ?? processAlive;
    return !alive(holder.pid);
  }

  /** Gives the lease up (deletes the object if it is still ours). */
  async release(signal?: AbortSignal): Promise<void> {
    const held = this.#record;
    if (!held) return;
    this.#record = null;
    if (this.#conditional && this.#etag !== undefined) {
      await this.#store.removeObject(this.path, { ifMatch: this.#etag, signal });
      return;
    }
    const current = await this.#store.getObject(this.path, signal);
    if (current && parseRecord(current.data)?.id === held.id) {
      await this.#store.removeObject(this.path, { signal });
    }
  }

  #expired(holder: LeaseRecord): boolean {
    const expiresAt = Date.parse(holder.expiresAt);
    return !Number.isFinite(expiresAt) || expiresAt <= this.#now();
  }

  #lost(holder: LeaseRecord | null): never {
    this.#record = null;
    throw new LeaseLostError(
      holder
        ? `Lease "${this.#location}" was taken over by walsync on host "${holder.host}" ` +
          `(pid ${holder.pid}, since ${holder.since}); this process stops writing the replica`
        : `Lease "${this.#location}" was removed or replaced; this process stops writing the replica`,
      holder,
    );
  }

  /**
   * Checks that the server honours both conditions, using writes of the same content so a
   * server that ignores them is left unchanged. Two requests, once per acquisition.
   */
  async #probe(body: Uint8Array, signal?: AbortSignal): Promise<void> {
    const ifMatch = await this.#store.putObject(this.path, body, { ifMatch: PROBE_ETAG, signal });
    if (ifMatch.ok) {
      this.#etag = ifMatch.etag;
      this.#unsupported("the server ignores If-Match");
      return;
    }
    if (ifMatch.reason === "unsupported") {
      this.#unsupported("the server rejected If-Match");
      return;
    }
    const ifNoneMatch = await this.#store.putObject(this.path, body, { ifNoneMatch: true, signal });
    if (ifNoneMatch.ok) {
      this.#etag = ifNoneMatch.etag;
      this.#unsupported("the server ignores If-None-Match");
    } else if (ifNoneMatch.reason === "unsupported") {
      this.#unsupported("the server rejected If-None-Match");
    }
  }

  #unsupported(why: string): void {
    this.#conditional = false;
    if (this.#warned) return;
    this.#warned = true;
    this.#options.logger?.warn(
      "S3 server lacks conditional writes; the single-writer lease is best effort: do not run two walsync processes on this replica",
      { replica: this.#store.location, reason: why },
    );
  }
}

function encodeRecord(record: LeaseRecord): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(record)}\n`);
}

/** The holder, or null when the object is not a walsync lease walsync can read. */
export function parseRecord(data: Uint8Array): LeaseRecord | null {
  try {
    const value = JSON.parse(new TextDecoder().decode(data));
    if (
      value && typeof value === "object" && typeof value.id === "string" &&
      typeof value.host === "string" && typeof value.pid === "number" &&
      typeof value.since === "string" && typeof value.expiresAt === "string"
    ) {
      return value as LeaseRecord;
    }
  } catch { /* not JSON */ }
  return null;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
