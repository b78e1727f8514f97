/**
 * The daemon's level index must not lose an upload that lands while the index is first being
 * listed. On S3 the listing of levels 0..N and 9 takes several requests; `watch` keeps
 * uploading meanwhile. Seen end to end on SeaweedFS (tests/s3/compaction_litestream_s3_test.ts):
 * "level 0 has no file for TXID 3 (before ...0004.ltx): level 1 is compacted up to TXID 2 until
 * it is there" at every pass although TXID 3 is in the bucket, then "the window's first
 * position, TXID 6, has no chain (... TXID 3 is missing); nothing is deleted": level 1 stalls
 * and retention stops until a snapshot bridges the TXID.
 */
import assert from "node:assert/strict";
import { CompactionScheduler } from "../src/compact/scheduler.ts";
import { DEFAULT_COMPACTION_POLICY } from "../src/compact/policy.ts";
import { Logger } from "../src/log.ts";
import { LtxEncoder } from "../src/ltx/ltx_encoder.ts";
import { newLtxHeader } from "../src/ltx/ltx_header.ts";
import { MemoryReplicaClient } from "../src/replica/memory/memory_replica_client.ts";
import type { ListFilesOptions, LtxFileInfo } from "../src/replica/replica_client.ts";
import { sha256Hex } from "../src/checksum/sha256.ts";

/** A memory replica whose level-1 listing waits for `gate` (level 0 is listed by then). */
class GatedClient extends MemoryReplicaClient {
  gate: Promise<void> | null = null;
  reachedGate: () => void = () => {};

  override async listFiles(
    name: string,
    level: number,
    options?: AbortSignal | ListFilesOptions,
  ): Promise<LtxFileInfo[]> {
    if (level === 1 && this.gate) {
      const gate = this.gate;
      this.gate = null;
      this.reachedGate();
      await gate;
    }
    return await super.listFiles(name, level, options);
  }
}

/** One-page LTX file for TXID `txid` (the snapshot at 1), stored at level 0. */
async function store(client: GatedClient, txid: number, atMs: number): Promise<LtxFileInfo> {
  const encoder = new LtxEncoder(newLtxHeader({
    pageSize: 4096,
    commit: 1,
    minTxid: txid,
    maxTxid: txid,
    timestampMs: atMs,
  }));
  const page = new Uint8Array(4096).fill(txid);
  const parts = [
    encoder.encodeHeader(),
    encoder.encodePage(1, page).slice(),
    encoder.finish().bytes,
  ];
  const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    body.set(p, at);
    at += p.length;
  }
  return await client.writeFile("app.db", { level: 0, minTxid: txid, maxTxid: txid }, body, {
    sha256: await sha256Hex(body),
    databaseChecksum: 0x8000000000000000n,
    createdAt: new Date(atMs),
  });
}

Deno.test({
  name: "an upload that lands while the level index is first listed is not lost",
  // Failed before 03ca70f ("uploads while it is not in memory are kept and added when it is
  // loaded"): CompactionScheduler.shipped() did `db.index?.add(info)` while #pass awaited
  // LevelIndex.load(), so an upload stored after level 0 was listed was lost for good.
  async fn() {
    const client = new GatedClient();
    let now = 1_000_000_000_000;
    const lines: string[] = [];
    const scheduler = new CompactionScheduler({
      client,
      policy: { ...DEFAULT_COMPACTION_POLICY, levelIntervalsMs: [1000], pitrMs: 3_600_000 },
      now: () => now,
      logger: new Logger({ level: "debug", format: "json", write: (l) => lines.push(l) }),
    });
    await store(client, 1, now);
    scheduler.shipped("app.db", null, await store(client, 2, now));
    now += 1500; // a level-1 boundary passed
    let release: () => void = () => {};
    client.gate = new Promise((resolve) => release = resolve);
    const reached = new Promise<void>((resolve) => client.reachedGate = resolve);
    scheduler.pump(); // the first pass lists the replica; level 0 holds TXIDs 1 and 2
    await reached;
    scheduler.shipped("app.db", null, await store(client, 3, now)); // lands mid-listing
    release();
    await scheduler.idle();
    now += 1500;
    scheduler.shipped("app.db", null, await store(client, 4, now));
    now += 1500;
    scheduler.pump();
    await scheduler.idle();
    const missing = lines.filter((l) => l.includes("has no file for TXID"));
    assert.deepEqual(missing, [], lines.join(""));
    const levelOne = await client.listFiles("app.db", 1);
    assert.ok(levelOne.some((f) => f.maxTxid === 4), lines.join(""));
  },
});
