/**
 * The compaction round trips with Litestream, written once for every replica kind: a file
 * replica (tests/compaction_litestream_test.ts) and S3 (tests/s3/compaction_litestream_s3_test.ts).
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { formatLtxFilename, SNAPSHOT_LEVEL } from "../../src/ltx/ltx_header.ts";
import type { LtxFileInfo } from "../../src/replica/replica_client.ts";
import { listAllFiles } from "../../src/restore/apply.ts";
import {
  CompactingLitestream,
  describe,
  type Dump,
  litestreamRestore,
  maxTxid,
  type PeerReplica,
  restoredDump,
  statements,
  type States,
  waitForAsync,
  waitForFiles,
  walsyncRestore,
  walsyncRestoreLib,
  writeAndRecord,
} from "./compaction_peers.ts";
import { dumpDatabase, openWalDatabase } from "./sqlite.ts";

/** A message that says why a position cannot be restored, naming TXIDs or files. */
const CLEAR_REFUSAL = /missing|not in the replica|no snapshot|no file|TXID \d+/i;

/** The state at `txid`: the newest recorded state at or before it (no write between). */
function stateAt(states: States, txid: number): Dump {
  const at = [...states.keys()].filter((t) => t <= txid).sort((a, b) => b - a)[0];
  assert.ok(at !== undefined, `no recorded state at or before TXID ${txid}`);
  return states.get(at)!;
}

function compacted(files: LtxFileInfo[]): LtxFileInfo[] {
  return files.filter((f) => f.level >= 1 && f.level < SNAPSHOT_LEVEL);
}

/**
 * Both tools restore the latest state; walsync restores every recorded TXID exactly or refuses
 * it with a clear message, and must restore (as must Litestream) every TXID that ends a
 * compacted file; walsync restores by timestamp at each compacted file's time. Returns how
 * many positions before the latest were restored, to show the check had something to check.
 */
export async function assertRestores(
  binary: string,
  replica: PeerReplica,
  dir: string,
  states: States,
  finalDump: Dump,
): Promise<number> {
  const files = await listAllFiles(replica.client, replica.name);
  const latest = files.reduce((max, f) => Math.max(max, f.maxTxid), 0);
  const context = await describe(replica);
  let n = 0;
  const out = () => `${dir}/restored-${n++}.db`;

  const cli = out();
  const byCli = await walsyncRestore(replica, cli);
  assert.equal(byCli.code, 0, `walsync restore (latest) failed:\n${byCli.output}\n${context}`);
  assert.deepEqual(restoredDump(cli), finalDump, `walsync restore (latest)\n${context}`);
  const ls = out();
  const byLs = await litestreamRestore(binary, replica, ls);
  assert.equal(byLs.code, 0, `litestream restore (latest) failed:\n${byLs.output}\n${context}`);
  assert.deepEqual(restoredDump(ls), finalDump, `litestream restore (latest)\n${context}`);

  const mustWork = new Set(compacted(files).map((f) => f.maxTxid));
  let restoredBefore = 0;
  for (const txid of [...new Set([...states.keys(), ...mustWork])].sort((a, b) => a - b)) {
    if (txid > latest) continue;
    const path = out();
    const result = await walsyncRestoreLib(replica, path, { txid });
    if ("error" in result) {
      assert.ok(!mustWork.has(txid), `walsync refused TXID ${txid}: ${result.error}\n${context}`);
      assert.match(result.error, CLEAR_REFUSAL, `refusal of TXID ${txid}`);
      continue;
    }
    assert.equal(result.txid, txid);
    assert.deepEqual(
      restoredDump(path),
      stateAt(states, txid),
      `walsync --txid ${txid}\n${context}`,
    );
    if (txid < latest) restoredBefore++;
    if (mustWork.has(txid)) {
      const byLitestream = out();
      const r = await litestreamRestore(binary, replica, byLitestream, { txid });
      assert.equal(r.code, 0, `litestream restore -txid ${txid} failed:\n${r.output}\n${context}`);
      assert.deepEqual(
        restoredDump(byLitestream),
        stateAt(states, txid),
        `litestream -txid ${txid}`,
      );
    }
  }

  for (const file of compacted(files)) {
    const path = out();
    const result = await walsyncRestore(replica, path, { timestamp: file.createdAt });
    const what = `walsync restore --timestamp ${file.createdAt.toISOString()} (L${file.level} ${
      formatLtxFilename(file.minTxid, file.maxTxid)
    })`;
    assert.equal(result.code, 0, `${what} failed:\n${result.output}\n${context}`);
    assert.ok(result.txid !== null && result.txid >= file.maxTxid, `${what}: ${result.output}`);
    assert.deepEqual(restoredDump(path), stateAt(states, result.txid!), `${what}\n${context}`);
  }
  return restoredBefore;
}

/** Creates the table; the writer's first state. */
export function openWriter(dbPath: string): DatabaseSync {
  const db = openWalDatabase(dbPath);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  return db;
}

/**
 * (a) Litestream replicates with compaction every 1 s and 2 s and prunes level 0 after 1 s;
 * walsync then restores the compacted replica, latest and at points in time.
 */
export async function litestreamCompactedCase(
  binary: string,
  replica: PeerReplica,
  dir: string,
): Promise<void> {
  const dbPath = `${dir}/app.db`;
  const db = openWriter(dbPath);
  const states: States = new Map();
  const litestream = new CompactingLitestream(binary, dbPath, replica, `${dir}/ls.yml`);
  const output = () => `litestream printed:\n${litestream.output}`;
  try {
    await waitForAsync(
      "Litestream's first TXID",
      async () => await maxTxid(replica) > 0,
      () => Promise.resolve(output()),
    );
    states.set(await maxTxid(replica), dumpDatabase(db));
    for (let round = 0; round < 3; round++) {
      await writeAndRecord(db, replica, states, statements(round * 4 + 1, 4), output);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // a level-1 boundary passes
    }
    const last = Math.max(...states.keys());
    await waitForFiles(
      replica,
      "level 2 to cover the last TXID and level 0 to be pruned",
      (files) =>
        files.some((f) => f.level === 2 && f.maxTxid >= last) &&
        files.filter((f) => f.level === 0).length < states.size - 2,
      output,
    );
  } finally {
    await litestream.stop();
  }
  const finalDump = dumpDatabase(db);
  db.close();
  const files = await listAllFiles(replica.client, replica.name);
  assert.ok(compacted(files).length >= 3, `Litestream compacted:\n${await describe(replica)}`);
  const before = await assertRestores(binary, replica, dir, states, finalDump);
  assert.ok(before >= 2, `only ${before} earlier positions restored\n${await describe(replica)}`);
}
