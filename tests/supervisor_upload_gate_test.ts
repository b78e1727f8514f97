/** The supervisor's upload gate: capture goes on while uploads wait (a replica lease in doubt). */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { Supervisor } from "../src/replicate/supervisor.ts";
import { restore } from "../src/restore/apply.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";

/** Only a hang reaches this. */
const HANG_MS = 20_000;

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function stagedFiles(dir: string): number {
  return [...Deno.readDirSync(`${dir}/.app.db-walsync/pending`)].filter((e) =>
    e.name.endsWith(".ltx")
  ).length;
}

Deno.test("a closed upload gate pauses uploads while capture goes on, and uploads resume when it opens", async () => {
  const dir = await Deno.makeTempDir();
  const app = openWalDatabase(`${dir}/app.db`);
  const client = new FileReplicaClient(`${dir}/replica`);
  let open = false;
  const supervisor = new Supervisor({
    client,
    syncIntervalMs: 20,
    watch: false,
    uploadGate: { canUpload: () => open },
  });
  const controller = new AbortController();
  try {
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    await supervisor.add(`${dir}/app.db`, "app.db");
    const running = supervisor.run(controller.signal);
    for (let i = 0; i < 3; i++) {
      app.exec(`INSERT INTO t (v) VALUES ('${i}')`);
      await until(`commit ${i} staged`, () => supervisor.databases[0].txid >= i + 2);
    }
    assert.ok(stagedFiles(dir) >= 4, "capture continues into staging");
    assert.deepEqual(await client.listDatabases(), [], "nothing was uploaded");

    open = true;
    supervisor.resumeUploads();
    await until("the staged files to be uploaded", () => stagedFiles(dir) === 0);
    controller.abort();
    await running;
    const restored = `${dir}/restored.db`;
    await restore({ client, name: "app.db", output: restored });
    const db = new DatabaseSync(restored);
    assert.deepEqual(dumpDatabase(db), dumpDatabase(app));
    db.close();
  } finally {
    controller.abort();
    await supervisor.stop();
    app.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stopping with a closed upload gate uploads nothing and reports the staged files", async () => {
  const dir = await Deno.makeTempDir();
  const app = openWalDatabase(`${dir}/app.db`);
  const client = new FileReplicaClient(`${dir}/replica`);
  const supervisor = new Supervisor({
    client,
    watch: false,
    uploadGate: { canUpload: () => false },
  });
  try {
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    await supervisor.add(`${dir}/app.db`, "app.db");
    app.exec("INSERT INTO t (v) VALUES ('x')");
    const summary = await supervisor.stop();
    assert.deepEqual(await client.listDatabases(), []);
    assert.equal(summary.stagedFiles, stagedFiles(dir));
    assert.ok(summary.stagedFiles >= 2, "the first sync and the final one");
  } finally {
    await supervisor.stop();
    app.close();
    await Deno.remove(dir, { recursive: true });
  }
});
