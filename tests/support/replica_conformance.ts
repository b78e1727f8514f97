/**
 * One conformance suite for every replica backend: each backend's test file calls
 * `replicaConformance` with a factory, so all of them are held to the same cases.
 */
import assert from "node:assert/strict";
import { readAll, type ReplicaClient } from "../../src/replica/replica_client.ts";

export interface ConformanceTarget {
  /** Shown in test names, e.g. "file" or "s3 (SeaweedFS)". */
  label: string;
  /** A fresh, empty replica for one test; `cleanup` removes it. */
  make(): Promise<{ client: ReplicaClient; cleanup(): Promise<void> }>;
  /** Skip the whole suite (e.g. the server is not installed), with the reason. */
  ignore?: boolean;
}

const meta = (sha: string, checksum: bigint, ms = 1_700_000_000_123) => ({
  sha256: sha.repeat(64).slice(0, 64),
  databaseChecksum: checksum,
  createdAt: new Date(ms),
});

export function replicaConformance(target: ConformanceTarget): void {
  const test = (name: string, fn: (client: ReplicaClient) => Promise<void>) =>
    Deno.test({
      name: `${target.label} replica: ${name}`,
      ignore: target.ignore,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => {
        const { client, cleanup } = await target.make();
        try {
          await fn(client);
        } finally {
          await cleanup();
        }
      },
    });

  test("an empty replica lists no databases and no files", async (client) => {
    assert.deepEqual(await client.listDatabases(), []);
    assert.deepEqual(await client.listFiles("app.db", 0), []);
  });

  test("a written file lists with its size, metadata and timestamp and reads back whole", async (client) => {
    const data = new TextEncoder().encode("LTX1 pretend file contents");
    await client.writeFile(
      "app.db",
      { level: 0, minTxid: 5, maxTxid: 5 },
      data,
      meta("a", 0x8000000000000abcn),
    );
    const [info] = await client.listFiles("app.db", 0);
    assert.equal(info.level, 0);
    assert.equal(info.minTxid, 5);
    assert.equal(info.maxTxid, 5);
    assert.equal(info.sizeBytes, data.length);
    assert.equal(info.sha256, "a".repeat(64));
    assert.equal(info.databaseChecksum, 0x8000000000000abcn);
    assert.equal(info.createdAt.getTime(), 1_700_000_000_123);
    const read = await readAll(await client.openFile("app.db", info));
    assert.deepEqual(read, data);
  });

  test("ranged reads return exactly the requested bytes", async (client) => {
    const data = new Uint8Array(300_000).map((_, i) => i % 251);
    await client.writeFile("app.db", { level: 9, minTxid: 1, maxTxid: 7 }, data, meta("b", 1n));
    const key = { level: 9, minTxid: 1, maxTxid: 7 };
    assert.deepEqual(
      await readAll(await client.openFile("app.db", key, { offset: 1000, length: 70_000 })),
      data.slice(1000, 71_000),
    );
    assert.deepEqual(
      await readAll(await client.openFile("app.db", key, { offset: 299_990 })),
      data.slice(299_990),
    );
  });

  test("listings are sorted by TXID, per level and per database", async (client) => {
    for (const txid of [3, 1, 10, 2]) {
      await client.writeFile(
        "app.db",
        { level: 0, minTxid: txid, maxTxid: txid },
        new Uint8Array([txid]),
        meta("c", 1n),
      );
    }
    await client.writeFile(
      "app.db",
      { level: 9, minTxid: 1, maxTxid: 3 },
      new Uint8Array([9]),
      meta("d", 1n),
    );
    await client.writeFile(
      "other.db",
      { level: 0, minTxid: 1, maxTxid: 1 },
      new Uint8Array([1]),
      meta("e", 1n),
    );
    assert.deepEqual((await client.listFiles("app.db", 0)).map((f) => f.minTxid), [1, 2, 3, 10]);
    assert.deepEqual((await client.listFiles("app.db", 9)).map((f) => f.maxTxid), [3]);
    assert.deepEqual(await client.listDatabases(), ["app.db", "other.db"]);
  });

  test("a listing with startAfter seeks past a key and keeps the order", async (client) => {
    for (const [min, max] of [[1, 1], [2, 2], [1, 3], [3, 3], [4, 9], [10, 10], [16, 16]]) {
      await client.writeFile(
        "app.db",
        { level: 1, minTxid: min, maxTxid: max },
        new Uint8Array([min]),
        meta("c", 1n),
      );
    }
    const after = async (minTxid: number, maxTxid: number) =>
      (await client.listFiles("app.db", 1, { startAfter: { level: 1, minTxid, maxTxid } }))
        .map((f) => `${f.minTxid}-${f.maxTxid}`);
    assert.deepEqual(await after(1, 3), ["2-2", "3-3", "4-9", "10-10", "16-16"]);
    assert.deepEqual(await after(3, 3), ["4-9", "10-10", "16-16"]);
    assert.deepEqual(await after(9, 9), ["10-10", "16-16"]);
    assert.deepEqual(await after(16, 16), []);
    assert.deepEqual(await after(0, 0), ["1-1", "1-3", "2-2", "3-3", "4-9", "10-10", "16-16"]);
  });

  test("statFile gives one file with its metadata, or null when it is not there", async (client) => {
    if (!client.statFile) return;
    const data = new TextEncoder().encode("LTX1 stat me");
    await client.writeFile("app.db", { level: 1, minTxid: 4, maxTxid: 7 }, data, meta("b", 9n));
    const info = await client.statFile("app.db", { level: 1, minTxid: 4, maxTxid: 7 });
    assert.ok(info);
    assert.deepEqual([info.level, info.minTxid, info.maxTxid, info.sizeBytes], [
      1,
      4,
      7,
      data.length,
    ]);
    assert.equal(info.sha256, "b".repeat(64));
    assert.equal(info.databaseChecksum, 9n);
    assert.equal(info.createdAt.getTime(), 1_700_000_000_123);
    assert.equal(await client.statFile("app.db", { level: 1, minTxid: 4, maxTxid: 8 }), null);
    // A listing without metadata still names the file, with its size.
    const [bare] = await client.listFiles("app.db", 1, { metadata: false });
    assert.deepEqual([bare.minTxid, bare.maxTxid, bare.sizeBytes], [4, 7, data.length]);
  });

  test("names with slashes stay separate databases", async (client) => {
    await client.writeFile(
      "tenants/a/app.db",
      { level: 0, minTxid: 1, maxTxid: 1 },
      new Uint8Array([1]),
      meta("f", 1n),
    );
    await client.writeFile(
      "tenants/b/app.db",
      { level: 0, minTxid: 1, maxTxid: 1 },
      new Uint8Array([2]),
      meta("f", 1n),
    );
    assert.deepEqual(await client.listDatabases(), ["tenants/a/app.db", "tenants/b/app.db"]);
    const b = await readAll(
      await client.openFile("tenants/b/app.db", { level: 0, minTxid: 1, maxTxid: 1 }),
    );
    assert.deepEqual(b, new Uint8Array([2]));
  });

  test("names that could escape the replica are refused", async (client) => {
    for (const name of ["../x.db", "/abs.db", "a//b.db", "a/./b.db", ""]) {
      await assert.rejects(() => client.listFiles(name, 0), /Replica name .* is invalid/, name);
    }
  });

  test("deleting files removes them and ignores missing ones", async (client) => {
    for (const txid of [1, 2, 3]) {
      await client.writeFile(
        "app.db",
        { level: 0, minTxid: txid, maxTxid: txid },
        new Uint8Array([txid]),
        meta("9", 1n),
      );
    }
    await client.deleteFiles("app.db", [{ level: 0, minTxid: 1, maxTxid: 1 }, {
      level: 0,
      minTxid: 9,
      maxTxid: 9,
    }]);
    assert.deepEqual((await client.listFiles("app.db", 0)).map((f) => f.minTxid), [2, 3]);
  });

  test("overwriting a file replaces its content and metadata", async (client) => {
    const key = { level: 0, minTxid: 4, maxTxid: 4 };
    await client.writeFile("app.db", key, new Uint8Array([1]), meta("1", 1n));
    await client.writeFile("app.db", key, new Uint8Array([2, 2]), meta("2", 2n));
    const [info] = await client.listFiles("app.db", 0);
    assert.equal(info.sizeBytes, 2);
    assert.equal(info.sha256, "2".repeat(64));
  });

  test("exactly one of many racing exclusive creates wins", async (client) => {
    const results = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) =>
          client.createExclusive("app.db/lease.json", new TextEncoder().encode(`writer ${i}`)),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true);
    assert.equal(
      new TextDecoder().decode((await client.readObject("app.db/lease.json"))!),
      `writer ${winner}`,
    );
    await client.deleteObject("app.db/lease.json");
    assert.equal(await client.readObject("app.db/lease.json"), null);
    assert.equal(await client.createExclusive("app.db/lease.json", new Uint8Array([1])), true);
  });

  test("many files list completely", async (client) => {
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        client.writeFile(
          "app.db",
          { level: 0, minTxid: i + 1, maxTxid: i + 1 },
          new Uint8Array([i]),
          meta("8", 1n),
        )),
    );
    const files = await client.listFiles("app.db", 0);
    assert.deepEqual(files.map((f) => f.minTxid), Array.from({ length: 60 }, (_, i) => i + 1));
  });
}
