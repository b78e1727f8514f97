/**
 * Follower lag and memory: one `walsync replicate --all` process following N databases.
 *
 *   deno run -A bench/follow_lag.ts [--dbs 1,100,1000] [--samples 60] [--interval 1s]
 *
 * For each N: N small databases (about 40 KB each) go into a file replica as level-0
 * snapshots, written by this script with walsync's LTX encoder and metadata (so the measure is
 * the follower's alone, not a `watch` in front of it). `walsync replicate --all` starts (with
 * the V8 flags `deno task walsync` uses) and restores them all. Then, `samples` times, one
 * database chosen at random changes one row: this script writes the next TXID's level-0 file
 * (the changed pages) and polls the copy with its own read-only SQLite connection every 2 ms
 * until the new value is there. Lag = that moment − the moment the file was in the replica.
 * Gaps between samples are random (0 to the interval + 200 ms) so changes land anywhere in
 * the poll cycle. CPU is the follower's share of one core while it idles over N databases.
 * RSS (VmRSS of the follower) is read once all copies are restored and idle for 5 s, and
 * after every sample (the maximum is reported).
 */
import { DatabaseSync } from "node:sqlite";
import { DatabaseChecksum, lockPgno } from "../src/checksum/database_checksum.ts";
import { sha256Hex } from "../src/checksum/sha256.ts";
import { LtxEncoder } from "../src/ltx/ltx_encoder.ts";
import { newLtxHeader } from "../src/ltx/ltx_header.ts";
import { parseDuration } from "../src/config/duration.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import {
  machineInfo,
  MOD_PATH,
  note,
  option,
  percentile,
  print,
  Proc,
  procCpuSeconds,
  procMemoryKb,
  scratchDir,
  sleep,
  table,
} from "./harness.ts";

const PAGE_SIZE = 4096;
const counts = option("dbs", "1,100,1000").split(",").map(Number);
const samples = Number(option("samples", "60"));
const interval = option("interval", "1s");
const intervalMs = parseDuration(interval, "--interval");

interface Primary {
  name: string;
  path: string;
  txid: number;
  bytes: Uint8Array;
}

function createPrimary(path: string): Uint8Array {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA page_size=${PAGE_SIZE}; PRAGMA journal_mode=DELETE`);
  db.exec("CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT, pad TEXT)");
  db.exec("BEGIN");
  const insert = db.prepare("INSERT INTO kv(v, pad) VALUES ('start', ?)");
  for (let i = 0; i < 100; i++) insert.run("x".repeat(300));
  db.exec("COMMIT");
  db.close();
  return Deno.readFileSync(path);
}

/** Writes TXID `txid` of `name`: every page (a snapshot) or those that differ from `before`. */
async function writeTxid(
  client: FileReplicaClient,
  primary: Primary,
  after: Uint8Array,
  before: Uint8Array | null,
): Promise<void> {
  const txid = primary.txid + 1;
  const commit = after.length / PAGE_SIZE;
  const encoder = new LtxEncoder(
    newLtxHeader({ pageSize: PAGE_SIZE, commit, minTxid: txid, maxTxid: txid }),
  );
  const checksum = new DatabaseChecksum();
  const parts = [encoder.encodeHeader()];
  const lock = lockPgno(PAGE_SIZE);
  for (let pgno = 1; pgno <= commit; pgno++) {
    if (pgno === lock) continue;
    const page = after.subarray((pgno - 1) * PAGE_SIZE, pgno * PAGE_SIZE);
    checksum.toggle(pgno, page);
    const old = before?.subarray((pgno - 1) * PAGE_SIZE, pgno * PAGE_SIZE);
    if (old && old.length === PAGE_SIZE && old.every((b, i) => b === page[i])) continue;
    parts.push(encoder.encodePage(pgno, page).slice());
  }
  parts.push(encoder.finish().bytes);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  await client.writeFile(primary.name, { level: 0, minTxid: txid, maxTxid: txid }, bytes, {
    sha256: await sha256Hex(bytes),
    databaseChecksum: checksum.value,
    createdAt: new Date(),
  });
  primary.txid = txid;
  primary.bytes = after;
}

function copyTxid(path: string): number {
  try {
    return JSON.parse(Deno.readTextFileSync(`${path}.walsync-follow`)).current.txid;
  } catch {
    return 0;
  }
}

async function measure(count: number) {
  const dir = scratchDir("follow-lag-");
  const client = new FileReplicaClient(`${dir}/rep`);
  Deno.mkdirSync(`${dir}/p`);
  const primaries: Primary[] = [];
  for (let i = 0; i < count; i++) {
    const name = `db${String(i).padStart(4, "0")}.db`;
    const primary = { name, path: `${dir}/p/${name}`, txid: 0, bytes: new Uint8Array() };
    await writeTxid(client, primary, createPrimary(primary.path), null);
    primaries.push(primary);
  }
  note(`${count} databases in the replica`);
  const started = Date.now();
  const proc = new Proc(Deno.execPath(), [
    "run",
    "-A",
    "--v8-flags=--max-semi-space-size=1",
    MOD_PATH,
    "replicate",
    "--all",
    "-b",
    `file://${dir}/rep`,
    "-o",
    `${dir}/copies`,
    "--interval",
    interval,
    "--log-format",
    "json",
    "--log-level",
    "warn",
  ]);
  const copy = (p: Primary) => `${dir}/copies/${p.name}`;
  while (primaries.some((p) => copyTxid(copy(p)) < 1)) await sleep(100);
  const restoreMs = Date.now() - started;
  await sleep(2000);
  const cpuBefore = procCpuSeconds(proc.pid);
  await sleep(5000);
  const idleCpuPercent = (procCpuSeconds(proc.pid) - cpuBefore) / 5 * 100;
  const idle = procMemoryKb(proc.pid);
  const lags: number[] = [];
  let maxRssKb = idle.rssKb;
  for (let s = 0; s < samples; s++) {
    await sleep(Math.random() * (intervalMs + 200));
    const primary = primaries[Math.floor(Math.random() * count)];
    const marker = `m${s}-${crypto.randomUUID()}`;
    const db = new DatabaseSync(primary.path);
    db.prepare("UPDATE kv SET v = ? WHERE k = 1").run(marker);
    db.close();
    await writeTxid(client, primary, Deno.readFileSync(primary.path), primary.bytes);
    const t0 = performance.now();
    const reader = new DatabaseSync(copy(primary), { readOnly: true });
    reader.exec("PRAGMA busy_timeout=5000");
    const read = reader.prepare("SELECT v FROM kv WHERE k = 1");
    while ((read.get() as { v: string }).v !== marker) await sleep(2);
    lags.push(performance.now() - t0);
    reader.close();
    maxRssKb = Math.max(maxRssKb, procMemoryKb(proc.pid).rssKb);
  }
  const final = procMemoryKb(proc.pid);
  await proc.stop();
  const warnings = proc.lines.filter((l) => /"level":"(warn|error)"/.test(l)).length;
  Deno.removeSync(dir, { recursive: true });
  lags.sort((a, b) => a - b);
  return { count, lags, idle, idleCpuPercent, maxRssKb, hwmKb: final.hwmKb, restoreMs, warnings };
}

print("# follower lag and RSS");
print();
print(
  `Command: \`deno run -A bench/follow_lag.ts --dbs ${
    counts.join(",")
  } --samples ${samples} --interval ${interval}\``,
);
print();
print(machineInfo());
print();
const rows = [];
for (const count of counts) {
  const r = await measure(count);
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  rows.push([
    r.count,
    r.lags.length,
    percentile(r.lags, 50).toFixed(0),
    percentile(r.lags, 95).toFixed(0),
    percentile(r.lags, 99).toFixed(0),
    r.lags.at(-1)!.toFixed(0),
    mb(r.idle.rssKb),
    mb(r.maxRssKb),
    mb(r.hwmKb),
    r.idleCpuPercent.toFixed(1),
    (r.restoreMs / 1000).toFixed(1),
    r.warnings,
  ]);
  note(`${count}: done`);
}
print(table([
  "databases",
  "samples",
  "lag p50 ms",
  "p95 ms",
  "p99 ms",
  "max ms",
  "RSS idle MB",
  "RSS max MB",
  "VmHWM MB",
  "idle CPU %",
  "first restore of all s",
  "warn/error lines",
], rows));
