/**
 * Uploads never leave a hole in the replica: a staged file that cannot be read now (an I/O
 * error, no file descriptor left) stops the upload and is kept, and files past a TXID that is
 * missing from staging are never uploaded.
 */
import assert from "node:assert/strict";
import { MemoryReplicaClient } from "../src/replica/memory/memory_replica_client.ts";
import { Replicator } from "../src/replicate/replicator.ts";
import { openWalDatabase } from "./support/sqlite.ts";

async function stagedReplicator(dir: string, commits: number) {
  const app = openWalDatabase(`${dir}/app.db`);
  app.exec("CREATE TABLE t (v TEXT)");
  const client = new MemoryReplicaClient();
  const replicator = await Replicator.open(`${dir}/app.db`, { name: "app.db", client });
  for (let i = 0; i < commits; i++) {
    app.exec(`INSERT INTO t VALUES ('${i}')`);
    await replicator.sync();
  }
  return { app, client, replicator, pending: `${dir}/.app.db-walsync/pending` };
}

const name = (txid: number) =>
  `0-${txid.toString(16).padStart(16, "0")}-${txid.toString(16).padStart(16, "0")}.ltx`;

Deno.test("a staged file whose metadata cannot be read now is kept, and nothing after it is uploaded", async () => {
  const dir = await Deno.makeTempDir();
  const { app, client, replicator, pending } = await stagedReplicator(dir, 3);
  try {
    // Reading this metadata fails with an I/O error (it is a directory), not "missing".
    await Deno.remove(`${pending}/${name(2)}.meta.json`);
    await Deno.mkdir(`${pending}/${name(2)}.meta.json`);
    await assert.rejects(replicator.upload());
    await Deno.stat(`${pending}/${name(2)}`); // still staged
    const uploaded = (await client.listFiles("app.db", 0)).map((f) => f.maxTxid);
    assert.deepEqual(uploaded.filter((txid) => txid > 1), [], `uploaded ${uploaded}`);
  } finally {
    await replicator.close({ sync: false, upload: false });
    app.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("files staged past a TXID missing from staging are never uploaded", async () => {
  const dir = await Deno.makeTempDir();
  const { app, client, replicator, pending } = await stagedReplicator(dir, 3);
  try {
    await Deno.remove(`${pending}/${name(2)}.meta.json`);
    await Deno.remove(`${pending}/${name(2)}`);
    await assert.rejects(replicator.upload(), /skip TXIDs 2\.\.2 after TXID 1/);
    assert.deepEqual((await client.listFiles("app.db", 0)).map((f) => f.maxTxid), [1]);
  } finally {
    await replicator.close({ sync: false, upload: false });
    app.close();
    await Deno.remove(dir, { recursive: true });
  }
});
