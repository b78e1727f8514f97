/**
 * The S3 replica against real S3-compatible servers on loopback: the shared conformance
 * suite (with 7-key list pages, so every listing paginates) plus what only S3 has.
 */
import assert from "node:assert/strict";
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { fastSha256Stream, sha256Hex } from "../../src/checksum/sha256.ts";
import { readAll } from "../../src/replica/replica_client.ts";
import { S3AccessDeniedError, S3BucketNotFoundError } from "../../src/replica/s3/s3_errors.ts";
import { S3ReplicaClient } from "../../src/replica/s3/s3_replica_client.ts";
import { replicaConformance } from "../support/replica_conformance.ts";
import {
  rawS3Client,
  type S3TestServer,
  type S3TestTarget,
  s3TestTargets,
  stopS3ServersAfterTests,
  testReplicaOptions,
} from "../support/s3_server.ts";
import { rejection } from "../support/rejection.ts";

const MiB = 1024 * 1024;

const meta = (createdAt = new Date(1_700_000_000_120)) => ({
  sha256: "ab".repeat(32),
  databaseChecksum: 0x8000000000000abcn,
  createdAt,
});

for (const target of s3TestTargets()) {
  replicaConformance({
    label: target.label,
    ignore: target.ignore,
    async make() {
      const server = await target.start();
      const client = new S3ReplicaClient(testReplicaOptions(server, { listPageSize: 7 }));
      return {
        client,
        async cleanup() {
          await client.deleteAll();
          await client.close();
        },
      };
    },
  });
  s3Tests(target);
}
stopS3ServersAfterTests();

function s3Tests(target: S3TestTarget): void {
  const test = (
    name: string,
    fn: (server: S3TestServer, client: S3ReplicaClient) => Promise<void>,
    options: { ignoreBecause?: string; listPageSize?: number } = {},
  ) =>
    Deno.test({
      name: `${target.label} replica: ${name}${
        options.ignoreBecause ? ` (${options.ignoreBecause})` : ""
      }`,
      ignore: target.ignore || options.ignoreBecause !== undefined,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const server = await target.start();
        const client = new S3ReplicaClient(
          testReplicaOptions(server, { listPageSize: options.listPageSize }),
        );
        try {
          await fn(server, client);
        } finally {
          await client.deleteAll().catch(() => {});
          await client.close();
        }
      },
    });

  test(
    "objects get Litestream's keys and metadata, timestamp in Go's RFC3339Nano",
    async (server, client) => {
      const data = new Uint8Array([1, 2, 3]);
      await client.writeFile("app.db", { level: 0, minTxid: 1, maxTxid: 1 }, data, meta());
      await client.writeFile("app.db", { level: 9, minTxid: 1, maxTxid: 26 }, data, meta());
      const raw = rawS3Client(server);
      try {
        const listed = await raw.send(
          new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `${client.prefix}/` }),
        );
        assert.deepEqual(listed.Contents?.map((o) => o.Key).sort(), [
          `${client.prefix}/app.db/0000/0000000000000001-0000000000000001.ltx`,
          `${client.prefix}/app.db/0009/0000000000000001-000000000000001a.ltx`,
        ]);
        const head = await raw.send(
          new HeadObjectCommand({
            Bucket: server.bucket,
            Key: `${client.prefix}/app.db/0000/0000000000000001-0000000000000001.ltx`,
          }),
        );
        assert.deepEqual(head.Metadata, {
          "sha256": "ab".repeat(32),
          "walsync-checksum": "8000000000000abc",
          "litestream-timestamp": "2023-11-14T22:13:20.12Z",
        });
      } finally {
        raw.destroy();
      }
    },
  );

  test("an empty prefix puts the database name first, with no leading slash", async (server) => {
    const client = new S3ReplicaClient({ ...testReplicaOptions(server), prefix: "" });
    const name = `root-${crypto.randomUUID()}.db`;
    try {
      await client.writeFile(
        name,
        { level: 0, minTxid: 1, maxTxid: 1 },
        new Uint8Array([1]),
        meta(),
      );
      const raw = rawS3Client(server);
      try {
        const listed = await raw.send(
          new ListObjectsV2Command({ Bucket: server.bucket, Prefix: name }),
        );
        assert.deepEqual(listed.Contents?.map((o) => o.Key), [
          `${name}/0000/0000000000000001-0000000000000001.ltx`,
        ]);
      } finally {
        raw.destroy();
      }
      assert.ok((await client.listDatabases()).includes(name));
    } finally {
      await client.deleteFiles(name, [{ level: 0, minTxid: 1, maxTxid: 1 }]);
      await client.close();
    }
  });

  test(
    "files written by Litestream list with their timestamp and without checksums",
    async (server, client) => {
      const raw = rawS3Client(server);
      try {
        // What Litestream 0.5 writes: only litestream-timestamp (nanoseconds are allowed).
        await raw.send(
          new PutObjectCommand({
            Bucket: server.bucket,
            Key: `${client.prefix}/app.db/0000/0000000000000001-0000000000000001.ltx`,
            Body: new Uint8Array([1]),
            Metadata: { "litestream-timestamp": "2023-11-14T22:13:20.123456789Z" },
          }),
        );
        // And an object with no metadata at all: its LastModified stands in.
        await raw.send(
          new PutObjectCommand({
            Bucket: server.bucket,
            Key: `${client.prefix}/app.db/0000/0000000000000002-0000000000000002.ltx`,
            Body: new Uint8Array([2]),
          }),
        );
      } finally {
        raw.destroy();
      }
      const [first, second] = await client.listFiles("app.db", 0);
      assert.equal(first.createdAt.getTime(), 1_700_000_000_123);
      assert.equal(first.sha256, undefined);
      assert.equal(first.databaseChecksum, undefined);
      assert.ok(Math.abs(second.createdAt.getTime() - Date.now()) < 24 * 3600_000);
      assert.equal(second.sha256, undefined);
    },
  );

  test(
    "a listing reads metadata with one HEAD per unseen object and none after",
    async (server, client) => {
      for (const txid of [1, 2, 3]) {
        await client.writeFile(
          "app.db",
          { level: 0, minTxid: txid, maxTxid: txid },
          new Uint8Array([txid]),
          meta(),
        );
      }
      assert.equal(client.requestCounts.get("HeadObject") ?? 0, 0, "own writes are cached");
      await client.listFiles("app.db", 0);
      assert.equal(client.requestCounts.get("HeadObject") ?? 0, 0);

      const reader = new S3ReplicaClient({ ...testReplicaOptions(server), prefix: client.prefix });
      try {
        const files = await reader.listFiles("app.db", 0);
        assert.deepEqual(files.map((f) => f.sha256), [
          "ab".repeat(32),
          "ab".repeat(32),
          "ab".repeat(32),
        ]);
        assert.equal(reader.requestCounts.get("HeadObject"), 3);
        await reader.listFiles("app.db", 0);
        assert.equal(reader.requestCounts.get("HeadObject"), 3);
        assert.equal(reader.requestCounts.get("ListObjectsV2"), 2);
      } finally {
        await reader.close();
      }
    },
  );

  test(
    "the highest TXID of a database comes from the listing alone, without HEADs",
    async (server, client) => {
      const write = (name: string, level: number, minTxid: number, maxTxid: number) =>
        client.writeFile(name, { level, minTxid, maxTxid }, new Uint8Array([1]), meta());
      await write("app.db", 0, 1, 1);
      await write("app.db", 0, 2, 2);
      await write("app.db", 9, 1, 5);
      await write("app.db/nested.db", 0, 1, 99); // another database below this one's path
      const reader = new S3ReplicaClient({ ...testReplicaOptions(server), prefix: client.prefix });
      try {
        assert.equal(await reader.maxTxid("app.db"), 5);
        assert.equal(await reader.maxTxid("none.db"), 0);
        assert.equal(reader.requestCounts.get("HeadObject") ?? 0, 0);
        assert.equal(reader.requestCounts.get("ListObjectsV2"), 2);
      } finally {
        await reader.close();
      }
    },
  );

  test(
    "listings page past 1,000 keys with the server's default page size",
    async (_server, client) => {
      const count = 1_003;
      const txids = Array.from({ length: count }, (_, i) => i + 1);
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < txids.length) {
          const txid = txids[next++];
          await client.writeFile(
            "app.db",
            { level: 0, minTxid: txid, maxTxid: txid },
            new Uint8Array([txid & 0xff]),
            meta(),
          );
        }
      }));
      const files = await client.listFiles("app.db", 0);
      assert.equal(files.length, count);
      assert.deepEqual(files.map((f) => f.minTxid), txids);
      assert.equal(client.requestCounts.get("ListObjectsV2"), 2);
      await client.deleteFiles("app.db", files); // one DeleteObjects per 1,000 keys
      assert.equal(client.requestCounts.get("DeleteObjects"), 2);
      assert.deepEqual(await client.listFiles("app.db", 0), []);
    },
  );

  test("small list pages paginate listings of files and databases", async (_server, client) => {
    for (let i = 1; i <= 12; i++) {
      await client.writeFile(
        `db${String(i).padStart(2, "0")}.db`,
        { level: 0, minTxid: 1, maxTxid: 1 },
        new Uint8Array([i]),
        meta(),
      );
    }
    const databases = await client.listDatabases();
    assert.equal(databases.length, 12);
    assert.equal(client.requestCounts.get("ListObjectsV2"), 3, "12 keys in pages of 5");
  }, { listPageSize: 5 });

  test("foreign objects under the prefix are ignored, not fatal", async (server, client) => {
    await client.writeFile(
      "app.db",
      { level: 0, minTxid: 1, maxTxid: 1 },
      new Uint8Array([1]),
      meta(),
    );
    const raw = rawS3Client(server);
    try {
      for (
        const key of [
          "app.db/0000/notes.txt",
          "app.db/0000/0000000000000002-0000000000000002.ltx.tmp",
          "app.db/0000/nested/0000000000000003-0000000000000003.ltx",
          "app.db/lock.json",
          "README",
        ]
      ) {
        await raw.send(
          new PutObjectCommand({
            Bucket: server.bucket,
            Key: `${client.prefix}/${key}`,
            Body: new Uint8Array([0]),
          }),
        );
      }
    } finally {
      raw.destroy();
    }
    assert.deepEqual((await client.listFiles("app.db", 0)).map((f) => f.minTxid), [1]);
    assert.deepEqual(await client.listDatabases(), ["app.db"]);
  });

  test("a 20 MB stream goes up in parts of the configured size and reads back exactly", async (server) => {
    const client = new S3ReplicaClient({
      ...testReplicaOptions(server),
      partSizeBytes: 5 * MiB,
      uploadConcurrency: 2,
    });
    try {
      const sizeBytes = 20 * MiB + 12_345;
      const hash = await fastSha256Stream();
      let produced = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (produced >= sizeBytes) return controller.close();
          const chunk = new Uint8Array(Math.min(256 * 1024, sizeBytes - produced));
          for (let i = 0; i < chunk.length; i++) chunk[i] = (produced + i) * 7 % 251;
          produced += chunk.length;
          hash.update(chunk);
          controller.enqueue(chunk);
        },
      });
      const key = { level: 9, minTxid: 1, maxTxid: 100 };
      const info = await client.writeFile("big.db", key, body, { ...meta(), sizeBytes });
      assert.equal(info.sizeBytes, sizeBytes);
      assert.equal(client.requestCounts.get("CreateMultipartUpload"), 1);
      assert.equal(client.requestCounts.get("UploadPart"), 5);
      assert.equal(client.requestCounts.get("CompleteMultipartUpload"), 1);
      const [listed] = await client.listFiles("big.db", 9);
      assert.equal(listed.sizeBytes, sizeBytes);

      const readHash = await fastSha256Stream();
      for await (const chunk of await client.openFile("big.db", key)) readHash.update(chunk);
      assert.equal(readHash.digestHex(), hash.digestHex());

      const middle = await readAll(
        await client.openFile("big.db", key, { offset: 5 * MiB - 10, length: 20 }),
      );
      const expected = Uint8Array.from({ length: 20 }, (_, i) => (5 * MiB - 10 + i) * 7 % 251);
      assert.deepEqual(middle, expected);
    } finally {
      await client.deleteAll();
      await client.close();
    }
  });

  test(
    "a stream that ends before its declared size is refused and leaves no object",
    async (_server, client) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(1000));
          controller.close();
        },
      });
      await assert.rejects(
        () =>
          client.writeFile("app.db", { level: 0, minTxid: 1, maxTxid: 1 }, body, {
            ...meta(),
            sizeBytes: 2000,
          }),
        /ended after 1000 of the 2000 bytes declared/,
      );
      assert.deepEqual(await client.listFiles("app.db", 0), []);
    },
  );

  test("a read of a missing file fails naming its key", async (_server, client) => {
    await assert.rejects(
      () => client.openFile("app.db", { level: 0, minTxid: 7, maxTxid: 7 }),
      /app\.db\/0000\/0000000000000007-0000000000000007\.ltx" in bucket .* does not exist/,
    );
  });

  test("what is read back hashes to the SHA-256 in the listing", async (_server, client) => {
    const data = crypto.getRandomValues(new Uint8Array(50_000));
    const sha256 = await sha256Hex(data);
    const key = { level: 0, minTxid: 1, maxTxid: 1 };
    await client.writeFile("app.db", key, data, { ...meta(), sha256 });
    const [info] = await client.listFiles("app.db", 0);
    assert.equal(info.sha256, sha256);
    assert.equal(await sha256Hex(await readAll(await client.openFile("app.db", key))), sha256);
  });

  test("storage class and SSE-C reach the server, multipart parts included", async (server) => {
    const sseCustomerKey = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
    const client = new S3ReplicaClient({
      ...testReplicaOptions(server),
      storageClass: "STANDARD_IA",
      sseCustomerKey,
      partSizeBytes: 5 * MiB,
    });
    const raw = rawS3Client(server);
    try {
      const data = Uint8Array.from({ length: 5 * MiB + 100 }, (_, i) => i % 249);
      const key = { level: 9, minTxid: 1, maxTxid: 2 };
      await client.writeFile("app.db", key, data, meta());
      assert.equal(client.requestCounts.get("UploadPart"), 2);
      const head = await raw.send(
        new HeadObjectCommand({
          Bucket: server.bucket,
          Key: `${client.prefix}/app.db/0009/0000000000000001-0000000000000002.ltx`,
          SSECustomerAlgorithm: "AES256",
          SSECustomerKey: sseCustomerKey,
        }),
      );
      assert.equal(head.StorageClass, "STANDARD_IA");
      const [info] = await client.listFiles("app.db", 9);
      assert.equal(info.sha256, "ab".repeat(32));
      assert.deepEqual(await readAll(await client.openFile("app.db", key)), data);
    } finally {
      raw.destroy();
      await client.deleteAll();
      await client.close();
    }
  });

  test("wrong credentials fail at once with a hint to check them", async (server) => {
    const client = new S3ReplicaClient({
      ...testReplicaOptions(server),
      credentials: { accessKeyId: "walsyncwrongkey", secretAccessKey: "wrong-secret-value" },
    });
    try {
      const error = await rejection(() => client.listDatabases());
      assert.ok(error instanceof S3AccessDeniedError, String(error));
      assert.match(
        error.message,
        /bucket "walsync-test" was refused \(403 .*\); check credentials/,
      );
      assert.doesNotMatch(error.message, /wrong-secret-value/);
      assert.equal(client.requestCount, 1, "403 is not retried");
    } finally {
      await client.close();
    }
  }, {
    ignoreBecause: target.verifiesSignatures ? undefined : "this server accepts any credentials",
  });

  test("a missing bucket fails at once naming the bucket", async (server) => {
    const client = new S3ReplicaClient({
      ...testReplicaOptions(server),
      bucket: "walsync-no-such-bucket",
    });
    try {
      const error = await rejection(() =>
        client.writeFile(
          "app.db",
          { level: 0, minTxid: 1, maxTxid: 1 },
          new Uint8Array([1]),
          meta(),
        )
      );
      assert.ok(error instanceof S3BucketNotFoundError, String(error));
      assert.match(
        error.message,
        /^Bucket "walsync-no-such-bucket" does not exist at http:\/\/127/,
      );
      assert.equal(client.requestCount, 1, "a missing bucket is not retried");
    } finally {
      await client.close();
    }
  });
}
