/**
 * Commit → durable-in-replica lag.
 *
 *   deno run -A bench/replication_lag.ts [--samples 100] [--poll-ms 2]
 *
 * For each configuration (walsync --sync-interval 1s, walsync --sync-interval 0, Litestream
 * 0.5.17 with its defaults: monitor and sync interval 1s) on a fresh ~100 KB database: this
 * process commits one marker row at random gaps of 50–300 ms and polls the replica's level-0
 * directory every `poll-ms`. Each new `<min>-<max>.ltx` file is decoded (walsync's own LTX
 * decoder, which reads both tools' files) and every marker found in its pages for the first
 * time gets lag = time the file was first seen − time its commit returned. Both tools write
 * replica files as temp + rename, so a visible name means a complete, fsynced file.
 */
import { LtxDecoder } from "../src/ltx/ltx_decoder.ts";
import {
  machineInfo,
  makeDatabase,
  note,
  openApp,
  option,
  percentile,
  print,
  type Proc,
  scratchDir,
  sleep,
  startLitestream,
  startWalsync,
  table,
  writeLitestreamConfig,
} from "./harness.ts";
import { parseLtxFilename } from "../src/ltx/ltx_header.ts";

interface Config {
  label: string;
  tool: "walsync" | "litestream";
  syncInterval: string;
}
const CONFIGS: Config[] = [
  { label: "walsync --sync-interval 1s", tool: "walsync", syncInterval: "1s" },
  { label: "walsync --sync-interval 0", tool: "walsync", syncInterval: "0" },
  { label: "litestream 0.5.17 (sync-interval 1s)", tool: "litestream", syncInterval: "1s" },
];

const samples = Number(option("samples", "100"));
const pollMs = Number(option("poll-ms", "2"));
const latin1 = new TextDecoder("latin1");

async function measure(
  config: Config,
): Promise<{ lagsMs: number[]; files: number; toStagedMs: number[] }> {
  const dir = scratchDir(`lag-${config.tool}-`);
  const dbPath = `${dir}/app.db`;
  makeDatabase(dbPath, 100 * 1024);
  const app = openApp(dbPath);
  const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
  let proc: Proc;
  let level0: string;
  if (config.tool === "walsync") {
    proc = await startWalsync([dbPath], `${dir}/replica`, [
      "--sync-interval",
      config.syncInterval,
      "--log-level",
      "debug",
    ]);
    level0 = `${dir}/replica/app.db/ltx/0`;
  } else {
    writeLitestreamConfig(`${dir}/litestream.yml`, [{
      path: dbPath,
      replicaDir: `${dir}/replica`,
    }]);
    proc = await startLitestream(`${dir}/litestream.yml`, 1);
    await proc.waitFor("snapshot complete", 30_000);
    level0 = `${dir}/replica/ltx/0`;
  }
  await sleep(1500);

  const seen = new Set<string>();
  for (const entry of Deno.readDirSync(level0)) seen.add(entry.name);
  /** Marker text → commit time, for markers not yet found in the replica. */
  const outstanding = new Map<string, number>();
  const committedWall = new Map<string, number>();
  const lagsMs: number[] = [];
  /** Wall-clock commit time and the TXID of the file that first held each marker. */
  const found: { committedWall: number; txid: number }[] = [];
  let files = 0;
  let committing = true;
  let lastCommitAt = performance.now();
  const page = new Uint8Array(65536);

  const scan = async (name: string, seenAt: number): Promise<boolean> => {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(`${level0}/${name}`);
    } catch {
      return false; // compacted away already
    }
    const decoder = LtxDecoder.fromBytes(bytes);
    const header = await decoder.readHeader();
    const buffer = page.subarray(0, header.pageSize);
    while (await decoder.readPage(buffer) !== null) {
      const text = latin1.decode(buffer);
      for (const [marker, committedAt] of outstanding) {
        if (text.includes(marker)) {
          lagsMs.push(seenAt - committedAt);
          found.push({ committedWall: committedWall.get(marker)!, txid: header.maxTxid });
          outstanding.delete(marker);
        }
      }
    }
    return true;
  };

  const poller = (async () => {
    while (committing || outstanding.size > 0) {
      const seenAt = performance.now();
      for (const entry of Deno.readDirSync(level0)) {
        if (seen.has(entry.name) || !parseLtxFilename(entry.name)) continue;
        seen.add(entry.name);
        files++;
        await scan(entry.name, seenAt);
      }
      if (!committing && performance.now() - lastCommitAt > 30_000) break; // give up on stragglers
      await sleep(pollMs);
    }
  })();

  for (let i = 0; i < samples; i++) {
    await sleep(50 + Math.random() * 250);
    const marker = `LAGMARK-${i.toString().padStart(5, "0")}-${crypto.randomUUID()}`;
    insert.run(marker);
    lastCommitAt = performance.now();
    outstanding.set(marker, lastCommitAt);
    committedWall.set(marker, Date.now());
  }
  committing = false;
  await poller;
  const missing = outstanding.size;
  app.close();
  const code = await proc.stop();
  if (code !== 0) throw new Error(`${config.tool} exited with ${code}:\n${proc.tail()}`);
  Deno.removeSync(dir, { recursive: true });
  if (missing > 0) note(`${config.label}: ${missing} markers never seen in level 0 within 30 s`);
  // walsync logs "staged" (written to its local staging folder) per TXID: split the lag.
  const stagedAt = new Map<number, number>();
  for (const line of proc.lines) {
    if (!line.includes('"msg":"staged"')) continue;
    const entry = JSON.parse(line) as { time: string; txid: number };
    stagedAt.set(entry.txid, Date.parse(entry.time));
  }
  const toStagedMs = found.filter((f) => stagedAt.has(f.txid)).map((f) =>
    stagedAt.get(f.txid)! - f.committedWall
  );
  return { lagsMs, files, toStagedMs };
}

const rows: (string | number)[][] = [];
for (const config of CONFIGS) {
  const { lagsMs, files, toStagedMs } = await measure(config);
  const staged = [...toStagedMs].sort((a, b) => a - b);
  const sorted = [...lagsMs].sort((a, b) => a - b);
  note(`${config.label}: ${lagsMs.length} samples, p50 ${percentile(sorted, 50).toFixed(1)} ms`);
  const ms = (p: number) => percentile(sorted, p).toFixed(0);
  rows.push([
    config.label,
    `${lagsMs.length}/${samples}`,
    ms(50),
    ms(95),
    ms(99),
    sorted.length ? sorted[0].toFixed(0) : "-",
    sorted.length ? sorted[sorted.length - 1].toFixed(0) : "-",
    files,
    staged.length
      ? `${percentile(staged, 50).toFixed(0)} / ${percentile(staged, 95).toFixed(0)} / ${
        percentile(staged, 99).toFixed(0)
      }`
      : "-",
  ]);
}

print("## Replication lag (commit returned → level-0 LTX file containing it visible)");
print();
print(`Command: \`deno run -A bench/replication_lag.ts --samples ${samples} --poll-ms ${pollMs}\``);
print();
print(machineInfo());
print();
print(
  table(
    [
      "configuration",
      "samples",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "min ms",
      "max ms",
      "L0 files",
      "commit → staged p50/p95/p99 ms (walsync log, 1 ms clock)",
    ],
    rows,
  ),
);
print();
print(
  `One marker commit every 50–300 ms (uniform), file replica on local disk, directory polled every ${pollMs} ms.`,
);
