/**
 * Faults around compaction and retention, written once for the file replica and S3
 * (tests/compaction_faults_test.ts, tests/s3/compaction_faults_s3_test.ts): a hole in level 0,
 * and a restore racing a retention pass.
 */
import assert from "node:assert/strict";
import { formatLtxFilename, SNAPSHOT_LEVEL } from "../../src/ltx/ltx_header.ts";
import { Logger } from "../../src/log.ts";
import { listAllFiles, restore } from "../../src/restore/apply.ts";
import { openWriter } from "./compaction_cases.ts";
import {
  describe,
  type Dump,
  MOD,
  type PeerReplica,
  restoredDump,
  run,
  statements,
  type States,
  waitForAsync,
  walsyncRestoreLib,
  writeAndRecord,
} from "./compaction_peers.ts";
import { dumpDatabase, openWalDatabase } from "./sqlite.ts";
import { WalsyncProcess } from "./walsync_process.ts";

/** Compaction levels that do not come due during a test: level 0 only until `compact`. */
const NO_COMPACTION = ["--compaction-levels", "off"];

/**
 * `walsync watch` (no compaction due) while `count` transactions are written one TXID each;
 * returns every recorded state and the final one.
 */
export async function watchAndWrite(
  replica: PeerReplica,
  dbPath: string,
  count: number,
  from = 1,
  states: States = new Map(),
  flags: string[] = NO_COMPACTION,
  linger: number | { what: string; until: () => Promise<boolean> } = 0,
): Promise<{ states: States; finalDump: Dump; stderr: string }> {
  const db = from === 1 ? openWriter(dbPath) : openWalDatabase(dbPath);
  // A restarted walsync ships nothing until the database changes: change it while it is down.
  if (from > 1) {
    db.exec(`INSERT INTO t (id, body) VALUES (${from * 1000}, 'while walsync was down')`);
  }
  const walsync = new WalsyncProcess(
    ["watch", dbPath, "-b", replica.walsyncUrl, "--sync-interval", "0", ...flags],
    { env: replica.env },
  );
  const output = () => `walsync printed:\n${walsync.stderr}`;
  try {
    await walsync.ready();
    const before = from === 1 ? 0 : Math.max(...states.keys());
    await waitForAsync(
      `walsync's first TXID after ${before}`,
      async () =>
        (await listAllFiles(replica.client, replica.name)).some((f) => f.maxTxid > before),
      async () => `${output()}\n${await describe(replica)}`,
    );
    const first = (await listAllFiles(replica.client, replica.name)).reduce(
      (max, f) => Math.max(max, f.maxTxid),
      0,
    );
    states.set(first, dumpDatabase(db));
    await writeAndRecord(db, replica, states, statements(from, count), output);
    if (typeof linger === "number") {
      await new Promise((resolve) => setTimeout(resolve, linger));
    } else {
      const explain = async () => `${output()}\n${await describe(replica)}`;
      await waitForAsync(linger.what, linger.until, explain);
    }
    const { code, stderr } = await walsync.stop();
    assert.equal(code, 0, stderr);
    return { states, finalDump: dumpDatabase(db), stderr };
  } finally {
    await walsync.kill();
    db.close();
  }
}

export function compactCli(
  replica: PeerReplica,
  flags: string[],
  env: Record<string, string> = replica.env,
): Promise<{ code: number; output: string }> {
  return run(Deno.execPath(), [
    "run",
    "-A",
    MOD,
    "compact",
    replica.name,
    "-b",
    replica.walsyncUrl,
    ...flags,
  ], env);
}

/**
 * (d) A level-0 file vanishes from the replica (lost object, operator error): compaction
 * merges the contiguous prefix and never across the hole, positions before the hole still
 * restore exactly, and the latest either restores exactly or is refused naming the hole.
 * With `heal`, walsync then replicates again (compacting) and the latest must restore exactly.
 */
export async function levelZeroGapCase(
  replica: PeerReplica,
  dir: string,
  heal: "no" | "by itself" | "walsync snapshot" = "no",
): Promise<void> {
  const dbPath = `${dir}/app.db`;
  const { states } = await watchAndWrite(replica, dbPath, 10);
  const txids = [...states.keys()].sort((a, b) => a - b);
  const hole = txids[6];
  await replica.client.deleteFiles(replica.name, [{ level: 0, minTxid: hole, maxTxid: hole }]);
  const context = await describe(replica);

  const dry = await compactCli(replica, ["--json"]);
  assert.equal(dry.code, 0, `dry run: ${dry.output}\n${context}`);
  const forced = await compactCli(replica, ["--force", "--compaction-levels", "1s,2s"]);
  assert.ok(forced.code === 0 || forced.code === 1, forced.output);
  assert.match(forced.output, new RegExp(`gap|hole|missing|${hole}`, "i"), "the hole is reported");
  const files = await listAllFiles(replica.client, replica.name);
  const after = await describe(replica);
  for (const f of files.filter((f) => f.level >= 1 && f.level < SNAPSHOT_LEVEL)) {
    assert.ok(
      !(f.minTxid <= hole && hole <= f.maxTxid) || f.minTxid === 1,
      `L${f.level} ${
        formatLtxFilename(f.minTxid, f.maxTxid)
      } merged across the hole at ${hole}\n${after}`,
    );
  }
  assert.ok(
    files.some((f) => f.level === 1 && f.maxTxid === hole - 1),
    `the prefix before the hole was compacted\n${forced.output}\n${after}`,
  );
  for (const txid of txids.filter((t) => t < hole)) {
    const out = `${dir}/before-${txid}.db`;
    const result = await walsyncRestoreLib(replica, out, { txid });
    assert.ok(
      "txid" in result,
      `TXID ${txid} before the hole: ${JSON.stringify(result)}\n${after}`,
    );
    assert.deepEqual(restoredDump(out), states.get(txid), `TXID ${txid}`);
  }
  const latest = `${dir}/latest-with-hole.db`;
  const result = await walsyncRestoreLib(replica, latest);
  if ("error" in result) assert.match(result.error, new RegExp(`${hole}`), result.error);
  else assert.deepEqual(restoredDump(latest), states.get(txids.at(-1)!), "latest over the hole");

  if (heal === "no") return;
  // walsync replicates again, compacting: the hole heals and the latest restores exactly.
  // The daemon finds the hole staging cannot fill and snapshots by itself (once); level 1
  // then continues past the hole without any command.
  const healingSnapshot = async () =>
    (await listAllFiles(replica.client, replica.name)).some((f) =>
      f.level === SNAPSHOT_LEVEL && f.maxTxid > hole
    );
  const next = await watchAndWrite(
    replica,
    dbPath,
    3,
    100,
    states,
    ["--compaction-levels", "1s,2s"],
    heal === "by itself" ? { what: "a snapshot past the hole", until: healingSnapshot } : 2500,
  );
  if (heal === "by itself") {
    const warned = next.stderr.split("\n").filter((line) =>
      line.includes("taking a snapshot so compaction continues past them")
    );
    assert.equal(warned.length, 1, `one warning naming the hole\n${next.stderr}`);
    assert.match(warned[0], new RegExp(`${hole}-${hole}`), warned[0]);
    assert.match(warned[0], /app\.db/, warned[0]);
    const snapshots = (await listAllFiles(replica.client, replica.name))
      .filter((f) => f.level === SNAPSHOT_LEVEL && f.maxTxid > hole);
    assert.equal(snapshots.length, 1, `one healing snapshot\n${await describe(replica)}`);
    // Writes after the snapshot: level 1 continues past the hole, and nothing warns again.
    const later = await watchAndWrite(replica, dbPath, 2, 200, states, [
      "--compaction-levels",
      "1s,2s",
    ], {
      what: "level 1 past the hole",
      until: async () =>
        (await listAllFiles(replica.client, replica.name)).some((f) =>
          f.level === 1 && f.minTxid > hole
        ),
    });
    assert.doesNotMatch(later.stderr, /taking a snapshot so compaction continues/, later.stderr);
    next.finalDump = later.finalDump;
  }
  if (heal === "walsync snapshot") {
    // The remedy the gap warning names: a snapshot starts a new chain past the hole.
    const snapshot = await run(Deno.execPath(), [
      "run",
      "-A",
      MOD,
      "snapshot",
      dbPath,
      "-b",
      replica.walsyncUrl,
    ], replica.env);
    assert.equal(snapshot.code, 0, snapshot.output);
  }
  if (heal === "walsync snapshot") {
    await compactCli(replica, ["--force", "--compaction-levels", "1s,2s"]);
  }
  const healed = `${dir}/healed.db`;
  const final = await walsyncRestoreLib(replica, healed);
  assert.ok("txid" in final, `after healing: ${JSON.stringify(final)}\n${await describe(replica)}`);
  assert.deepEqual(restoredDump(healed), next.finalDump, `healed\n${await describe(replica)}`);
}

/**
 * (e) A restore is running when `walsync compact --force` merges level 0 and deletes it (no
 * linger, no window): the restore either ends exactly at the latest state (after re-planning
 * once) or fails naming what vanished; it never produces another database.
 */
export async function restoreRacingRetentionCase(replica: PeerReplica, dir: string): Promise<void> {
  const dbPath = `${dir}/app.db`;
  const { finalDump } = await watchAndWrite(replica, dbPath, 24);
  const levelZero = async () =>
    (await listAllFiles(replica.client, replica.name)).filter((f) => f.level === 0).length;
  const before = await levelZero();
  let compactOutput = "";
  const output = `${dir}/raced.db`;
  let outcome: { ok: true } | { ok: false; message: string };
  const logged: string[] = [];
  try {
    await restore({
      logger: new Logger({ level: "info", format: "json", write: (line) => logged.push(line) }),
      client: replica.client,
      name: replica.name,
      output,
      integrityCheck: "full",
      onFile(index) {
        if (index !== 1) return;
        // Synchronously, between two applied files: the retention pass runs to its end.
        const out = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            MOD,
            "compact",
            replica.name,
            "-b",
            replica.walsyncUrl,
            "--force",
            "--compaction-levels",
            "1s",
            "--l0-linger",
            "0s",
            "--pitr",
            "0s",
          ],
          env: replica.env,
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).outputSync();
        compactOutput = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      },
    });
    outcome = { ok: true };
  } catch (error) {
    outcome = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  const after = await levelZero();
  const context = `compact printed:\n${compactOutput}\n${await describe(replica)}`;
  assert.ok(
    after < before - 10,
    `the retention pass deleted level 0 (${before} → ${after})\n${context}`,
  );
  if (outcome.ok) assert.deepEqual(restoredDump(output), finalDump, `raced restore\n${context}`);
  else assert.match(outcome.message, /vanished|not found|no longer|missing|deleted/i, context);
  // The pass deleted files the first plan used: the restore noticed and planned again (once).
  assert.equal(
    logged.filter((line) => line.includes("planning the restore again")).length,
    1,
    `one re-plan\n${logged.join("")}\n${context}`,
  );
  // And a restore after the pass is exact.
  const again = `${dir}/after.db`;
  const result = await walsyncRestoreLib(replica, again);
  assert.ok("txid" in result, `${JSON.stringify(result)}\n${context}`);
  assert.deepEqual(restoredDump(again), finalDump);
}
