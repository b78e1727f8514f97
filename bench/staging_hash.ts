/**
 * How staging hashes its objects, before and after a change: RSS and CPU of a `watch` over N
 * databases while a writer commits to every one of them, and the time to stage one batch.
 *
 *   deno run -A bench/staging_hash.ts --baseline REV [--dbs 10,100] [--repeats 3]
 *     [--seconds 20] [--rows 20] [--sizes 4,40,400,4000,16000] [--batches 20]
 *
 * "before" is walsync at git revision REV (exported with `git archive` into a scratch
 * directory), "after" is this checkout. Each round runs both variants in turn, the order
 * alternating from round to round, so load on the shared machine hits both alike.
 *
 * watch: N copies of a ~100 KB WAL-mode database, `watch --sync-interval 1s` with a file
 * replica. Once it is ready, the bench commits one transaction of `rows` rows (~100 bytes
 * each) to every database each second for `seconds`. CPU = user + system seconds of the
 * walsync process over that window; steady RSS and RssAnon = medians of /proc samples taken
 * every 200 ms in the second half; peak = VmHWM at the end (startup included).
 *
 * staging: `Staging.stage` of both versions, imported into this process, on objects of
 * `sizes` KB produced in 4 KB chunks (as the LTX encoder hands out pages), `batches` per size
 * and variant per round, on the scratch disk (fsync included, what the daemon pays) and on
 * /dev/shm (fsync nearly free, so the hash shows).
 */
import {
  machineInfo,
  makeDatabase,
  median,
  note,
  openApp,
  option,
  print,
  procCpuSeconds,
  procMemoryKb,
  rowText,
  scratchDir,
  sleep,
  startWalsync,
  table,
} from "./harness.ts";

const baselineRev = option("baseline", "");
if (!baselineRev) throw new Error("--baseline REV is required (the revision to compare with)");
const dbCounts = option("dbs", "10,100").split(",").map(Number);
const repeats = Number(option("repeats", "3"));
const seconds = Number(option("seconds", "20"));
const rows = Number(option("rows", "20"));
const sizesKb = option("sizes", "4,40,400,4000,16000").split(",").map(Number);
const batches = Number(option("batches", "20"));

type Variant = "before" | "after";
const repo = new URL("..", import.meta.url).pathname;
const baselineDir = scratchDir("staging-hash-baseline-");
exportRevision(baselineRev, baselineDir);
const MOD: Record<Variant, string> = {
  before: `${baselineDir}/mod.ts`,
  after: `${repo}mod.ts`,
};

// Compile both once before measuring: a first run from a new path also transpiles, and the
// transpiler's memory would count against whichever variant ran first.
for (const mod of Object.values(MOD)) {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", mod, "version"],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

function exportRevision(rev: string, dir: string): void {
  const out = new Deno.Command("sh", {
    args: ["-c", 'git -C "$1" archive "$2" | tar -x -C "$3"', "sh", repo, rev, dir],
    stderr: "piped",
  }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** Variants in the order of round `round`: before/after, then after/before, and so on. */
function order(round: number): Variant[] {
  return round % 2 === 0 ? ["before", "after"] : ["after", "before"];
}

interface WatchResult {
  cpuSeconds: number;
  steadyKb: number;
  anonKb: number;
  peakKb: number;
  commits: number;
}

const templateDir = scratchDir("staging-hash-template-");
const template = `${templateDir}/template.db`;
makeDatabase(template, 100 * 1024);

async function measureWatch(variant: Variant, n: number): Promise<WatchResult> {
  const dir = scratchDir(`staging-hash-${variant}-${n}-`);
  const dbs = Array.from({ length: n }, (_, i) => `${dir}/db-${String(i).padStart(4, "0")}.db`);
  for (const db of dbs) Deno.copyFileSync(template, db);
  const apps = dbs.map((db) => openApp(db));
  const inserts = apps.map((app) => app.prepare("INSERT INTO t (body) VALUES (?)"));
  const proc = await startWalsync(dbs, `${dir}/replica`, ["--sync-interval", "1s"], {
    modPath: MOD[variant],
  });
  const samples: { at: number; rssKb: number; anonKb: number }[] = [];
  const cpuStart = procCpuSeconds(proc.pid);
  const start = performance.now();
  const end = start + seconds * 1000;
  let commits = 0;
  let nextCommitAt = start;
  let row = 0;
  while (performance.now() < end) {
    if (performance.now() >= nextCommitAt) {
      for (const [i, app] of apps.entries()) {
        app.exec("BEGIN");
        for (let r = 0; r < rows; r++) inserts[i].run(rowText(row++));
        app.exec("COMMIT");
        commits++;
      }
      nextCommitAt += 1000;
    }
    const memory = procMemoryKb(proc.pid);
    samples.push({ at: performance.now(), rssKb: memory.rssKb, anonKb: memory.anonKb });
    await sleep(200);
  }
  const cpuSeconds = procCpuSeconds(proc.pid) - cpuStart;
  const late = samples.filter((s) => s.at >= start + (seconds * 1000) / 2);
  const peakKb = procMemoryKb(proc.pid).hwmKb;
  for (const app of apps) app.close();
  const code = await proc.stop();
  if (code !== 0) throw new Error(`${variant} walsync exited with ${code}:\n${proc.tail()}`);
  Deno.removeSync(dir, { recursive: true });
  return {
    cpuSeconds,
    steadyKb: median(late.map((s) => s.rssKb)),
    anonKb: median(late.map((s) => s.anonKb)),
    peakKb,
    commits,
  };
}

interface StagingLike {
  stage(
    key: { level: number; minTxid: number; maxTxid: number },
    info: { databaseChecksum: bigint; createdAt: Date },
    produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
  ): Promise<{ path: string; sha256: string }>;
  remove(file: { path: string }): Promise<void>;
  close(): void;
}
interface StagingModule {
  Staging: { open(dir: string, dbPath: string): Promise<StagingLike> };
}

const stagingModules: Record<Variant, StagingModule> = {
  before: await import(`${baselineDir}/src/replicate/staging.ts`),
  after: await import(`${repo}src/replicate/staging.ts`),
};

/** Per-batch milliseconds of staging `sizeKb` KB objects, `batches` times. */
async function measureStaging(variant: Variant, base: string, sizeKb: number): Promise<number[]> {
  const dir = Deno.makeTempDirSync({ dir: base, prefix: `staging-hash-${variant}-` });
  const staging = await stagingModules[variant].Staging.open(`${dir}/staging`, `${dir}/app.db`);
  const chunk = new Uint8Array(4096 + 6);
  crypto.getRandomValues(chunk);
  const chunks = Math.ceil((sizeKb * 1024) / chunk.length);
  const times: number[] = [];
  try {
    for (let txid = 1; txid <= batches; txid++) {
      const started = performance.now();
      const staged = await staging.stage(
        { level: 0, minTxid: txid, maxTxid: txid },
        { databaseChecksum: 1n, createdAt: new Date() },
        async (write) => {
          for (let i = 0; i < chunks; i++) await write(chunk);
        },
      );
      times.push(performance.now() - started);
      await staging.remove(staged);
    }
  } finally {
    staging.close();
    Deno.removeSync(dir, { recursive: true });
  }
  return times;
}

const watchResults = new Map<string, WatchResult[]>();
const stagingResults = new Map<string, number[]>();
const add = <T>(map: Map<string, T[]>, key: string, value: T) =>
  map.set(key, [...(map.get(key) ?? []), value]);
const places: [string, string][] = [["disk", Deno.env.get("BENCH_TMP") ?? "/tmp"]];
try {
  if (Deno.statSync("/dev/shm").isDirectory) places.push(["tmpfs", "/dev/shm"]);
} catch { /* no tmpfs */ }

for (let round = 0; round < repeats; round++) {
  for (const n of dbCounts) {
    for (const variant of order(round)) {
      note(`round ${round + 1}/${repeats}: watch ${variant}, ${n} databases`);
      add(watchResults, `${n}/${variant}`, await measureWatch(variant, n));
    }
  }
  for (const [place, base] of places) {
    for (const sizeKb of sizesKb) {
      for (const variant of order(round)) {
        note(`round ${round + 1}/${repeats}: stage ${sizeKb} KB on ${place}, ${variant}`);
        const times = await measureStaging(variant, base, sizeKb);
        add(stagingResults, `${place}/${sizeKb}/${variant}`, median(times));
      }
    }
  }
}
Deno.removeSync(templateDir, { recursive: true });
Deno.removeSync(baselineDir, { recursive: true });

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
const list = (values: number[], format: (v: number) => string) => values.map(format).join(", ");
const ratio = (after: number, before: number) => (after / before).toFixed(2);

print("## Staging hash: before and after");
print();
print(
  `Command: \`deno run -A bench/staging_hash.ts --baseline ${baselineRev} --dbs ${dbCounts} --repeats ${repeats} --seconds ${seconds} --rows ${rows} --sizes ${sizesKb} --batches ${batches}\``,
);
print();
print(machineInfo());
print(`- before: walsync at \`${baselineRev}\`; after: this checkout`);
print();
print(
  `### watch, one commit of ${rows} rows (~${
    Math.round(rows * 0.1)
  } KB) per database per second, ${seconds} s`,
);
print();
print(
  table(
    [
      "DBs",
      "variant",
      "CPU s (median; runs)",
      "steady RSS (median; runs)",
      "steady RssAnon (median)",
      "peak RSS (median)",
      "commits",
    ],
    dbCounts.flatMap((n) =>
      (["before", "after"] as Variant[]).map((variant) => {
        const rs = watchResults.get(`${n}/${variant}`)!;
        return [
          n,
          variant,
          `${median(rs.map((r) => r.cpuSeconds)).toFixed(2)}; ${
            list(rs.map((r) => r.cpuSeconds), (v) => v.toFixed(2))
          }`,
          `${mb(median(rs.map((r) => r.steadyKb)))}; ${list(rs.map((r) => r.steadyKb), mb)}`,
          mb(median(rs.map((r) => r.anonKb))),
          mb(median(rs.map((r) => r.peakKb))),
          median(rs.map((r) => r.commits)),
        ];
      })
    ),
  ),
);
print();
print("after ÷ before (medians):");
print();
print(
  table(
    ["DBs", "CPU", "steady RSS", "steady RssAnon", "peak RSS"],
    dbCounts.map((n) => {
      const m = (variant: Variant, field: keyof WatchResult) =>
        median(watchResults.get(`${n}/${variant}`)!.map((r) => r[field]));
      return [
        n,
        ratio(m("after", "cpuSeconds"), m("before", "cpuSeconds")),
        ratio(m("after", "steadyKb"), m("before", "steadyKb")),
        ratio(m("after", "anonKb"), m("before", "anonKb")),
        ratio(m("after", "peakKb"), m("before", "peakKb")),
      ];
    }),
  ),
);
print();
print(`### Staging one batch (\`Staging.stage\`, median of ${batches} per round)`);
print();
const ms = (v: number) => `${v.toFixed(2)} ms`;
print(
  table(
    ["where", "object", "before (rounds)", "after (rounds)", "after ÷ before (medians)"],
    places.flatMap(([place]) =>
      sizesKb.map((sizeKb) => {
        const before = stagingResults.get(`${place}/${sizeKb}/before`)!;
        const after = stagingResults.get(`${place}/${sizeKb}/after`)!;
        return [
          place,
          `${sizeKb} KB`,
          list(before, ms),
          list(after, ms),
          ratio(median(after), median(before)),
        ];
      })
    ),
  ),
);
