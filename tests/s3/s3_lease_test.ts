/** The single-writer lease against real S3-compatible servers' conditional writes. */
import assert from "node:assert/strict";
import { Logger } from "../../src/log.ts";
import { LeaseHeldError, LeaseLostError } from "../../src/replica/lease_holder.ts";
import { S3Lease } from "../../src/replica/s3/s3_lease.ts";
import { S3ReplicaClient } from "../../src/replica/s3/s3_replica_client.ts";
import {
  type S3TestServer,
  s3TestTargets,
  stopS3ServersAfterTests,
  testReplicaOptions,
} from "../support/s3_server.ts";
import { rejection } from "../support/rejection.ts";

for (const target of s3TestTargets()) {
  const test = (
    name: string,
    fn: (server: S3TestServer, client: S3ReplicaClient) => Promise<void>,
  ) =>
    Deno.test({
      name: `${target.label} lease: ${name}`,
      ignore: target.ignore,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const server = await target.start();
        const client = new S3ReplicaClient(testReplicaOptions(server));
        try {
          await fn(server, client);
        } finally {
          await client.deleteAll().catch(() => {});
          await client.close();
        }
      },
    });

  test("a second walsync on the same replica fails naming the holder", async (server, client) => {
    const lines: string[] = [];
    const logger = new Logger({ format: "json", level: "debug", write: (l) => lines.push(l) });
    const first = new S3Lease(client, { host: "alpha", pid: 101, logger });
    const held = await first.acquire();
    assert.equal(first.conditionalWrites, true, "the server supports If-None-Match and If-Match");
    assert.deepEqual(lines.filter((l) => l.includes("conditional")), []);

    const other = new S3ReplicaClient({ ...testReplicaOptions(server), prefix: client.prefix });
    try {
      const error = await rejection(() => new S3Lease(other, { host: "beta", pid: 202 }).acquire());
      assert.ok(error instanceof LeaseHeldError, String(error));
      assert.match(
        error.message,
        new RegExp(
          `already written by walsync on host "alpha" \\(pid 101, since ${held.since}, lease until`,
        ),
      );
    } finally {
      await other.close();
    }
  });

  test(
    "renewal keeps the lease; after expiry another writer takes over and the old one learns it",
    async (server, client) => {
      let clock = Date.now();
      const old = new S3Lease(client, { host: "alpha", pid: 1, now: () => clock });
      await old.acquire();
      clock += 10_000;
      await old.renew();

      const other = new S3ReplicaClient({ ...testReplicaOptions(server), prefix: client.prefix });
      try {
        clock += 31_000; // the old holder stopped renewing
        const next = new S3Lease(other, { host: "beta", pid: 2, now: () => clock });
        await next.acquire();
        const error = await rejection(() => old.renew());
        assert.ok(error instanceof LeaseLostError, String(error));
        assert.match(error.message, /taken over by walsync on host "beta" \(pid 2/);
        await next.renew();
        await next.release();
        // Marked released, not deleted: the next walsync starts at once.
        const left = JSON.parse(new TextDecoder().decode(
          (await client.readObject(".walsync-lease.json"))!,
        ));
        assert.equal(left.released, true);
        await new S3Lease(client, { host: "gamma", pid: 3, now: () => clock }).acquire();
      } finally {
        await other.close();
      }
    },
  );

  test("racing acquisitions leave exactly one holder", async (server, client) => {
    const clients = Array.from(
      { length: 4 },
      () => new S3ReplicaClient({ ...testReplicaOptions(server), prefix: client.prefix }),
    );
    try {
      const results = await Promise.allSettled(
        clients.map((c, i) => new S3Lease(c, { host: `host${i}`, pid: i }).acquire()),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1);
      for (const result of results) {
        if (result.status === "rejected") assert.ok(result.reason instanceof LeaseHeldError);
      }
    } finally {
      for (const c of clients) await c.close();
    }
  });
}
stopS3ServersAfterTests();
