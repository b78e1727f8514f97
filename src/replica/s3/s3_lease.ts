/**
 * Single writer per replica: a small JSON object created with `If-None-Match: *` and renewed
 * before it expires with `If-Match` on its ETag. A second walsync finds a live lease and
 * stops with an error naming the holder; a holder that died is taken over once its lease
 * expired (again with `If-Match`, so two successors cannot both win).
 *
 * A failed condition is not proof of a takeover: the SDK retries a write whose answer was
 * lost, and the retry fails its condition against our own applied write. So a refused write
 * reads the object back, and only another holder's id in it means the lease is lost. A clean
 * stop leaves the object marked released (not deleted), so a walsync that was cut off while
 * another one held and released the replica still learns of it.
 *
 * One lease per replica root (`<prefix>/.walsync-lease.json`) rather than per database: it
 * costs two requests per TTL for the whole process, whatever the database count, so idle
 * databases still cause no requests. Expiry compares the holder's `expiresAt` with the
 * local clock; hosts must keep their clocks within a few seconds (NTP) of each other.
 * `s3_lease_keeper.ts` renews it and rides out outages.
 *
 * Where the server ignores or rejects conditional writes, walsync warns once and continues
 * with a best-effort lease (read, then write).
 */
import { WalsyncError } from "../../errors.ts";
import { processAlive } from "../../process_alive.ts";
import type { Logger } from "../../log.ts";
import {
  encodeHolder,
  hostname,
  LeaseHeldError,
  type LeaseHolder,
  LeaseLostError,
  parseHolder,
} from "../lease_holder.ts";
import type { ConditionalPutResult } from "./s3_small_objects.ts";

export const DEFAULT_LEASE_PATH = ".walsync-lease.json";
export const DEFAULT_LEASE_TTL_MS = 30_000;
/** Renew after a third of the TTL: one renewal may fail without losing the lease. */
export const DEFAULT_RENEW_INTERVAL_MS = DEFAULT_LEASE_TTL_MS / 3;
/** Refused writes in one renewal before it gives up (each one reads the object back). */
const MAX_RENEW_ROUNDS = 4;

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
export interface LeaseRecord extends LeaseHolder {
  tool: "walsync";
  id: string;
  expiresAt: string;
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
  /** Ours for the life of this object: an earlier attempt's write is recognised as ours. */
  #id = crypto.randomUUID();
  #record: LeaseRecord | null = null;
  /** The ETag of our last write, or null when the object is gone (create it again). */
  #etag: string | undefined | null;
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

  /** Where the replica lives (for messages). */
  get location(): string {
    return this.#store.location;
  }

  get #location(): string {
    return `${this.#store.location.replace(/\/$/, "")}/${this.path}`;
  }

  /** Takes the lease, or throws `LeaseHeldError` naming the live holder. */
  async acquire(signal?: AbortSignal): Promise<LeaseRecord> {
    const now = this.#now();
    const record: LeaseRecord = {
      tool: "walsync",
      id: this.#id,
      host: this.#options.host ?? hostname(),
      pid: this.#options.pid ?? Deno.pid,
      since: new Date(now).toISOString(),
      expiresAt: new Date(now + this.ttlMs).toISOString(),
    };
    const body = encodeHolder(record);
    const current = await this.#store.getObject(this.path, signal);
    let result: ConditionalPutResult;
    if (current) {
      const holder = parseRecord(current.data);
      if (!holder) throw new LeaseHeldError(this.#store.location, null);
      const ours = holder.id === this.#id; // an earlier attempt of ours landed unanswered
      const gone = this.#holderGone(holder);
      if (!ours && !holder.released && !this.#expired(holder) && !gone) {
        throw new LeaseHeldError(this.#store.location, holder);
      }
      if (!ours && !holder.released) {
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
      }
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
      // Another process won the race between our read and our write, or our own write landed
      // and the SDK's retry of it was refused: the object says which.
      const winner = await this.#store.getObject(this.path, signal);
      const holder = winner ? parseRecord(winner.data) : null;
      if (!winner || holder?.id !== record.id) {
        throw new LeaseHeldError(this.#store.location, holder);
      }
      result = { ok: true, etag: winner.etag };
    }
    this.#record = record;
    this.#etag = result.etag;
    if (this.#conditional) await this.#probe(body, signal);
    return record;
  }

  /**
   * Extends the lease by its TTL. Throws `LeaseLostError` only when another holder's id is in
   * the lease object; any other failure (an outage) is an ordinary error to retry.
   */
  async renew(signal?: AbortSignal): Promise<LeaseRecord> {
    const held = this.#record;
    if (!held) throw new LeaseLostError(`Lease "${this.#location}" is not held`);
    const record = { ...held, expiresAt: new Date(this.#now() + this.ttlMs).toISOString() };
    const body = encodeHolder(record);
    for (let round = 0; round < MAX_RENEW_ROUNDS && this.#conditional; round++) {
      const result = this.#etag === null
        ? await this.#store.putObject(this.path, body, { ifNoneMatch: true, signal })
        : this.#etag === undefined
        ? { ok: false as const, reason: "unsupported" as const }
        : await this.#store.putObject(this.path, body, { ifMatch: this.#etag, signal });
      if (result.ok) return this.#renewed(record, result.etag);
      if (result.reason === "unsupported") {
        this.#unsupported("the server rejected a conditional write");
        break;
      }
      // Not the version we last wrote: find out whose it is now.
      const current = await this.#store.getObject(this.path, signal);
      if (!current) {
        // Deleted by hand (a takeover leaves its holder's record): ours to create again.
        this.#options.logger?.warn("the replica lease object was deleted; creating it again", {
          replica: this.#store.location,
        });
        this.#etag = null;
        continue;
      }
      const holder = parseRecord(current.data);
      if (holder?.id !== held.id) this.#lost(holder);
      // Ours: an earlier write of ours landed although its answer was lost.
      this.#etag = current.etag;
    }
    if (this.#conditional) {
      throw new WalsyncError(
        `Lease "${this.#location}" changed on every one of ${MAX_RENEW_ROUNDS} renewal attempts`,
      );
    }
    // Best effort: make sure nobody else took over, then write.
    const current = await this.#store.getObject(this.path, signal);
    const holder = current ? parseRecord(current.data) : null;
    if (current && holder?.id !== held.id) this.#lost(holder);
    const result = await this.#store.putObject(this.path, body, { signal });
    return this.#renewed(record, result.ok ? result.etag : undefined);
  }

  #renewed(record: LeaseRecord, etag: string | undefined): LeaseRecord {
    this.#record = record;
    this.#etag = etag;
    return record;
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

  /**
   * Gives the lease up: marks the object released if it is still ours, so the next walsync
   * starts at once and one that was cut off meanwhile learns that another one held it.
   */
  async release(signal?: AbortSignal): Promise<void> {
    const held = this.#record;
    if (!held) return;
    this.#record = null;
    const body = encodeHolder({
      ...held,
      expiresAt: new Date(this.#now()).toISOString(),
      released: true,
    });
    if (this.#conditional && typeof this.#etag === "string") {
      const result = await this.#store.putObject(this.path, body, { ifMatch: this.#etag, signal });
      if (result.ok) return;
      // Refused: our last renewal may have landed unanswered (or the condition is not
      // supported after all); release only what is still ours.
    }
    const current = await this.#store.getObject(this.path, signal);
    if (current && parseRecord(current.data)?.id === held.id) {
      await this.#store.putObject(
        this.path,
        body,
        this.#conditional && current.etag !== undefined
          ? { ifMatch: current.etag, signal }
          : { signal },
      );
    }
  }

  #expired(holder: LeaseRecord): boolean {
    const expiresAt = Date.parse(holder.expiresAt);
    return !Number.isFinite(expiresAt) || expiresAt <= this.#now();
  }

  #lost(holder: LeaseHolder | null): never {
    this.#record = null;
    throw new LeaseLostError(
      holder
        ? `Lease "${this.#location}" was taken over by walsync on host "${holder.host}" ` +
          `(pid ${holder.pid}, since ${holder.since}); this process stops writing the replica`
        : `Lease "${this.#location}" was replaced by an object walsync cannot read; this process stops writing the replica`,
      holder,
    );
  }

  /**
   * Checks that the server honours both conditions, using writes of the same content so a
   * server that ignores them is left unchanged. Two requests, once per acquisition; if they
   * fail (an outage right after acquiring), the check waits for the next acquisition.
   */
  async #probe(body: Uint8Array, signal?: AbortSignal): Promise<void> {
    try {
      const ifMatch = await this.#store.putObject(this.path, body, {
        ifMatch: PROBE_ETAG,
        signal,
      });
      if (ifMatch.ok) {
        this.#etag = ifMatch.etag;
        this.#unsupported("the server ignores If-Match");
        return;
      }
      if (ifMatch.reason === "unsupported") {
        this.#unsupported("the server rejected If-Match");
        return;
      }
      const ifNoneMatch = await this.#store.putObject(this.path, body, {
        ifNoneMatch: true,
        signal,
      });
      if (ifNoneMatch.ok) {
        this.#etag = ifNoneMatch.etag;
        this.#unsupported("the server ignores If-None-Match");
      } else if (ifNoneMatch.reason === "unsupported") {
        this.#unsupported("the server rejected If-None-Match");
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      this.#options.logger?.warn("could not check the S3 server's conditional writes", {
        replica: this.#store.location,
        error,
      });
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

/** The lease record, or null when the object is not an S3 lease walsync can read. */
export function parseRecord(data: Uint8Array): LeaseRecord | null {
  const holder = parseHolder(data);
  return holder?.id !== undefined && holder.expiresAt !== undefined
    ? { ...holder, tool: "walsync" } as LeaseRecord
    : null;
}
