/**
 * Objects stored and bytes uploaded per simulated day (issue 11), walsync against Litestream
 * 0.5.17 in one run, each replicating its own copy of the database (identical writes) to
 * SeaweedFS through its own counting proxy. Every interval is divided by the scale: sync 1 s,
 * levels 30 s / 5 min / 1 h, snapshots every 24 h (kept 24 h), level-0 retention 5 min
 * (Litestream's check every 15 s), walsync's PITR window 24 h and level-0 linger 5 min.
 *
 *   deno run -A bench/compaction_storage.ts [--walsync-compaction] [--scenarios slow,busy]
 *     [--slow-db-mb 100] [--slow-scale 360] [--slow-hours 6]
 *     [--busy-db-mb 100] [--busy-scale 36] [--busy-hours 1]
 *
 * "slow": one small write per simulated minute. "busy": 100 writes per simulated second,
 * grouped into one transaction per 10 ms of real time.
 */
import { type BenchS3, startBenchS3 } from "./bench_s3.ts";
import { classify, startPeer, stored } from "./compaction/s3_peers.ts";
import {
  machineInfo,
  makeDatabase,
  note,
  openApp,
  option,
  print,
  rowText,
  scratchDir,
  sleep,
  table,
} from "./harness.ts";

const walsyncCompaction = Deno.args.includes("--walsync-compaction");
const scenarios = option("scenarios", "slow,busy").split(",");

interface Scenario {
  name: string;
  label: string;
  dbMb: number;
  scale: number;
  hours: number;
  /** Real ms between transactions, and row updates per transaction. */
  everyMs: number;
  rowsPerTx: number;
}

const all: Scenario[] = [];
{
  const scale = Number(option("slow-scale", "360"));
  all.push({
    name: "slow",
    label: "one small write per minute",
    dbMb: Number(option("slow-db-mb", "100")),
    scale,
    hours: Number(option("slow-hours", "6")),
    everyMs: 60_000 / scale,
    rowsPerTx: 1,
  });
}
{
  const scale = Number(option("busy-scale", "36"));
  all.push({
    name: "busy",
    label: "100 writes/s",
    dbMb: Number(option("busy-db-mb", "100")),
    scale,
    hours: Number(option("busy-hours", "1")),
    everyMs: 10,
    rowsPerTx: Math.round(100 * scale / 100), // 100 writes per simulated second, per 10 ms
  });
}

/** A duration divided by the scale, as "<n>ms" (both tools parse it); never below `floorMs`. */
function scaled(seconds: number, scale: number, floorMs = 5): string {
  return `${Math.max(floorMs, Math.round(seconds * 1000 / scale))}ms`;
}

const root = scratchDir("walsync-compaction-storage-");
const s3: BenchS3 = await startBenchS3();
const rows: (string | number)[][] = [];
const mb = (n: number) => (n / 1e6).toFixed(1);
try {
  for (const scenario of all.filter((s) => scenarios.includes(s.name))) {
    const { scale } = scenario;
    const dir = `${root}/${scenario.name}`;
    Deno.mkdirSync(dir);
    note(`${scenario.name}: making a ${scenario.dbMb} MB database`);
    makeDatabase(`${dir}/source.db`, scenario.dbMb * 1e6);
    const paths = { walsync: `${dir}/w/app.db`, litestream: `${dir}/l/app.db` };
    for (const p of Object.values(paths)) {
      Deno.mkdirSync(p.slice(0, p.lastIndexOf("/")));
      Deno.copyFileSync(`${dir}/source.db`, p);
    }
    const schedule = {
      syncInterval: scaled(1, scale),
      levels: [scaled(30, scale), scaled(300, scale), scaled(3600, scale)],
      snapshotInterval: scaled(86_400, scale),
      snapshotRetention: scaled(86_400, scale),
      l0Retention: scaled(300, scale),
      l0RetentionCheckInterval: scaled(15, scale),
    };
    const walsyncFlags = walsyncCompaction
      ? [
        "--compaction-levels",
        schedule.levels.join(","),
        "--pitr",
        scaled(86_400, scale),
        "--l0-linger",
        scaled(300, scale),
      ]
      : [];
    const peers = [
      startPeer(s3, "walsync", [paths.walsync], schedule, { dir, walsyncFlags }),
      startPeer(s3, "litestream", [paths.litestream], schedule, { dir }),
    ];
    const dbs = [openApp(paths.walsync), openApp(paths.litestream)];
    const maxId = (dbs[0].prepare("SELECT max(id) AS m FROM t").get() as { m: number }).m;
    const updates = dbs.map((db) => db.prepare("UPDATE t SET body = ? WHERE id = ?"));
    // Both stored their first snapshot before the simulated day starts.
    const deadline = Date.now() + 180_000;
    for (const peer of peers) {
      while ((await stored(s3, peer.prefix)).objects === 0) {
        if (Date.now() > deadline) throw new Error(`no snapshot:\n${peer.proc.tail()}`);
        await sleep(200);
      }
    }
    const runMs = scenario.hours * 3_600_000 / scale;
    note(
      `${scenario.name}: writing for ${
        (runMs / 1000).toFixed(0)
      } s (${scenario.hours} h simulated)`,
    );
    // Counted from here: the first snapshot is not part of the simulated day.
    const skip = peers.map((p) => p.proxy.log.length);
    const started = Date.now();
    let tx = 0;
    let seed = 7;
    while (Date.now() - started < runMs) {
      tx++;
      const ids = Array.from({ length: scenario.rowsPerTx }, () => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return 1 + (seed % maxId);
      });
      for (const [i, db] of dbs.entries()) {
        db.exec("BEGIN");
        for (const id of ids) {
          const text = rowText(id - 1);
          updates[i].run(String(tx % 100_000).padStart(5, "0") + text.slice(5), id);
        }
        db.exec("COMMIT");
      }
      const next = started + tx * scenario.everyMs;
      await sleep(Math.max(0, next - Date.now()));
    }
    // Let both finish the last compactions of the simulated day (one level-2 interval).
    await sleep(Math.max(2000, 300_000 / scale));
    for (const db of dbs) db.close();
    for (const [p, peer] of peers.entries()) {
      await peer.stop();
      const counts = classify(peer.proxy.log.slice(skip[p]));
      const kept = await stored(s3, peer.prefix);
      const perDay = 24 / scenario.hours;
      rows.push([
        `${scenario.label}, ${scenario.dbMb} MB, ×${scale}, ${scenario.hours} h`,
        peer.tool === "walsync"
          ? `walsync${walsyncCompaction ? " (compaction on)" : ""}`
          : "Litestream 0.5.17",
        tx,
        counts.put,
        mb(counts.putBytes),
        counts.delete,
        counts.list,
        counts.get + counts.head,
        Math.round(counts.put * perDay),
        mb(counts.putBytes * perDay),
        kept.objects,
        [...kept.byLevel].map(([l, n]) => `${l} ${n}`).join(", "),
        mb(kept.bytes),
      ]);
      note(rows.at(-1)!.join(" | "));
    }
    Deno.removeSync(dir, { recursive: true });
  }
} finally {
  await s3.stop();
  Deno.removeSync(root, { recursive: true });
}

print(`Command: \`deno run -A bench/compaction_storage.ts ${Deno.args.join(" ")}\``);
print();
print(machineInfo());
print();
print(table([
  "scenario (database, time scale, simulated)",
  "tool",
  "transactions",
  "PUTs",
  "MB uploaded",
  "DELETE requests",
  "LISTs",
  "GET+HEAD",
  "PUTs per day",
  "MB uploaded per day",
  "objects stored at end",
  "by level",
  "MB stored at end",
], rows));
