import assert from "node:assert/strict";
import { Logger } from "../../log.ts";
import { LeaseHeldError, LeaseLostError } from "../lease_holder.ts";
import { S3Lease } from "./s3_lease.ts";
import {
  FakeLeaseStore as FakeStore,
  LEASE_PATH,
} from "../../../tests/support/fake_lease_store.ts";
import { rejection } from "../../../tests/support/rejection.ts";

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

Deno.test("releasing marks the lease released so the next writer starts at once", async () => {
  const store = new FakeStore();
  const first = new S3Lease(store, { host: "alpha", pid: 1 });
  const held = await first.acquire();
  await first.release();
  // Kept, not deleted: a walsync cut off meanwhile must find who held the replica.
  assert.equal(store.holder()?.id, held.id);
  assert.equal(store.holder()?.released, true);
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
  await store.putObject(LEASE_PATH, new TextEncoder().encode("not json"));
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

Deno.test("a renewal applied whose answer was lost keeps the lease", async () => {
  const store = new FakeStore();
  const lease = new S3Lease(store, { host: "alpha", pid: 1 });
  const held = await lease.acquire();
  store.cutWrites = 1; // applied, then refused as the SDK's retry of it would be
  const renewed = await lease.renew();
  assert.equal(renewed.id, held.id);
  assert.equal(store.holder()?.expiresAt, renewed.expiresAt);
  await lease.renew(); // and the ETag it adopted is the right one
  assert.equal(store.holder()?.id, held.id);
});

Deno.test("an acquisition applied whose answer was lost still acquires", async () => {
  const store = new FakeStore();
  store.cutWrites = 1;
  const held = await new S3Lease(store, { host: "alpha", pid: 1 }).acquire();
  assert.equal(store.holder()?.id, held.id);
});

Deno.test("an acquisition retried after a lost answer recognises its own write", async () => {
  const store = new FakeStore();
  const lease = new S3Lease(store, { host: "alpha", pid: 1 });
  // The write lands, its answer is lost, and the store goes away before it can be read back.
  store.cutWrites = 1;
  const getObject = store.getObject.bind(store);
  let reads = 0;
  store.getObject = (path: string) => {
    if (++reads === 2) throw new Error("connection reset");
    return getObject(path);
  };
  await assert.rejects(() => lease.acquire(), /connection reset/);
  const held = await lease.acquire();
  assert.equal(store.holder()?.id, held.id);
});

Deno.test("a lease object deleted by hand is created again at the next renewal", async () => {
  const store = new FakeStore();
  const lease = new S3Lease(store, { host: "alpha", pid: 1 });
  const held = await lease.acquire();
  store.objects.delete(LEASE_PATH);
  await lease.renew();
  assert.equal(store.holder()?.id, held.id);
});

Deno.test("a lease another walsync took and released meanwhile is lost, naming it", async () => {
  const store = new FakeStore();
  let clock = 0;
  const lease = new S3Lease(store, { host: "alpha", pid: 1, now: () => clock });
  await lease.acquire();
  clock = 60_000; // cut off past expiry: another walsync takes over, writes, stops cleanly
  const other = new S3Lease(store, { host: "beta", pid: 2, now: () => clock });
  await other.acquire();
  await other.release();
  const error = await rejection(() => lease.renew());
  assert.ok(error instanceof LeaseLostError, String(error));
  assert.match(error.message, /taken over by walsync on host "beta" \(pid 2/);
});
