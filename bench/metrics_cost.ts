/**
 * What the metrics endpoint costs at many databases: the size of one `/metrics` page and the
 * time to build it, with and without per-database series, plus `/health` and `/status`.
 *
 *   deno run -A bench/metrics_cost.ts [--dbs 1000,5000] [--repeats 20] [--real 1000]
 *
 * (a) In this process, from a synthetic observation of N databases with realistic values
 *     (the same renderer the daemon runs): median and p95 of `repeats` renders.
 * (b) With `--real N`: one real `walsync watch` over N small databases (a walsync.toml glob,
 *     file replica, `--metrics-addr`), scraped over HTTP `repeats` times once it is watching;
 *     the time is the client's (request to last byte), so it includes taking the snapshot
 *     (`Supervisor.observe`, the fd count from /proc) and the HTTP round trip.
 */
import { StoreStats } from "../src/replica/metered_replica_client.ts";
import { healthOf } from "../src/observe/health.ts";
import type { DatabaseView, ProcessObservation } from "../src/observe/observation.ts";
import { renderMetrics } from "../src/observe/prometheus.ts";
import { statusReport } from "../src/observe/status_report.ts";
import {
  machineInfo,
  median,
  MOD_PATH,
  note,
  option,
  percentile,
  print,
  Proc,
  scratchDir,
  table,
} from "./harness.ts";
import { DatabaseSync } from "node:sqlite";

const counts = option("dbs", "1000,5000").split(",").map(Number);
const repeats = Number(option("repeats", "20"));
const real = Number(option("real", "0"));

function database(i: number): DatabaseView {
  const now = Date.now();
  return {
    path: `/srv/tenants/t${String(i).padStart(5, "0")}/app.db`,
    name: `t${String(i).padStart(5, "0")}/app.db`,
    txid: 1000 + i,
    uploadedTxid: 1000 + i - (i % 3 === 0 ? 1 : 0),
    state: i % 4 === 0 ? "active" : "released",
    lastError: null,
    problem: null,
    sync: { count: 86_400 + i, errors: i % 100 === 0 ? 2 : 0 },
    upload: { count: 5_000 + i, errors: 0 },
    checkpoint: { count: 120 + i, errors: 0 },
    snapshots: 24,
    lagSeconds: i % 3 === 0 ? 0.412 : 0,
    lastUploadAtMs: now - i * 37,
    walSizeBytes: 4_152_992 + i,
    syncSeconds: 12.345678 + i / 1000,
    checkpointSeconds: 1.5,
    stagedBytes: i % 3 === 0 ? 8_230 : 0,
    uploadFailures: 0,
    health: i % 4 === 0 ? "active" : "released",
  };
}

function observation(n: number): ProcessObservation {
  const store = new StoreStats();
  for (let i = 0; i < 1000; i++) store.record("PUT", (i % 50) / 100, 8_000);
  return {
    atMs: Date.now(),
    version: "bench",
    pid: Deno.pid,
    startedAtMs: Date.now() - 86_400_000,
    replica: { type: "s3", location: "s3://bucket/prefix" },
    databases: Array.from({ length: n }, (_, i) => database(i)),
    store,
    fds: { inUse: 1500, limit: 20_000 },
    openDatabases: { open: Math.min(n, 256), max: 256 },
    rssBytes: 120e6,
    lease: "held",
    maxLagSeconds: 10,
    extraMetrics: [],
  };
}

function timeMs(fn: () => unknown): number[] {
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  return samples.sort((a, b) => a - b);
}

const fmt = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1);

print(`# Metrics endpoint cost\n`);
print(`\`deno run -A bench/metrics_cost.ts ${Deno.args.join(" ")}\`\n`);
print(machineInfo());
print();
const rows: (string | number)[][] = [];
for (const n of counts) {
  const o = observation(n);
  for (const perDatabase of [true, false]) {
    const page = renderMetrics(o, { perDatabase });
    const samples = timeMs(() => renderMetrics(o, { perDatabase }));
    rows.push([
      n,
      `/metrics per_database=${perDatabase}`,
      page.split("\n").length - 1,
      (new TextEncoder().encode(page).length / 1024).toFixed(1),
      fmt(median(samples)),
      fmt(percentile(samples, 95)),
    ]);
  }
  const health = JSON.stringify(healthOf(o));
  const healthSamples = timeMs(() => JSON.stringify(healthOf(o)));
  rows.push([
    n,
    "/health",
    1,
    (health.length / 1024).toFixed(1),
    fmt(median(healthSamples)),
    fmt(
      percentile(healthSamples, 95),
    ),
  ]);
  const status = JSON.stringify(statusReport(o));
  const statusSamples = timeMs(() => JSON.stringify(statusReport(o)));
  rows.push([
    n,
    "/status",
    1,
    (status.length / 1024).toFixed(1),
    fmt(median(statusSamples)),
    fmt(
      percentile(statusSamples, 95),
    ),
  ]);
}
print(`## (a) Rendering in process (${repeats} renders each)\n`);
print(table(["databases", "page", "lines", "KiB", "median ms", "p95 ms"], rows));

if (real > 0) {
  const dir = scratchDir("walsync-metrics-");
  try {
    note(`creating ${real} databases`);
    for (let i = 0; i < real; i++) {
      const path = `${dir}/data/t${String(i).padStart(5, "0")}.db`;
      if (i === 0) Deno.mkdirSync(`${dir}/data`, { recursive: true });
      const db = new DatabaseSync(path);
      db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
      db.close();
    }
    Deno.writeTextFileSync(`${dir}/walsync.toml`, `[[databases]]\npath = "data/*.db"\n`);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const proc = new Proc(Deno.execPath(), [
      "run",
      "-A",
      "--v8-flags=--max-semi-space-size=1",
      MOD_PATH,
      "watch",
      "--config",
      `${dir}/walsync.toml`,
      "-b",
      `file://${dir}/replica`,
      "--metrics-addr",
      `127.0.0.1:${port}`,
      "--log-format",
      "json",
    ], { env: { WALSYNC_RUN_DIR: `${dir}/run` } });
    note("starting watch");
    await proc.waitFor('"msg":"watching"', 900_000);
    const realRows: (string | number)[][] = [];
    for (const path of ["/metrics", "/health", "/status"]) {
      const samples: number[] = [];
      let bytes = 0;
      for (let i = 0; i < repeats; i++) {
        const start = performance.now();
        const body = await (await fetch(`http://127.0.0.1:${port}${path}`)).arrayBuffer();
        samples.push(performance.now() - start);
        bytes = body.byteLength;
      }
      samples.sort((a, b) => a - b);
      realRows.push([
        real,
        path,
        (bytes / 1024).toFixed(1),
        fmt(median(samples)),
        fmt(percentile(samples, 95)),
      ]);
    }
    await proc.stop();
    print(`\n## (b) A real watch over ${real} databases, scraped over HTTP (${repeats} each)\n`);
    print(table(["databases", "path", "KiB", "median ms", "p95 ms"], realRows));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
