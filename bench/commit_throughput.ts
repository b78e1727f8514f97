/**
 * Application commit throughput with and without a replicator running beside it.
 *
 *   deno run -A bench/commit_throughput.ts [--seconds 5] [--cycles 4] [--synchronous NORMAL]
 *     [--autocheckpoint default|N] [--rate 0]
 *
 * Rounds alternate none / walsync / litestream / none / ... (one cycle = one round of each),
 * each on a fresh database and replica directory. The application is this process (one
 * node:sqlite connection, busy_timeout 5000, WAL, one small INSERT per transaction, as fast
 * as it can); walsync (`watch --sync-interval 1s`) and Litestream 0.5 (sync-interval 1s,
 * the default) run as separate processes. After each walsync round the replica is restored
 * and its row count compared with what the application committed. `--rate N` paces the
 * application at N commits/s instead of as fast as it can (then latency is what matters).
 */
import {
  machineInfo,
  makeDatabase,
  median,
  MOD_PATH,
  note,
  openApp,
  option,
  percentile,
  print,
  type Proc,
  procCpuSeconds,
  rowText,
  scratchDir,
  sleep,
  startLitestream,
  startWalsync,
  table,
  writeLitestreamConfig,
} from "./harness.ts";
import { DatabaseSync } from "node:sqlite";

type Mode = "none" | "walsync" | "litestream";
const MODES: Mode[] = ["none", "walsync", "litestream"];

const seconds = Number(option("seconds", "5"));
const cycles = Number(option("cycles", "4"));
const synchronous = option("synchronous", "NORMAL");
/** The application's `PRAGMA wal_autocheckpoint`; "default" leaves SQLite's 1000 pages. */
const autocheckpoint = option("autocheckpoint", "default");
/** Target commits/s; 0 = as fast as possible. */
const rate = Number(option("rate", "0"));

interface Round {
  mode: Mode;
  commits: number;
  perSecond: number;
  p50Us: number;
  p99Us: number;
  maxMs: number;
  busyErrors: number;
  replicaCheck: string;
  /** CPU seconds the replicator used per second of the timed window. */
  replicatorCpu: number;
  walBytes: number;
}

async function runRound(mode: Mode, index: number): Promise<Round> {
  const dir = scratchDir(`commit-${mode}-`);
  const dbPath = `${dir}/app.db`;
  const replicaDir = `${dir}/replica`;
  makeDatabase(dbPath, 100 * 1024);
  const app = openApp(dbPath, synchronous);
  if (autocheckpoint !== "default") app.exec(`PRAGMA wal_autocheckpoint=${Number(autocheckpoint)}`);
  const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
  const baseRows = (app.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n;

  let proc: Proc | null = null;
  if (mode === "walsync") {
    proc = await startWalsync([dbPath], replicaDir, ["--sync-interval", "1s"]);
  } else if (mode === "litestream") {
    writeLitestreamConfig(`${dir}/litestream.yml`, [{ path: dbPath, replicaDir }]);
    proc = await startLitestream(`${dir}/litestream.yml`, 1);
    await proc.waitFor("snapshot complete", 30_000);
  }
  await sleep(500); // let startup work (first snapshot) finish before timing

  const cpuBefore = proc ? procCpuSeconds(proc.pid) : 0;
  const latencies = new Float64Array(2_000_000);
  let commits = 0;
  let busyErrors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    if (rate > 0 && commits >= ((now - start) / 1000) * rate) {
      await sleep(1); // ahead of schedule
      now = performance.now();
      continue;
    }
    const before = now;
    try {
      insert.run(rowText(index * 10_000_000 + commits));
      now = performance.now();
      if (commits < latencies.length) latencies[commits] = now - before;
      commits++;
    } catch (error) {
      busyErrors++;
      now = performance.now();
      if (busyErrors > 1000) throw error;
    }
  }
  const elapsed = (now - start) / 1000;
  const replicatorCpu = proc ? (procCpuSeconds(proc.pid) - cpuBefore) / elapsed : 0;
  const walBytes = Deno.statSync(`${dbPath}-wal`).size;
  const rows = (app.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n;
  app.close();

  let replicaCheck = "-";
  if (proc) {
    const code = await proc.stop();
    if (code !== 0) throw new Error(`${mode} exited with ${code}:\n${proc.tail()}`);
  }
  if (mode === "walsync") {
    const out = `${dir}/restored.db`;
    const restore = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MOD_PATH, "restore", "app.db", "-o", out, "-b", `file://${replicaDir}`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!restore.success) throw new Error(new TextDecoder().decode(restore.stderr));
    const restored = new DatabaseSync(out, { readOnly: true });
    const n = (restored.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n;
    restored.close();
    replicaCheck = n === rows ? "all rows" : `MISMATCH ${n} of ${rows}`;
  }
  Deno.removeSync(dir, { recursive: true });
  const sorted = Array.from(latencies.subarray(0, Math.min(commits, latencies.length))).sort(
    (a, b) => a - b,
  );
  if (rows - baseRows !== commits) throw new Error(`committed ${commits}, table grew ${rows}`);
  return {
    mode,
    commits,
    perSecond: commits / elapsed,
    p50Us: percentile(sorted, 50) * 1000,
    p99Us: percentile(sorted, 99) * 1000,
    maxMs: sorted[sorted.length - 1],
    busyErrors,
    replicaCheck,
    replicatorCpu,
    walBytes,
  };
}

const rounds: Round[] = [];
for (let cycle = 0; cycle < cycles; cycle++) {
  for (const mode of MODES) {
    const round = await runRound(mode, rounds.length);
    note(
      `cycle ${cycle + 1} ${mode}: ${Math.round(round.perSecond)} commits/s, replicator ${
        round.replicatorCpu.toFixed(2)
      } cores, WAL ${round.walBytes} B`,
    );
    rounds.push(round);
  }
}

const byMode = (mode: Mode) => rounds.filter((r) => r.mode === mode);
const noneRate = median(byMode("none").map((r) => r.perSecond));
// Per-cycle ratio: each replicated round against the unreplicated round of its own cycle.
const cycleRatios = (mode: Mode) =>
  byMode(mode).map((r, i) => r.perSecond / byMode("none")[i].perSecond);

print(
  `## Commit throughput (application commits/s, one INSERT per transaction, ${
    rate > 0 ? `paced at ${rate}/s` : "as fast as possible"
  })`,
);
print();
print(
  `Command: \`deno run -A bench/commit_throughput.ts --seconds ${seconds} --cycles ${cycles} --synchronous ${synchronous} --autocheckpoint ${autocheckpoint} --rate ${rate}\``,
);
print();
print(machineInfo());
print();
print(
  table(
    [
      "replicator",
      "commits/s (median of rounds)",
      "rounds (commits/s)",
      "ratio vs none (median of per-cycle ratios)",
      "per-cycle ratios",
      "commit p50",
      "commit p99",
      "worst commit",
      "busy errors",
      "replicator CPU (cores)",
      "WAL at end (max)",
      "replica check",
    ],
    MODES.map((mode) => {
      const rs = byMode(mode);
      const ratios = mode === "none" ? [] : cycleRatios(mode);
      return [
        mode === "none"
          ? "none"
          : mode === "walsync"
          ? "walsync watch --sync-interval 1s"
          : "litestream 0.5.17 (sync-interval 1s)",
        Math.round(median(rs.map((r) => r.perSecond))).toLocaleString("en-US"),
        rs.map((r) => Math.round(r.perSecond)).join(", "),
        mode === "none" ? "1.00" : median(ratios).toFixed(3),
        ratios.map((r) => r.toFixed(2)).join(", ") || "-",
        `${median(rs.map((r) => r.p50Us)).toFixed(1)} µs`,
        `${median(rs.map((r) => r.p99Us)).toFixed(1)} µs`,
        `${Math.max(...rs.map((r) => r.maxMs)).toFixed(1)} ms`,
        rs.reduce((n, r) => n + r.busyErrors, 0),
        mode === "none" ? "-" : median(rs.map((r) => r.replicatorCpu)).toFixed(2),
        `${(Math.max(...rs.map((r) => r.walBytes)) / 1048576).toFixed(1)} MB`,
        rs.map((r) => r.replicaCheck).join(", "),
      ];
    }),
  ),
);
print();
print(
  `Each round: ${seconds} s on a fresh ~100 KB database, synchronous=${synchronous}, ` +
    `application wal_autocheckpoint ${
      autocheckpoint === "default" ? "left at SQLite's default (1000 pages)" : autocheckpoint
    }. Unreplicated median ${Math.round(noneRate)} commits/s.`,
);
