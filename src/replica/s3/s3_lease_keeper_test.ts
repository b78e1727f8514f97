import assert from "node:assert/strict";
import { Logger } from "../../log.ts";
import { LeaseHeldError, type LeaseLostError } from "../lease_holder.ts";
import { S3AccessDeniedError } from "./s3_errors.ts";
import { S3Lease } from "./s3_lease.ts";
import { LeaseKeeper } from "./s3_lease_keeper.ts";
import { FakeLeaseStore } from "../../../tests/support/fake_lease_store.ts";
import { rejection } from "../../../tests/support/rejection.ts";

/** A short lease so tests see expiry in a fraction of a second (the keeper waits in real time). */
const TTL_MS = 300;
/** Only a hang reaches this. */
const HANG_MS = 10_000;

function setup(store = new FakeLeaseStore(), options: { host?: string; pid?: number } = {}) {
  const lines: { level: string; msg: string; [key: string]: unknown }[] = [];
  const logger = new Logger({
    format: "json",
    level: "debug",
    write: (line) => lines.push(JSON.parse(line)),
  });
  const lost: (LeaseLostError | LeaseHeldError)[] = [];
  let held = 0;
  const lease = new S3Lease(store, {
    host: options.host ?? "alpha",
    pid: options.pid ?? 1,
    ttlMs: TTL_MS,
  });
  const keeper = new LeaseKeeper(lease, {
    logger,
    retryMs: 10,
    maxRetryMs: 30,
    onHeld: () => held++,
    onLost: (error) => lost.push(error),
  });
  return { store, keeper, lease, lines, lost, held: () => held };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("an outage past the lease's expiry pauses uploads, and the lease is renewed after it", async () => {
  const { store, keeper, lines, lost, held } = setup();
  await keeper.start({ waitForStorage: true });
  try {
    assert.equal(keeper.state, "held");
    assert.equal(keeper.canUpload(), true);
    store.down = true;
    await until("doubt", () => keeper.state === "doubt");
    assert.equal(keeper.canUpload(), false);
    const errors = lines.filter((l) => l.level === "error");
    assert.equal(errors.length, 1, "one error line per state change");
    assert.match(errors[0].msg, /uploads pause until the replica answers/);
    await new Promise((resolve) => setTimeout(resolve, TTL_MS)); // well past expiry
    assert.equal(keeper.state, "doubt");
    assert.deepEqual(lost, [], "an outage is not a takeover");

    const heldBefore = held();
    store.down = false;
    await until("held", () => keeper.state === "held");
    assert.equal(keeper.canUpload(), true);
    assert.equal(held(), heldBefore + 1, "the supervisor is told uploads may resume");
    assert.ok(lines.some((l) => l.level === "warn" && /uploads resume/.test(l.msg)));
    assert.equal(store.holder()?.pid, 1);
  } finally {
    await keeper.stop();
  }
});

Deno.test("a renewal whose answer was lost keeps the lease held", async () => {
  const { store, keeper, lost } = setup();
  await keeper.start({ waitForStorage: true });
  try {
    const puts = store.puts;
    store.cutWrites = 1;
    await until("two more renewals", () => store.puts >= puts + 3);
    assert.equal(keeper.state, "held");
    assert.deepEqual(lost, []);
  } finally {
    await keeper.stop();
  }
});

Deno.test("another holder's id in the lease object stops walsync, naming that holder", async () => {
  const { store, keeper, lost } = setup();
  await keeper.start({ waitForStorage: true });
  try {
    store.down = true;
    await until("doubt", () => keeper.state === "doubt");
    await new Promise((resolve) => setTimeout(resolve, TTL_MS)); // expired for everyone
    // A partition: another walsync reaches the store and takes the expired lease.
    await new S3Lease(store.direct, { host: "beta", pid: 2, ttlMs: 60_000 }).acquire();
    store.down = false;
    await until("lost", () => keeper.state === "lost");
    assert.equal(keeper.canUpload(), false);
    assert.equal(lost.length, 1);
    assert.match(lost[0].message, /taken over by walsync on host "beta" \(pid 2/);
    assert.equal(store.holder()?.host, "beta", "the new holder's lease is left alone");
  } finally {
    await keeper.stop();
  }
});

Deno.test("a keeper started during an outage waits with uploads paused, then takes the lease", async () => {
  const store = new FakeLeaseStore();
  store.down = true;
  const { keeper, lines, held } = setup(store);
  await keeper.start({ waitForStorage: true });
  try {
    assert.equal(keeper.state, "acquiring");
    assert.equal(keeper.canUpload(), false);
    assert.ok(
      lines.some((l) => l.level === "error" && /cannot take the replica lease/.test(l.msg)),
    );
    store.down = false;
    await until("held", () => keeper.state === "held");
    assert.equal(keeper.canUpload(), true);
    assert.equal(held(), 1);
    assert.equal(store.holder()?.host, "alpha");
  } finally {
    await keeper.stop();
  }
});

Deno.test("a live holder found once the store answers still stops walsync", async () => {
  const store = new FakeLeaseStore();
  store.down = true;
  const { keeper, lost } = setup(store);
  await keeper.start({ waitForStorage: true });
  try {
    await new S3Lease(store.direct, { host: "beta", pid: 2, ttlMs: 60_000 }).acquire();
    store.down = false;
    await until("lost", () => keeper.state === "lost");
    assert.ok(lost[0] instanceof LeaseHeldError, String(lost[0]));
    assert.match(lost[0].message, /already written by walsync on host "beta" \(pid 2,/);
  } finally {
    await keeper.stop();
  }
});

Deno.test("at start-up a live holder, refused credentials, or (without waiting) an outage fail at once", async () => {
  const store = new FakeLeaseStore();
  await new S3Lease(store, { host: "beta", pid: 2, ttlMs: 60_000 }).acquire();
  const held = await rejection(() => setup(store).keeper.start({ waitForStorage: true }));
  assert.ok(held instanceof LeaseHeldError, String(held));

  const denied = new FakeLeaseStore();
  denied.failWith = new S3AccessDeniedError("S3 GetObject was refused (403 AccessDenied)");
  const error = await rejection(() => setup(denied).keeper.start({ waitForStorage: true }));
  assert.ok(error instanceof S3AccessDeniedError);

  const down = new FakeLeaseStore();
  down.down = true;
  await assert.rejects(() => setup(down).keeper.start({ waitForStorage: false }), /Cannot reach/);
});

Deno.test("releasing after a clean stop marks the lease released", async () => {
  const { store, keeper } = setup();
  await keeper.start({ waitForStorage: true });
  await keeper.release();
  assert.equal(store.holder()?.released, true);
  await new S3Lease(store, { host: "beta", pid: 2 }).acquire(); // at once, not after expiry
});
