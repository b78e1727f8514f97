/**
 * S3 requests of idle databases (issue 11): N databases are written once, replicated by
 * walsync and by Litestream 0.5.17 (each its own copies, default intervals, SeaweedFS behind a
 * counting proxy per tool), left to settle, then every request is counted during an idle
 * period and scaled to one hour per database.
 *
 *   deno run -A bench/compaction_idle.ts [--dbs 100] [--settle-seconds 45] [--idle-seconds 120]
 */
import { startBenchS3 } from "./bench_s3.ts";
import { classify, startPeer } from "./compaction/s3_peers.ts";
import { machineInfo, note, openApp, option, print, scratchDir, sleep, table } from "./harness.ts";

const dbCount = Number(option("dbs", "100"));
const settleSeconds = Number(option("settle-seconds", "45"));
const idleSeconds = Number(option("idle-seconds", "120"));

const root = scratchDir("walsync-compaction-idle-");
const s3 = await startBenchS3();
const rows: (string | number)[][] = [];
try {
  const paths = { walsync: [] as string[], litestream: [] as string[] };
  for (const tool of ["walsync", "litestream"] as const) {
    Deno.mkdirSync(`${root}/${tool}`);
    for (let i = 0; i < dbCount; i++) {
      const path = `${root}/${tool}/db${String(i).padStart(4, "0")}.db`;
      const db = openApp(path);
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
      db.exec("INSERT INTO t (body) VALUES ('first')");
      db.close();
      paths[tool].push(path);
    }
  }
  const schedule = { syncInterval: "1s" };
  const peers = [
    startPeer(s3, "walsync", paths.walsync, schedule, { dir: root }),
    startPeer(s3, "litestream", paths.litestream, schedule, { dir: root }),
  ];
  // Every database ships its first snapshot, then one more write each (a database that shipped
  // something new is what triggers compaction), then everything settles.
  note(`${dbCount} databases per tool: waiting for first uploads`);
  const deadline = Date.now() + 180_000;
  const puts = (i: number) => peers[i].proxy.log.filter((e) => e.method === "PUT").length;
  while (puts(0) < dbCount || puts(1) < dbCount) {
    if (Date.now() > deadline) {
      throw new Error(`first uploads: walsync ${puts(0)}, litestream ${puts(1)}`);
    }
    await sleep(200);
  }
  for (const path of [...paths.walsync, ...paths.litestream]) {
    const db = openApp(path);
    db.exec("INSERT INTO t (body) VALUES ('second')");
    db.close();
  }
  note(`settling for ${settleSeconds} s`);
  await sleep(settleSeconds * 1000);
  const skip = peers.map((p) => p.proxy.log.length);
  note(`idle for ${idleSeconds} s`);
  await sleep(idleSeconds * 1000);
  for (const [i, peer] of peers.entries()) {
    const counts = classify(peer.proxy.log.slice(skip[i]));
    const perDbHour = (n: number) => (n / dbCount * 3600 / idleSeconds).toFixed(2);
    rows.push([
      peer.tool === "walsync" ? "walsync" : "Litestream 0.5.17",
      dbCount,
      idleSeconds,
      counts.total,
      counts.list,
      counts.get + counts.head,
      counts.put,
      counts.delete,
      counts.other,
      perDbHour(counts.total),
      (counts.total * 3600 / idleSeconds).toFixed(0),
    ]);
  }
  for (const peer of peers) await peer.stop();
} finally {
  await s3.stop();
  Deno.removeSync(root, { recursive: true });
}

print(`Command: \`deno run -A bench/compaction_idle.ts ${Deno.args.join(" ")}\``);
print();
print(machineInfo());
print();
print(table([
  "tool",
  "databases",
  "idle s",
  "requests",
  "LIST",
  "GET+HEAD",
  "PUT",
  "DELETE",
  "other",
  "per database per hour",
  `per hour, all ${dbCount}`,
], rows));
