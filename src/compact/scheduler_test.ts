import assert from "node:assert/strict";
import { LtxEncoder } from "../ltx/ltx_encoder.ts";
import { newLtxHeader } from "../ltx/ltx_header.ts";
import { Logger } from "../log.ts";
import { MemoryReplicaClient } from "../replica/memory/memory_replica_client.ts";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import type { CompactionPolicy } from "./policy.ts";
import { CompactionScheduler } from "./scheduler.ts";
import { assertStrictExposition } from "../../tests/support/prometheus_text.ts";

const policy: CompactionPolicy = {
  levelIntervalsMs: [10_000, 60_000],
  pitrMs: 0,
  snapshots: { hourly: 0, daily: 0, weekly: 0, monthly: 0 },
  l0LingerMs: 0,
};

function ltx(txid: number, ms: number): Uint8Array {
  const encoder = new LtxEncoder(
    newLtxHeader({ pageSize: 512, commit: 2, minTxid: txid, maxTxid: txid, timestampMs: ms }),
  );
  const parts: Uint8Array[] = [encoder.encodeHeader().slice()];
  for (const pgno of txid === 1 ? [1, 2] : [2]) {
    parts.push(encoder.encodePage(pgno, new Uint8Array(512).fill(txid)).slice());
  }
  parts.push(encoder.finish().bytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

class Flaky extends MemoryReplicaClient {
  calls = 0;
  failWrites = 0;
  override writeFile(...args: Parameters<MemoryReplicaClient["writeFile"]>) {
    this.calls++;
    if (args[1].level > 0 && this.failWrites > 0) {
      this.failWrites--;
      return Promise.reject(new Error("503 Slow Down"));
    }
    return super.writeFile(...args);
  }
  override listFiles(...args: Parameters<MemoryReplicaClient["listFiles"]>) {
    this.calls++;
    return super.listFiles(...args);
  }
  override openFile(...args: Parameters<MemoryReplicaClient["openFile"]>) {
    this.calls++;
    return super.openFile(...args);
  }
  override deleteFiles(...args: Parameters<MemoryReplicaClient["deleteFiles"]>) {
    this.calls++;
    return super.deleteFiles(...args);
  }
}

async function upload(client: Flaky, scheduler: CompactionScheduler, txid: number, ms: number) {
  const info: LtxFileInfo = await client.writeFile(
    "app.db",
    { level: 0, minTxid: txid, maxTxid: txid },
    ltx(txid, ms),
    {
      sha256: "0".repeat(64),
      databaseChecksum: 0x8000000000000000n | BigInt(txid),
      createdAt: new Date(ms),
    },
  );
  scheduler.shipped("app.db", null, info);
}

Deno.test("the scheduler runs a level at its next wall-clock boundary after an upload, and an idle database costs nothing", async () => {
  const client = new Flaky();
  let now = 1_000_000_003_000; // 3 s past a 10 s boundary
  const scheduler = new CompactionScheduler({ client, policy, now: () => now });
  for (let txid = 1; txid <= 4; txid++) await upload(client, scheduler, txid, now + txid);
  client.calls = 0;
  scheduler.pump();
  await scheduler.idle();
  assert.equal(client.calls, 0, "nothing before the boundary");

  now += 7_000; // the 10 s boundary passed: level 1 is due, level 2 (60 s) is not
  scheduler.pump();
  await scheduler.idle();
  const level1 = await client.listFiles("app.db", 1);
  assert.deepEqual(level1.map((f) => `${f.minTxid}-${f.maxTxid}`), ["2-4"]);
  assert.deepEqual(await client.listFiles("app.db", 2), []);

  now += 60_000;
  scheduler.pump();
  await scheduler.idle();
  assert.deepEqual((await client.listFiles("app.db", 2)).map((f) => `${f.minTxid}-${f.maxTxid}`), [
    "2-4",
  ]);

  // The counters the daemon's /metrics page shows.
  const text = scheduler.counters.render();
  assertStrictExposition(text);
  assert.match(text, /^walsync_compaction_count\{level="1"\} 1$/m);
  assert.match(text, /^walsync_compaction_count\{level="2"\} 1$/m);
  assert.match(text, /^walsync_compaction_pass_count 2$/m);
  assert.match(text, /^walsync_compaction_error_count 0$/m);

  // Nothing new since: however long it stays idle, no request.
  client.calls = 0;
  for (let i = 0; i < 5; i++) {
    now += 3_600_000;
    scheduler.pump();
    await scheduler.idle();
  }
  assert.equal(client.calls, 0);
});

Deno.test("a failed pass is logged as a warning and retried later; the index is listed again", async () => {
  const client = new Flaky();
  const lines: string[] = [];
  const logger = new Logger({ level: "debug", format: "json", write: (l) => lines.push(l) });
  let now = 2_000_000_001_000;
  const scheduler = new CompactionScheduler({ client, policy, logger, now: () => now });
  for (let txid = 1; txid <= 3; txid++) await upload(client, scheduler, txid, now + txid);
  client.failWrites = 1;
  now += 10_000;
  scheduler.pump();
  await scheduler.idle();
  assert.deepEqual(await client.listFiles("app.db", 1), []);
  const warning = lines.map((l) => JSON.parse(l)).find((l) =>
    l.msg === "compaction failed; retrying later"
  );
  assert.ok(warning, lines.join(""));
  assert.equal(warning.level, "warn");
  assert.equal(warning.retryInMs, 5000);

  now += 1_000; // before the retry time: nothing
  client.calls = 0;
  scheduler.pump();
  await scheduler.idle();
  assert.equal(client.calls, 0);

  now += 5_000;
  scheduler.pump();
  await scheduler.idle();
  assert.deepEqual((await client.listFiles("app.db", 1)).map((f) => `${f.minTxid}-${f.maxTxid}`), [
    "2-3",
  ]);
  assert.ok(lines.some((l) => JSON.parse(l).msg === "listed the replica for compaction"));
  assert.match(scheduler.counters.render(), /^walsync_compaction_error_count 1$/m);
});

Deno.test("a released database keeps its index on disk, and uploads meanwhile are not lost", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const client = new Flaky();
    let now = 3_000_000_001_000;
    const scheduler = new CompactionScheduler({ client, policy, now: () => now });
    const ship = async (txid: number) => {
      const info = await client.writeFile(
        "app.db",
        { level: 0, minTxid: txid, maxTxid: txid },
        ltx(txid, now),
        {
          sha256: "0".repeat(64),
          databaseChecksum: 0x8000000000000000n | BigInt(txid),
          createdAt: new Date(now),
        },
      );
      scheduler.shipped("app.db", dir, info);
    };
    for (let txid = 1; txid <= 3; txid++) await ship(txid);
    now += 10_000;
    scheduler.pump();
    await scheduler.idle();
    assert.equal(scheduler.indexSize("app.db")! > 0, true);
    scheduler.release("app.db");
    assert.equal(scheduler.indexSize("app.db"), null, "not in memory once released");
    assert.ok(Deno.statSync(`${dir}/compaction-index.json`).isFile);

    await ship(4);
    await ship(5);
    client.calls = 0;
    now += 10_000;
    scheduler.pump();
    await scheduler.idle();
    const level1 = (await client.listFiles("app.db", 1)).map((f) => `${f.minTxid}-${f.maxTxid}`);
    assert.deepEqual(level1, ["2-3", "4-5"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after its last upload, an idle database gets one retention pass when its window ends, then nothing", async () => {
  const client = new Flaky();
  let now = 3_000_000_003_000;
  const windowed: CompactionPolicy = { ...policy, pitrMs: 120_000, l0LingerMs: 30_000 };
  const scheduler = new CompactionScheduler({ client, policy: windowed, now: () => now });
  for (let txid = 1; txid <= 4; txid++) await upload(client, scheduler, txid, now + txid);
  const levelZero = async () =>
    (await client.listFiles("app.db", 0)).map((f) => `${f.minTxid}-${f.maxTxid}`);
  now += 60_000; // both levels ran; level 0 is inside the window
  scheduler.pump();
  await scheduler.idle();
  assert.equal((await client.listFiles("app.db", 2)).length, 1);
  assert.deepEqual(await levelZero(), ["1-1", "2-2", "3-3", "4-4"]);
  client.calls = 0;
  now += 80_000; // the window ended, not yet the linger after it
  scheduler.pump();
  await scheduler.idle();
  assert.equal(client.calls, 0, "nothing before last upload + pitr + linger");
  now += 20_000;
  scheduler.pump();
  await scheduler.idle();
  assert.deepEqual(await levelZero(), ["1-1", "4-4"], "pruned without another upload");
  client.calls = 0;
  for (let i = 0; i < 5; i++) {
    now += 3_600_000;
    scheduler.pump();
    await scheduler.idle();
  }
  assert.equal(client.calls, 0, "and then nothing");
});

Deno.test("a hole in level 0 asks the daemon to heal it once per hole, and again if it could not", async () => {
  const client = new Flaky();
  let now = 4_000_000_003_000;
  const asked: string[] = [];
  let answer = false;
  const scheduler = new CompactionScheduler({
    client,
    policy,
    now: () => now,
    onLevelZeroHole: (name, from, to) => {
      asked.push(`${name} ${from}-${to}`);
      return Promise.resolve(answer);
    },
  });
  for (const txid of [1, 2, 3, 6]) await upload(client, scheduler, txid, now + txid);
  now += 10_000;
  scheduler.pump();
  await scheduler.idle();
  assert.deepEqual(asked, ["app.db 4-5"]);
  // Not healed (still staged, say): the next pass asks again; once healing, it asks no more.
  answer = true;
  await upload(client, scheduler, 7, now);
  now += 10_000;
  scheduler.pump();
  await scheduler.idle();
  await upload(client, scheduler, 8, now);
  now += 10_000;
  scheduler.pump();
  await scheduler.idle();
  assert.deepEqual(asked, ["app.db 4-5", "app.db 4-5"]);
});
