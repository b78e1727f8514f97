/**
 * An in-memory object store with S3's conditional-write semantics for lease tests, or
 * (`conditional: false`) one that ignores the conditions like stores without support do. It
 * can play an outage (every request fails as unreachable) and a lost answer (a write is
 * applied, then reported refused, as the SDK's retry of it would be).
 */
import type { LeaseRecord, LeaseStore } from "../../src/replica/s3/s3_lease.ts";
import { parseRecord } from "../../src/replica/s3/s3_lease.ts";
import { S3UnreachableError } from "../../src/replica/s3/s3_errors.ts";
import type { ConditionalPutResult } from "../../src/replica/s3/s3_small_objects.ts";

export const LEASE_PATH = ".walsync-lease.json";

export class FakeLeaseStore implements LeaseStore {
  readonly location = "s3://bucket/prefix";
  objects = new Map<string, { data: Uint8Array; etag: string }>();
  puts = 0;
  /** Every request fails as if the store could not be reached. */
  down = false;
  /** The next this-many writes are applied, then answered as refused (a lost answer). */
  cutWrites = 0;
  /** Thrown by every request instead of the unreachable error, when set. */
  failWith: Error | null = null;
  #version = 0;

  constructor(readonly conditional = true) {}

  putObject(
    path: string,
    data: Uint8Array,
    options: { ifNoneMatch?: boolean; ifMatch?: string } = {},
  ): Promise<ConditionalPutResult> {
    this.#check();
    this.puts++;
    const current = this.objects.get(path);
    if (this.conditional) {
      if (options.ifNoneMatch && current) return Promise.resolve({ ok: false, reason: "exists" });
      if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
        return Promise.resolve({ ok: false, reason: "changed" });
      }
    }
    const etag = `"v${++this.#version}"`;
    this.objects.set(path, { data, etag });
    if (this.cutWrites > 0) {
      this.cutWrites--;
      return Promise.resolve({ ok: false, reason: options.ifNoneMatch ? "exists" : "changed" });
    }
    return Promise.resolve({ ok: true, etag });
  }

  getObject(path: string): Promise<{ data: Uint8Array; etag: string } | null> {
    this.#check();
    const current = this.objects.get(path);
    return Promise.resolve(current ? { ...current } : null);
  }

  removeObject(path: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    this.#check();
    const current = this.objects.get(path);
    if (this.conditional && options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
      return Promise.resolve(false);
    }
    this.objects.delete(path);
    return Promise.resolve(true);
  }

  /** The lease's holder as stored (bypasses `down`). */
  holder(): LeaseRecord | null {
    const current = this.objects.get(LEASE_PATH);
    return current ? parseRecord(current.data) : null;
  }

  /** The same store seen from another process: not affected by this one's outage. */
  get direct(): LeaseStore {
    const bypass = <T>(fn: () => Promise<T>): Promise<T> => {
      const down = this.down;
      this.down = false;
      try {
        return fn();
      } finally {
        this.down = down;
      }
    };
    return {
      location: this.location,
      putObject: (path, data, options) => bypass(() => this.putObject(path, data, options)),
      getObject: (path) => bypass(() => this.getObject(path)),
      removeObject: (path, options) => bypass(() => this.removeObject(path, options)),
    };
  }

  #check(): void {
    if (this.failWith) throw this.failWith;
    if (this.down) {
      throw new S3UnreachableError("Cannot reach the fake store (ECONNREFUSED)", {
        code: "ECONNREFUSED",
      });
    }
  }
}
