/**
 * The compaction round trips with Litestream, written once for every replica kind: a file
 * replica (tests/compaction_litestream_test.ts) and S3 (tests/s3/compaction_litestream_s3_test.ts).
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { formatLtxFilename, SNAPSHOT_LEVEL } from "../../src/ltx/ltx_header.ts";
import type { LtxFileInfo } from "../../src/replica/replica_client.ts";
import { listAllFiles } from "../../src/restore/apply.ts";
import { WalsyncProcess } from "./walsync_process.ts";
import {
  CompactingLitestream,
  describe,
  type Dump,
  litestreamRestore,
  maxTxid,
  MOD,
  type PeerReplica,
  restoredDump,
  run,
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
 * The TXIDs some chain of files can end at: from every snapshot (a file starting at TXID 1),
 * any file that applies on top (MinTXID ≤ position + 1 < MaxTXID + 1) extends it. Not
 * walsync's planner: what the files allow, whoever restores.
 */
export function reachable(files: LtxFileInfo[]): Set<number> {
  const reached = new Set(files.filter((f) => f.minTxid === 1).map((f) => f.maxTxid));
  const increments = files.filter((f) => f.level !== SNAPSHOT_LEVEL);
  let grew = true;
  while (grew) {
    grew = false;
    for (const f of increments) {
      if (reached.has(f.maxTxid)) continue;
      if ([...reached].some((at) => f.minTxid <= at + 1 && f.maxTxid > at)) {
        reached.add(f.maxTxid);
        grew = true;
      }
    }
  }
  return reached;
}

/**
 * Both tools restore the latest state. Every recorded TXID that the files can reach, and every
 * reachable end of a compacted file or snapshot, both tools restore exactly; walsync refuses
 * the other recorded TXIDs with a clear message (or restores them exactly). walsync restores
 * by timestamp at each reachable compacted file's time. Returns how many positions before the
 * latest were restored, to show the check had something to check.
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

  const reach = reachable(files);
  const ends = files.filter((f) => f.level >= 1 && reach.has(f.maxTxid)).map((f) => f.maxTxid);
  let restoredBefore = 0;
  for (const txid of [...new Set([...states.keys(), ...ends])].sort((a, b) => a - b)) {
    if (txid > latest) continue;
    const path = out();
    const result = await walsyncRestoreLib(replica, path, { txid });
    if ("error" in result) {
      assert.ok(!reach.has(txid), `walsync refused TXID ${txid}: ${result.error}\n${context}`);
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
    if (reach.has(txid)) {
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

  // By time: at each reachable compacted file's time. When the next TXID's time is known and
  // later, that TXID's state is exact; otherwise walsync may refuse (never an older state). A
  // TXID's own time is known only from a file that holds that TXID alone (below level 9): a
  // snapshot's time is when it was taken, a merged file's is its newest input's.
  const endTimes = new Map(
    files.filter((f) => f.level < 9 && f.minTxid === f.maxTxid).map((
      f,
    ) => [f.maxTxid, f.createdAt.getTime()]),
  );
  for (const file of compacted(files).filter((f) => reach.has(f.maxTxid))) {
    const path = out();
    const result = await walsyncRestore(replica, path, { timestamp: file.createdAt });
    const what = `walsync restore --timestamp ${file.createdAt.toISOString()} (L${file.level} ${
      formatLtxFilename(file.minTxid, file.maxTxid)
    })`;
    const nextTime = endTimes.get(file.maxTxid + 1);
    const known = nextTime !== undefined && nextTime > file.createdAt.getTime();
    if (result.code !== 0 && !known) {
      assert.match(result.output, CLEAR_REFUSAL, `${what}: ${result.output}`);
      continue;
    }
    assert.equal(result.code, 0, `${what} failed:\n${result.output}\n${context}`);
    assert.ok(result.txid !== null && result.txid >= file.maxTxid, `${what}: ${result.output}`);
    assert.deepEqual(restoredDump(path), stateAt(states, result.txid!), `${what}\n${context}`);
  }
  const now = out();
  const byTime = await walsyncRestore(replica, now, { timestamp: new Date() });
  assert.equal(byTime.code, 0, `walsync restore --timestamp now:\n${byTime.output}\n${context}`);
  assert.deepEqual(restoredDump(now), finalDump, "walsync restore --timestamp now");
  return restoredBefore;
}

/** Creates the table; the writer's first state. */
export function openWriter(dbPath: string): DatabaseSync {
  const db = openWalDatabase(dbPath);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  return db;
}

/** walsync's compaction settings in these tests: the twins of CompactingLitestream's. */
export const WALSYNC_COMPACTION_FLAGS = [
  "--compaction-levels",
  "1s,2s",
  "--l0-linger",
  "1s",
  "--pitr",
  "3s",
  "--snapshot-interval",
  "3s",
];

/** One tool's turn at replicating, with compaction: rounds of 4 transactions 1.1 s apart. */
export interface Turn {
  tool: "walsync" | "litestream";
  rounds: number;
}

/** A replicator running for one turn. */
interface Running {
  output(): string;
  stop(): Promise<void>;
}

function startTool(
  binary: string,
  tool: Turn["tool"],
  dbPath: string,
  replica: PeerReplica,
  dir: string,
): Running {
  if (tool === "litestream") {
    const ls = new CompactingLitestream(
      binary,
      dbPath,
      replica,
      `${dir}/ls-${crypto.randomUUID()}.yml`,
    );
    return {
      output: () => `litestream printed:\n${ls.output}`,
      stop: async () => void await ls.stop(),
    };
  }
  const walsync = new WalsyncProcess([
    "watch",
    dbPath,
    "-b",
    replica.walsyncUrl,
    "--sync-interval",
    "100ms",
    ...WALSYNC_COMPACTION_FLAGS,
  ], { env: replica.env });
  return {
    output: () => `walsync printed:\n${walsync.stderr}`,
    async stop() {
      try {
        const { code, stderr } = await walsync.stop();
        assert.equal(code, 0, stderr);
      } finally {
        await walsync.kill();
      }
    },
  };
}

/**
 * Replicates `<dir>/app.db` into `replica` with each tool in turn, compacting; before every
 * turn but the first the application writes once while nothing replicates (a deploy that swaps
 * the tools), and the new tool's first TXID must follow the previous tool's last. Each turn
 * ends once level 2 covers its last TXID and some of its level-0 files were deleted, with three
 * more transactions (recent positions the window holds when the next tool or the checks start).
 */
export async function replicateInTurns(
  binary: string,
  replica: PeerReplica,
  dir: string,
  turns: Turn[],
): Promise<{ states: States; finalDump: Dump }> {
  const dbPath = `${dir}/app.db`;
  const db = openWriter(dbPath);
  const states: States = new Map();
  let statement = 1;
  try {
    for (const [index, turn] of turns.entries()) {
      const previous = await maxTxid(replica);
      if (index > 0) db.exec(statements(statement++, 1)[0]);
      const running = startTool(binary, turn.tool, dbPath, replica, dir);
      try {
        await waitForAsync(
          `${turn.tool}'s first TXID after ${previous}`,
          async () => await maxTxid(replica) > previous,
          async () => `${running.output()}\n${await describe(replica)}`,
        );
        const first = await maxTxid(replica);
        if (index > 0) assert.equal(first, previous + 1, `${turn.tool}'s first TXID`);
        states.set(first, dumpDatabase(db));
        let beforeLastRound = first;
        for (let round = 0; round < turn.rounds; round++) {
          beforeLastRound = Math.max(...states.keys());
          await writeAndRecord(db, replica, states, statements(statement, 4), running.output);
          statement += 4;
          await new Promise((resolve) => setTimeout(resolve, 1100)); // a level-1 boundary
        }
        // Level 2 covers every round but the last (walsync compacts when a database ships
        // something, so the last round may wait in level 0 for the next write) and some of
        // the turn's level-0 files were deleted.
        const recorded = [...states.keys()].filter((t) => t > previous).length;
        await waitForFiles(
          replica,
          `${turn.tool}: level 2 to cover TXID ${beforeLastRound} and level 0 to be pruned`,
          (files) =>
            files.some((f) => f.level === 2 && f.maxTxid >= beforeLastRound) &&
            files.filter((f) => f.level === 0 && f.minTxid > previous).length < recorded - 1,
          running.output,
        );
        // A few positions the point-in-time window surely still holds when the turn ends: on
        // a slow machine the wait above can outlast the 3 s window, which then keeps only the
        // newest TXID (the restores below need earlier positions to check).
        await writeAndRecord(db, replica, states, statements(statement, 3), running.output);
        statement += 3;
      } finally {
        await running.stop();
      }
    }
    return { states, finalDump: dumpDatabase(db) };
  } finally {
    db.close();
  }
}

/** Runs the turns, then checks every restore with both tools. */
export async function compactedRoundTrip(
  binary: string,
  replica: PeerReplica,
  dir: string,
  turns: Turn[],
  after?: () => Promise<void>,
): Promise<void> {
  const { states, finalDump } = await replicateInTurns(binary, replica, dir, turns);
  await after?.();
  const files = await listAllFiles(replica.client, replica.name);
  assert.ok(compacted(files).length >= 2, `compacted:\n${await describe(replica)}`);
  const before = await assertRestores(binary, replica, dir, states, finalDump);
  assert.ok(before >= 2, `only ${before} earlier positions restored\n${await describe(replica)}`);
}

/** (a) walsync restores what Litestream compacted. */
export function litestreamCompactedCase(
  binary: string,
  replica: PeerReplica,
  dir: string,
): Promise<void> {
  return compactedRoundTrip(binary, replica, dir, [{ tool: "litestream", rounds: 3 }]);
}

/**
 * (b) Litestream restores what walsync compacted, by `watch` and then `walsync compact
 * --force`; no level 1..8 file is a copy of the database (Litestream #1510).
 */
export function walsyncCompactedCase(
  binary: string,
  replica: PeerReplica,
  dir: string,
): Promise<void> {
  return compactedRoundTrip(binary, replica, dir, [{ tool: "walsync", rounds: 3 }], async () => {
    const compact = await run(Deno.execPath(), [
      "run",
      "-A",
      MOD,
      "compact",
      replica.name,
      "-b",
      replica.walsyncUrl,
      "--force",
      ...WALSYNC_COMPACTION_FLAGS.slice(0, 4),
      // The watch's levels, with a window long enough that the positions the checks restore
      // are still there however long this command took to start.
      "--pitr",
      "60s",
    ], replica.env);
    assert.equal(compact.code, 0, compact.output);
    const copies = compacted(await listAllFiles(replica.client, replica.name)).filter((f) =>
      f.minTxid === 1
    );
    assert.deepEqual(copies, [], `a compaction copied the snapshot\n${await describe(replica)}`);
  });
}

/** (c) walsync takes over a replica Litestream compacted, and the other way round. */
export function takeoverCase(
  first: Turn["tool"],
): (binary: string, replica: PeerReplica, dir: string) => Promise<void> {
  const second = first === "litestream" ? "walsync" : "litestream";
  return (binary, replica, dir) =>
    compactedRoundTrip(binary, replica, dir, [
      { tool: first, rounds: 2 },
      { tool: second, rounds: 2 },
    ]);
}
