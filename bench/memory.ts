/**
 * Resident memory of the replicator while it replicates N small databases.
 *
 *   deno run -A bench/memory.ts [--seconds 10] [--walsync 1,5,10,20,100,1000]
 *     [--litestream-procs 1,5,10,20] [--litestream-one 1,5,10,20,100]
 *
 * Every database is a copy of one ~100 KB WAL-mode database (as in the seed). walsync runs
 * as ONE process for all N (`watch --sync-interval 1s`, file replica); Litestream 0.5.17 runs
 * either as N processes with one database each (what the seed compared) or as one process
 * with N databases in one config (the fair comparison). After the replicator is ready, the
 * bench writes one row every 200 ms to each of min(3, N) databases for `seconds` and samples
 * /proc/<pid>/status every 200 ms. Steady RSS = median VmRSS over the second half of the
 * window; peak = VmHWM at the end (includes startup snapshots). For N processes both are sums.
 */
import {
  machineInfo,
  makeDatabase,
  median,
  note,
  openApp,
  option,
  print,
  Proc,
  procMemoryKb,
  rowText,
  scratchDir,
  sleep,
  startLitestream,
  startWalsync,
  table,
  writeLitestreamConfig,
} from "./harness.ts";

type Tool = "walsync" | "litestream-one" | "litestream-procs" | "deno-floor";
interface Result {
  tool: Tool;
  n: number;
  steadyKb: number;
  /** Median RssAnon over the same samples (private memory, no file-backed pages). */
  anonKb: number;
  peakKb: number;
  startupMs: number;
  fds: number;
  processes: number;
}

const seconds = Number(option("seconds", "10"));
const list = (name: string, fallback: string) =>
  option(name, fallback).split(",").filter(Boolean).map(Number);
const walsyncCounts = list("walsync", "1,5,10,20,100,1000");
const procCounts = list("litestream-procs", "1,5,10,20");
const oneCounts = list("litestream-one", "1,5,10,20,100");
const WRITTEN_DBS = 3;

const templateDir = scratchDir("memory-template-");
const template = `${templateDir}/template.db`;
makeDatabase(template, 100 * 1024);

function countFds(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return 0;
  }
}

async function measure(tool: Tool, n: number): Promise<Result> {
  const dir = scratchDir(`memory-${tool}-${n}-`);
  const dbs = Array.from({ length: n }, (_, i) => `${dir}/db-${String(i).padStart(4, "0")}.db`);
  for (const db of dbs) Deno.copyFileSync(template, db);
  const apps = dbs.slice(0, WRITTEN_DBS).map((db) => openApp(db));
  const inserts = apps.map((app) => app.prepare("INSERT INTO t (body) VALUES (?)"));

  const started = performance.now();
  const procs: Proc[] = [];
  if (tool === "deno-floor") {
    // The runtime alone: node:sqlite opens one of the databases, then the process sleeps.
    const script = `${dir}/floor.ts`;
    Deno.writeTextFileSync(
      script,
      `import { DatabaseSync } from "node:sqlite";\nconst db = new DatabaseSync(${
        JSON.stringify(dbs[0])
      });\ndb.exec("BEGIN; SELECT * FROM t LIMIT 1");\nconsole.error("ready");\n` +
        "await new Promise((r) => setTimeout(r, 3_600_000));\n",
    );
    const proc = new Proc(Deno.execPath(), ["run", "-A", script]);
    await proc.waitFor("ready");
    procs.push(proc);
  } else if (tool === "walsync") {
    procs.push(await startWalsync(dbs, `${dir}/replica`, ["--sync-interval", "1s"]));
  } else if (tool === "litestream-one") {
    const config = `${dir}/litestream.yml`;
    writeLitestreamConfig(
      config,
      dbs.map((path) => ({ path, replicaDir: `${dir}/replica/${path.split("/").pop()}` })),
    );
    procs.push(await startLitestream(config, n));
  } else {
    for (const [i, path] of dbs.entries()) {
      const config = `${dir}/litestream-${i}.yml`;
      writeLitestreamConfig(config, [{ path, replicaDir: `${dir}/replica/${i}` }]);
      procs.push(await startLitestream(config, 1));
    }
  }
  const startupMs = performance.now() - started;

  const samples: { at: number; rssKb: number; anonKb: number }[] = [];
  const end = performance.now() + seconds * 1000;
  let row = 0;
  while (performance.now() < end) {
    for (const insert of inserts) insert.run(rowText(row++));
    let rssKb = 0;
    let anonKb = 0;
    for (const proc of procs) {
      const memory = procMemoryKb(proc.pid);
      rssKb += memory.rssKb;
      anonKb += memory.anonKb;
    }
    samples.push({ at: performance.now(), rssKb, anonKb });
    await sleep(200);
  }
  const half = end - (seconds * 1000) / 2;
  const late = samples.filter((s) => s.at >= half);
  const steadyKb = median(late.map((s) => s.rssKb));
  const anonKb = median(late.map((s) => s.anonKb));
  let peakKb = 0;
  let fds = 0;
  for (const proc of procs) {
    peakKb += procMemoryKb(proc.pid).hwmKb;
    fds += countFds(proc.pid);
  }
  for (const app of apps) app.close();
  for (const proc of procs) {
    const code = await proc.stop();
    if (code !== 0 && tool !== "deno-floor") {
      throw new Error(`${tool} exited with ${code}:\n${proc.tail()}`);
    }
  }
  Deno.removeSync(dir, { recursive: true });
  return { tool, n, steadyKb, anonKb, peakKb, startupMs, fds, processes: procs.length };
}

/**
 * What one node:sqlite connection with a pinned read transaction costs, the floor of
 * walsync's per-database memory: RssAnon of a fresh Deno process before and after opening
 * `n` of them.
 */
async function sqliteConnectionKb(n: number): Promise<number> {
  const dir = scratchDir("memory-connections-");
  for (let i = 0; i < n; i++) Deno.copyFileSync(template, `${dir}/${i}.db`);
  const script = `${dir}/connections.ts`;
  Deno.writeTextFileSync(
    script,
    `import { DatabaseSync } from "node:sqlite";
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]);
const keep = [];
const before = anon();
for (let i = 0; i < ${n}; i++) {
  const db = new DatabaseSync(${JSON.stringify(dir)} + "/" + i + ".db");
  db.exec("PRAGMA wal_autocheckpoint=0; BEGIN");
  db.prepare("SELECT count(*) FROM sqlite_schema").get();
  keep.push(db);
}
console.log((anon() - before) / ${n});
`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "piped",
    stderr: "null",
  }).output();
  Deno.removeSync(dir, { recursive: true });
  return Number(new TextDecoder().decode(out.stdout).trim());
}

const results: Result[] = [];
const plan: [Tool, number[]][] = [
  ["deno-floor", [1]],
  ["walsync", walsyncCounts],
  ["litestream-one", oneCounts],
  ["litestream-procs", procCounts],
];
for (const [tool, counts] of plan) {
  for (const n of counts) {
    const result = await measure(tool, n);
    note(
      `${tool} N=${n}: steady ${(result.steadyKb / 1024).toFixed(1)} MB, peak ${
        (result.peakKb / 1024).toFixed(1)
      } MB`,
    );
    results.push(result);
  }
}
const connectionKb = await sqliteConnectionKb(1000);
Deno.removeSync(templateDir, { recursive: true });

const mb = (kb: number | undefined) => kb === undefined ? "-" : `${(kb / 1024).toFixed(1)} MB`;
const find = (tool: Tool, n: number) => results.find((r) => r.tool === tool && r.n === n);

print("## Memory (RSS of the replicator, N databases of ~100 KB, file replica)");
print();
print(
  `Command: \`deno run -A bench/memory.ts --seconds ${seconds} --walsync ${walsyncCounts} --litestream-procs ${procCounts} --litestream-one ${oneCounts}\` (ulimit -n ${
    new TextDecoder().decode(
      new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" }).outputSync().stdout,
    ).trim()
  })`,
);
print();
print(machineInfo());
print();
print("### Side by side (seed's table: Litestream as N processes)");
print();
const counts = [...new Set(results.filter((r) => r.tool !== "deno-floor").map((r) => r.n))].sort((
  a,
  b,
) => a - b);
print(
  table(
    [
      "DBs",
      "walsync steady / peak (1 process)",
      "Litestream N processes steady / peak",
      "Litestream 1 process steady / peak",
      "walsync ÷ Litestream 1 process (steady)",
    ],
    counts.map((n) => {
      const w = find("walsync", n);
      const p = find("litestream-procs", n);
      const o = find("litestream-one", n);
      return [
        n,
        w ? `${mb(w.steadyKb)} / ${mb(w.peakKb)}` : "-",
        p ? `${mb(p.steadyKb)} / ${mb(p.peakKb)}` : "-",
        o ? `${mb(o.steadyKb)} / ${mb(o.peakKb)}` : "-",
        w && o ? (w.steadyKb / o.steadyKb).toFixed(2) : "-",
      ];
    }),
  ),
);
print();
print("### Per configuration");
print();
print(
  table(
    [
      "tool",
      "DBs",
      "processes",
      "steady RSS",
      "steady RssAnon",
      "peak RSS (VmHWM)",
      "startup until ready",
      "open fds",
    ],
    results.map((r) => [
      r.tool === "deno-floor" ? "deno floor (node:sqlite, 1 open db, idle)" : r.tool,
      r.n,
      r.processes,
      mb(r.steadyKb),
      mb(r.anonKb),
      mb(r.peakKb),
      `${(r.startupMs / 1000).toFixed(1)} s`,
      r.fds,
    ]),
  ),
);
print();
print("### RSS per idle database: (RSS(N2) − RSS(N1)) / (N2 − N1), steady values");
print();
const slopes: (string | number)[][] = [];
for (const tool of ["walsync", "litestream-one", "litestream-procs"] as Tool[]) {
  const rs = results.filter((r) => r.tool === tool).sort((a, b) => a.n - b.n);
  for (let i = 1; i < rs.length; i++) {
    const a = rs[i - 1];
    const b = rs[i];
    if (b.n - a.n < 5) continue;
    slopes.push([
      tool,
      `${a.n} → ${b.n}`,
      `${((b.steadyKb - a.steadyKb) / (b.n - a.n)).toFixed(0)} KB`,
      `${((b.anonKb - a.anonKb) / (b.n - a.n)).toFixed(0)} KB`,
    ]);
  }
}
print(table(["tool", "N1 → N2", "VmRSS per extra database", "RssAnon per extra database"], slopes));
print();
print(
  `For reference, one node:sqlite connection holding a read transaction costs ${
    connectionKb.toFixed(1)
  } KB of RssAnon (1000 opened in a fresh Deno process): walsync keeps one per database.`,
);
print();
print(
  `Writes: one INSERT every 200 ms into each of min(${WRITTEN_DBS}, N) databases during the ${seconds} s window; the rest are idle.`,
);
