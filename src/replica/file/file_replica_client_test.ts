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

Deno.test({
  name: "file replica gives a file, its metadata and the database's new directories fileMode",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const client = new FileReplicaClient(`${dir}/replica`);
      const metadata = { sha256: "0".repeat(64), databaseChecksum: 1n, createdAt: new Date() };
      const key = { level: 0, minTxid: 1, maxTxid: 1 };
      await client.writeFile("tenants/a.db", key, new Uint8Array([1]), {
        ...metadata,
        fileMode: 0o640,
      });
      await client.writeFile("open.db", key, new Uint8Array([1]), metadata);
      const mode = async (path: string) =>
        (await Deno.stat(`${dir}/replica/${path}`)).mode! & 0o777;
      const file = "ltx/0/0000000000000001-0000000000000001.ltx";
      for (const path of ["tenants", "tenants/a.db", "tenants/a.db/ltx", "tenants/a.db/ltx/0"]) {
        assert.equal(await mode(path), 0o750, path);
      }
      assert.equal(await mode(`tenants/a.db/${file}`), 0o640);
      assert.equal(await mode(`tenants/a.db/${file}.meta.json`), 0o640);
      // Without a mode the umask decides, as for any other file the process writes.
      const umask = Deno.umask();
      assert.equal(await mode(""), 0o777 & ~umask, "the shared root keeps the default");
      assert.equal(await mode("open.db/ltx/0"), 0o777 & ~umask);
      assert.equal(await mode(`open.db/${file}`), 0o666 & ~umask);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
