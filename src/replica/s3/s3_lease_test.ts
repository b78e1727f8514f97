import assert from "node:assert/strict";
import { Logger } from "../../log.ts";
import {
  LeaseHeldError,
  LeaseLostError,
  type LeaseStore,
  parseRecord,
  S3Lease,
} from "./s3_lease.ts";
import type { ConditionalPutResult } from "./s3_small_objects.ts";
import { rejection } from "../../../tests/support/rejection.ts";

/**
 * An in-memory object store with S3's conditional-write semantics, or (`conditional:
 * false`) one that ignores the conditions like stores without support do.
 */
class FakeStore implements LeaseStore {
  readonly location = "s3://bucket/prefix";
  objects = new Map<string, { data: Uint8Array; etag: string }>();
  puts = 0;
  #version = 0;

  constructor(readonly conditional = true) {}

  putObject(
    path: string,
    data: Uint8Array,
    options: { ifNoneMatch?: boolean; ifMatch?: string } = {},
  ): Promise<ConditionalPutResult> {
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
    return Promise.resolve({ ok: true, etag });
  }

  getObject(path: string) {
    const current = this.objects.get(path);
    return Promise.resolve(current ? { ...current } : null);
  }

  removeObject(path: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    const current = this.objects.get(path);
    if (this.conditional && options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
      return Promise.resolve(false);
    }
    this.objects.delete(path);
    return Promise.resolve(true);
  }

  holder() {
    const current = this.objects.get(".walsync-lease.json");
    return current ? parseRecord(current.data) : null;
  }
}

function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    logger: new Logger({ format: "json", level: "debug", write: (line) => lines.push(line) }),
    lines,
  };
}

Deno.test("a lease names its holder and a second writer fails naming it", async () => {
  const store = new FakeStore();
  let clock = 1_700_000_000_000;
  const first = new S3Lease(store, { host: "alpha", pid: 11, now: () => clock });
  const record = await first.acquire();
  assert.equal(record.host, "alpha");
  assert.equal(record.pid, 11);
  assert.equal(record.since, "2023-11-14T22:13:20.000Z");
  assert.equal(record.expiresAt, "2023-11-14T22:13:50.000Z");
  assert.equal(first.conditionalWrites, true);

  clock += 29_000;
  const second = new S3Lease(store, { host: "beta", pid: 22, now: () => clock });
  const error = await rejection(() => second.acquire());
  assert.ok(error instanceof LeaseHeldError);
  assert.match(
    error.message,
    /already written by walsync on host "alpha" \(pid 11, since 2023-11-14T22:13:20.000Z/,
  );
  assert.equal(store.holder()?.host, "alpha");
});

Deno.test("renewing extends the lease and keeps its start time", async () => {
  const store = new FakeStore();
  let clock = 1_000_000;
  const lease = new S3Lease(store, { host: "alpha", pid: 1, now: () => clock });
  await lease.acquire();
  clock += 10_000;
  const renewed = await lease.renew();
  assert.equal(renewed.since, new Date(1_000_000).toISOString());
  assert.equal(renewed.expiresAt, new Date(1_040_000).toISOString());
  assert.equal(store.holder()?.expiresAt, renewed.expiresAt);
});

Deno.test("an expired lease is taken over and its old holder learns it lost the lease", async () => {
  const store = new FakeStore();
  let clock = 1_000_000;
  const old = new S3Lease(store, { host: "alpha", pid: 1, now: () => clock });
  await old.acquire();
  clock += 30_001;
  const next = new S3Lease(store, { host: "beta", pid: 2, now: () => clock });
  await next.acquire();
  assert.equal(store.holder()?.host, "beta");
  const error = await rejection(() => old.renew());
  assert.ok(error instanceof LeaseLostError);
  assert.match(error.message, /taken over by walsync on host "beta" \(pid 2/);
  assert.equal(old.record, null);
  assert.equal(store.holder()?.host, "beta", "the loser must not overwrite the new holder");
});

Deno.test("releasing deletes the lease so the next writer starts at once", async () => {
  const store = new FakeStore();
  const first = new S3Lease(store, { host: "alpha", pid: 1 });
  await first.acquire();
  await first.release();
  assert.equal(store.objects.size, 0);
  await new S3Lease(store, { host: "beta", pid: 2 }).acquire();
  assert.equal(store.holder()?.host, "beta");
});

Deno.test("a released lease that was taken over is left to its new holder", async () => {
  const store = new FakeStore();
  let clock = 0;
  const old = new S3Lease(store, { host: "alpha", pid: 1, now: () => clock });
  await old.acquire();
  clock = 60_000;
  await new S3Lease(store, { host: "beta", pid: 2, now: () => clock }).acquire();
  await old.release();
  assert.equal(store.holder()?.host, "beta");
});

Deno.test("an unreadable lease object stops a writer with a hint", async () => {
  const store = new FakeStore();
  await store.putObject(".walsync-lease.json", new TextEncoder().encode("not json"));
  await assert.rejects(() => new S3Lease(store).acquire(), /delete the lease object/);
});

Deno.test("a store without conditional writes gets one warning and a best-effort lease", async () => {
  const store = new FakeStore(false);
  const { logger, lines } = capturingLogger();
  let clock = 0;
  const lease = new S3Lease(store, { host: "alpha", pid: 1, now: () => clock, logger });
  await lease.acquire();
  assert.equal(lease.conditionalWrites, false);
  clock += 10_000;
  await lease.renew();
  await lease.renew();
  const warnings = lines.filter((line) => line.includes("lacks conditional writes"));
  assert.equal(warnings.length, 1);
  // Still refuses a second live writer, by reading first.
  await assert.rejects(
    () => new S3Lease(store, { host: "beta", pid: 2, now: () => clock }).acquire(),
    LeaseHeldError,
  );
  // And notices a takeover at its next renewal.
  clock += 60_000;
  await new S3Lease(store, { host: "beta", pid: 2, now: () => clock }).acquire();
  await assert.rejects(() => lease.renew(), LeaseLostError);
});

Deno.test("keepAlive renews until stopped and reports a takeover once", async () => {
  const store = new FakeStore();
  const lease = new S3Lease(store, { host: "alpha", pid: 1, ttlMs: 60_000, renewIntervalMs: 5 });
  await lease.acquire();
  const controller = new AbortController();
  const lost: LeaseLostError[] = [];
  const running = lease.keepAlive({ signal: controller.signal, onLost: (e) => lost.push(e) });
  const putsAfterAcquire = store.puts;
  while (store.puts < putsAfterAcquire + 3) await new Promise((r) => setTimeout(r, 5));
  // Another process replaces the lease (as if ours had expired): the next renewal fails.
  await store.putObject(
    ".walsync-lease.json",
    new TextEncoder().encode(JSON.stringify({
      tool: "walsync",
      id: "other",
      host: "beta",
      pid: 2,
      since: "2026-01-01T00:00:00.000Z",
      expiresAt: "2999-01-01T00:00:00.000Z",
    })),
  );
  await running;
  assert.equal(lost.length, 1);
  assert.match(lost[0].message, /taken over by walsync on host "beta"/);
  controller.abort();
});

Deno.test("keepAlive gives the lease up when renewals keep failing until expiry", async () => {
  const store = new FakeStore();
  let clock = 0;
  const lease = new S3Lease(store, { ttlMs: 30, renewIntervalMs: 10, now: () => clock });
  await lease.acquire();
  store.putObject = () => {
    clock += 10;
    return Promise.reject(new Error("connection refused"));
  };
  const lost: LeaseLostError[] = [];
  await lease.keepAlive({ signal: new AbortController().signal, onLost: (e) => lost.push(e) });
  assert.equal(lost.length, 1);
  assert.match(lost[0].message, /could not be renewed before it expires: connection refused/);
  assert.equal(lease.record, null);
});

Deno.test("a lease left by a walsync that died on this host is taken over at once", async () => {
  const store = new FakeStore();
  const clock = 1_700_000_000_000;
  await new S3Lease(store, { host: "alpha", pid: 11, now: () => clock }).acquire();
  const alive = new Set([11]);
  const restarted = () =>
    new S3Lease(store, {
      host: "alpha",
      pid: 12,
      now: () => clock,
      processAlive: (pid) => alive.has(pid),
    });
  assert.ok(
    (await rejection(() => restarted().acquire())) instanceof LeaseHeldError,
    "holder alive",
  );
  alive.delete(11);
  const record = await restarted().acquire();
  assert.equal(record.pid, 12);
  assert.equal(store.holder()?.pid, 12);
  const elsewhere = new S3Lease(store, {
    host: "beta",
    pid: 11,
    now: () => clock,
    processAlive: () => false,
  });
  assert.ok((await rejection(() => elsewhere.acquire())) instanceof LeaseHeldError, "another host");
});
