import assert from "node:assert/strict";
import { replicaConformance } from "../../../tests/support/replica_conformance.ts";
import { FileReplicaClient } from "./file_replica_client.ts";

replicaConformance({
  label: "file",
  async make() {
    const dir = await Deno.makeTempDir();
    return {
      client: new FileReplicaClient(dir),
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  },
});

Deno.test("file replica uses Litestream 0.5's layout and sets mtime to the LTX timestamp", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const client = new FileReplicaClient(dir);
    const createdAt = new Date(1_700_000_000_000);
    await client.writeFile("app.db", { level: 9, minTxid: 1, maxTxid: 26 }, new Uint8Array([1]), {
      sha256: "0".repeat(64),
      databaseChecksum: 1n,
      createdAt,
    });
    const path = `${dir}/app.db/ltx/9/0000000000000001-000000000000001a.ltx`;
    assert.equal((await Deno.stat(path)).mtime?.getTime(), createdAt.getTime());
    const names = [...Deno.readDirSync(`${dir}/app.db/ltx/9`)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "0000000000000001-000000000000001a.ltx",
      "0000000000000001-000000000000001a.ltx.meta.json",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file replica refuses unreadable metadata instead of skipping verification", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const client = new FileReplicaClient(dir);
    await client.writeFile("app.db", { level: 0, minTxid: 1, maxTxid: 1 }, new Uint8Array([1]), {
      sha256: "0".repeat(64),
      databaseChecksum: 1n,
      createdAt: new Date(),
    });
    await Deno.writeTextFile(
      `${dir}/app.db/ltx/0/0000000000000001-0000000000000001.ltx.meta.json`,
      "{oops",
    );
    await assert.rejects(() => client.listFiles("app.db", 0), /metadata .* is unreadable/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
