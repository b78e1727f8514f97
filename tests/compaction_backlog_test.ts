/**
 * A backlog of level-0 files (a daemon restarted after a long stop, `walsync compact --force`
 * on a day's window) is merged with requests per merge, not per file after it: each merge
 * reads the metadata of its last input alone. Before, each merge listed every later file with
 * its metadata, and 100,000 level-0 files took hours to compact (bench/README).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { LevelIndex } from "../src/compact/level_index.ts";
import { runMaintenance } from "../src/compact/maintain.ts";
import type { CompactionPolicy } from "../src/compact/policy.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { Supervisor } from "../src/replicate/supervisor.ts";
import { listAllFiles, restore } from "../src/restore/apply.ts";
import { counting } from "./support/counting_client.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";

Deno.test("a backlog of level-0 files is merged with one metadata read per merge, never a listing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-backlog-" });
  try {
    const client = new FileReplicaClient(`${dir}/replica`);
    const supervisor = new Supervisor({ client, watch: false });
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    try {
      await supervisor.add(`${dir}/app.db`, "app.db");
      for (let i = 0; i < 120; i++) {
        app.exec(`INSERT INTO t (v) VALUES ('row ${i}')`);
        await supervisor.syncAll();
      }
    } finally {
      await supervisor.stop();
    }
    const policy: CompactionPolicy = {
      levelIntervalsMs: [1000],
      pitrMs: 0,
      snapshots: { hourly: 0, daily: 0, weekly: 0, monthly: 0 },
      l0LingerMs: 0,
      maxMergeInputs: 16,
    };
    // As the daemon and `compact` seed it: the listing alone, no per-file metadata.
    const index = await LevelIndex.load(client, "app.db", 1);
    const counted = counting(client);
    const report = await runMaintenance(counted, "app.db", index, {
      nowMs: Date.now() + 60_000,
      policy,
    });
    assert.ok(report.merges.length >= 8, `${report.merges.length} merges`);
    assert.deepEqual(counted.calls.filter((c) => c === "listFiles"), [], "no listing per merge");
    assert.ok(
      counted.calls.filter((c) => c === "statFile").length <= report.merges.length,
      counted.calls.join(" "),
    );
    const files = await listAllFiles(client, "app.db");
    assert.ok(files.filter((f) => f.level === 1).length >= 8);
    const output = `${dir}/restored.db`;
    await restore({ client, name: "app.db", output });
    const restored = new DatabaseSync(output);
    try {
      assert.deepEqual(dumpDatabase(restored), dumpDatabase(app));
    } finally {
      restored.close();
      app.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
