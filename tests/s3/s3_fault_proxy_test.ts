/**
 * The S3 replica client and its lease against a real S3-compatible server behind a
 * fault-injecting proxy: damaged LIST answers, lease writes applied whose answers are lost,
 * and requests the server never answers.
 */
import assert from "node:assert/strict";
import { LeaseLostError } from "../../src/replica/lease_holder.ts";
import { S3Lease } from "../../src/replica/s3/s3_lease.ts";
import { S3ReplicaClient } from "../../src/replica/s3/s3_replica_client.ts";
import { runWalsync } from "../support/cli.ts";
import { rejection } from "../support/rejection.ts";
import { S3FaultProxy } from "../support/s3_fault_proxy.ts";
import {
  type S3TestServer,
  s3TestTargets,
  stopS3ServersAfterTests,
  testReplicaOptions,
} from "../support/s3_server.ts";

const meta = {
  sha256: "ab".repeat(32),
  databaseChecksum: 1n,
  createdAt: new Date(1_700_000_000_000),
};
const KEY = { level: 0, minTxid: 1, maxTxid: 1 };
/** A bound far above any expected wait: only a hang reaches it. */
const HANG_MS = 30_000;

const isLeasePut = (request: { method: string; path: string }) =>
  request.method === "PUT" && request.path.endsWith("/.walsync-lease.json");

for (const target of s3TestTargets()) {
  const test = (
    name: string,
    fn: (
      context: { server: S3TestServer; proxy: S3FaultProxy; client: S3ReplicaClient },
    ) => Promise<void>,
  ) =>
    Deno.test({
      name: `${target.label} behind a fault proxy: ${name}`,
      ignore: target.ignore,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const server = await target.start();
        const proxy = S3FaultProxy.start(server.endpoint);
        const client = new S3ReplicaClient({
          ...testReplicaOptions(server, { maxAttempts: 3 }),
          endpoint: proxy.endpoint,
        });
        try {
          await fn({ server, proxy, client });
        } finally {
          proxy.setMode("forward");
          await client.deleteAll().catch(() => {});
          await client.close();
          proxy.close();
        }
      },
    });

  test("a LIST answered with a damaged body is retried", async ({ proxy, client }) => {
    await client.writeFile("app.db", KEY, new Uint8Array([1, 2, 3]), meta);
    proxy.garbageLists(2);
    const files = await client.listFiles("app.db", 0);
    assert.deepEqual(files.map((f) => f.maxTxid), [1]);
    assert.equal(proxy.count("garbage"), 2);
  });

  test("a LIST answered 200 with an empty body is retried, not taken as empty", async ({ proxy, client }) => {
    await client.writeFile("app.db", KEY, new Uint8Array([1, 2, 3]), meta);
    proxy.garbageLists(1, "");
    assert.equal(await client.maxTxid("app.db"), 1);
    assert.equal(proxy.count("garbage"), 1);
  });

  test(
    "a LIST that stays damaged fails with one line naming the operation, bucket and prefix",
    async ({ proxy, client }) => {
      proxy.garbageLists(1000);
      const error = await rejection(() => client.listFiles("app.db", 0));
      assert.doesNotMatch(error.message, /\n/);
      assert.doesNotMatch(error.message, /\$response|hidden field/);
      assert.match(
        error.message,
        new RegExp(
          `^S3 ListObjectsV2 of "${client.prefix}/app\\.db/0000/" in bucket "${client.bucket}" ` +
            "returned a response that is not a valid listing",
        ),
      );
      assert.equal(proxy.count("garbage"), 3, "bounded by the attempt budget");
    },
  );

  test("walsync list prints one line when the listing stays damaged", async ({ server, proxy }) => {
    proxy.garbageLists(1000);
    const run = await runWalsync(
      ["list", "-b", `s3://${server.bucket}/cli-${crypto.randomUUID()}`],
      {
        env: {
          AWS_ENDPOINT_URL_S3: proxy.endpoint,
          AWS_REGION: server.region,
          AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
        },
      },
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^error: S3 ListObjectsV2 of "cli-[^"]+\/" in bucket "[^"]+" /);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    assert.doesNotMatch(run.stderr, /\$response/);
  });

  test("a lease renewal applied whose answer was lost keeps the lease", async ({ proxy, client }) => {
    const lease = new S3Lease(client, { host: "alpha", pid: 1 });
    const held = await lease.acquire();
    proxy.cutResponses((r) => isLeasePut(r) && r.headers.has("if-match"));
    const renewed = await lease.renew();
    assert.equal(proxy.count("cut"), 1);
    assert.equal(renewed.id, held.id);
    // The lease still works: the next renewal and the release go through.
    await lease.renew();
    await lease.release();
    const other = await new S3Lease(client, { host: "beta", pid: 2 }).acquire();
    assert.equal(other.host, "beta");
  });

  test("a lease creation applied whose answer was lost still acquires", async ({ proxy, client }) => {
    proxy.cutResponses((r) => isLeasePut(r) && r.headers.get("if-none-match") === "*");
    const lease = new S3Lease(client, { host: "alpha", pid: 1 });
    const held = await lease.acquire();
    assert.equal(proxy.count("cut"), 1);
    await lease.renew();
    assert.equal(lease.record?.id, held.id);
  });

  test("a lease taken by another holder is still lost after a cut answer", async ({ proxy, client }) => {
    let clock = Date.now();
    const lease = new S3Lease(client, { host: "alpha", pid: 1, now: () => clock });
    await lease.acquire();
    clock += 60_000;
    await new S3Lease(client, { host: "beta", pid: 2, now: () => clock }).acquire();
    proxy.cutResponses((r) => isLeasePut(r) && r.headers.has("if-match"));
    const error = await rejection(() => lease.renew());
    assert.ok(error instanceof LeaseLostError, String(error));
    assert.match(error.message, /taken over by walsync on host "beta" \(pid 2/);
  });

  test(
    "a request the server never answers fails after the idle timeout, and nothing bypasses walsync's log",
    async ({ server, proxy }) => {
      proxy.setMode("stall");
      // A child process, so its whole stderr can be inspected (and killed should it hang).
      const module = new URL("../../src/replica/s3/s3_replica_client.ts", import.meta.url).href;
      const log = new URL("../../src/log.ts", import.meta.url).href;
      const script = `
        const { S3ReplicaClient } = await import(${JSON.stringify(module)});
        const { Logger } = await import(${JSON.stringify(log)});
        const client = new S3ReplicaClient({
          bucket: ${JSON.stringify(server.bucket)}, prefix: "stall", endpoint: ${
        JSON.stringify(proxy.endpoint)
      },
          region: "us-east-1", credentials: ${JSON.stringify(server.credentials)},
          maxAttempts: 2, requestTimeoutMs: 300, env: () => undefined,
          logger: new Logger({ format: "json", level: "warn" }),
        });
        await client.listFiles("app.db", 0).then(
          () => console.log("listed"),
          (error) => console.log("failed:", error.message),
        );
        Deno.exit(0);
      `;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
      const output = await child.output();
      clearTimeout(timer);
      const stdout = new TextDecoder().decode(output.stdout);
      const stderr = new TextDecoder().decode(output.stderr);
      assert.match(stdout, /^failed: /, `the request must fail, not hang:\n${stderr}`);
      const foreign = stderr.split("\n").filter((l) => l !== "" && !l.startsWith("{"));
      assert.deepEqual(foreign, [], "every stderr line is one of walsync's JSON log lines");
    },
  );
}

stopS3ServersAfterTests();
