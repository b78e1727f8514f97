/**
 * One cell of `bench-compare`: one variant (tool × process model) over N databases. It makes
 * N copies of a template database, starts the tool, waits until it says it replicates them,
 * starts the writer, samples the tool's process tree for the window, stops the writer, waits
 * `settle`, then checks the replica itself: how many databases have a restorable file, and,
 * by restoring each written database with the tool's own `restore` while the tool still runs,
 * whether the last committed row arrived. Only then is the tool stopped.
 */
import { DatabaseSync } from "node:sqlite";
import { type BenchS3 } from "../bench_s3.ts";
import { note, Proc, procMemoryKb, sleep } from "../harness.ts";
import {
  countFds,
  cpuTicksBetween,
  processTree,
  sampleProcesses,
  type TreeSample,
} from "../proc_stats.ts";
import { countReplicated, listFileReplica, replicaCensus } from "../replica_census.ts";
import {
  type Database,
  launch,
  type Launched,
  logProblems,
  type ReplicaRoot,
  subRoot,
  type ToolId,
} from "../replicators.ts";
import { type CompareOptions, type VariantId, writtenCount } from "./args.ts";
import { type WriterReport } from "./writer.ts";

const WRITER_PATH = new URL("./writer.ts", import.meta.url).pathname;
/** Restores run two at a time: the machine has two cores and the tool is still running. */
const RESTORE_CONCURRENCY = 2;
const MAX_EXAMPLES = 3;

export interface Variant {
  id: VariantId;
  tool: ToolId;
  perDatabase: boolean;
  /** The command that runs the tool (a private copy of its executable first). */
  command: string[];
}

export interface MeasureContext {
  options: CompareOptions;
  /** A WAL-mode database of the requested size, copied for every database of every run. */
  templatePath: string;
  templateRows: number;
  scratch: string;
  s3: BenchS3 | null;
  /** The soft fd limit each tool starts with. */
  fdLimit: number;
  clockTicksPerSecond: number;
}

export interface VariantResult {
  variant: VariantId;
  tool: ToolId;
  perDatabase: boolean;
  dbCount: number;
  /** Databases the writer committed to. */
  written: number;
  processes: number;
  /** Processes still running when the window ended. */
  aliveAtEnd: number;
  /** Databases the tool said it replicates before the window (walsync: "watching"). */
  readyDatabases: number;
  /** Start until every database was reported ready (null: some never were). */
  startupSeconds: number | null;
  /** Databases in the replica when the window started. */
  replicatedBeforeWindow: number;
  /** Start until every database was in the replica (null: not within --catch-up). */
  allReplicatedSeconds: number | null;
  /** Medians over the second half of the window, summed over the process tree, KiB. */
  rssKb: number;
  pssKb: number;
  pssAnonKb: number;
  /** Sum of VmHWM at the end of the window (includes start-up snapshots), KiB. */
  peakRssKb: number;
  /** utime + stime over the window, % of one core. */
  cpuPercent: number;
  fds: number;
  /** Databases with a restorable file in the replica (read from the replica). */
  replicated: number;
  /** Written databases whose restore holds exactly the rows the writer committed. */
  lastWriteArrived: number;
  lastWriteChecked: number;
  lossExamples: string[];
  writerCommits: number;
  writerErrors: number;
  logErrors: number;
  logWarnings: number;
  tooManyOpenFiles: number;
  errorExamples: string[];
  /** Exit codes after SIGTERM (non-zero ones say the tool failed or crashed). */
  exitCodes: number[];
  windowSeconds: number;
}

function databasePaths(dir: string, count: number): Database[] {
  const width = Math.max(5, String(count - 1).length);
  return Array.from({ length: count }, (_, i) => {
    const name = `db-${String(i).padStart(width, "0")}.db`;
    return { path: `${dir}/${name}`, name };
  });
}

/** Replica keys of a run, relative to its root (first segment = database name). */
async function listReplica(root: ReplicaRoot): Promise<string[]> {
  return root.kind === "file" ? listFileReplica(root.dir) : await root.s3.list(root.prefix);
}

async function waitReady(
  launched: Launched[],
  total: number,
  timeoutSeconds: number,
): Promise<{ ready: number; seconds: number; all: boolean }> {
  const started = performance.now();
  const exited = new Set<Launched>();
  for (const l of launched) l.proc.done.then(() => exited.add(l));
  while (true) {
    const ready = launched.reduce((sum, l) => sum + l.readyCount(), 0);
    const seconds = (performance.now() - started) / 1000;
    if (ready >= total) return { ready, seconds, all: true };
    // Done starting (walsync's "watching" names only the databases it could open), or gone.
    const waiting = launched.filter((l) => !exited.has(l) && !l.started());
    if (waiting.length === 0 || seconds > timeoutSeconds) return { ready, seconds, all: false };
    await sleep(100);
  }
}

/**
 * Polls the replica until every database is in it, all processes ended, or the timeout;
 * seconds are counted from `sinceMs` (the launch).
 */
async function waitReplicated(
  root: ReplicaRoot,
  databases: Database[],
  launched: Launched[],
  options: { sinceMs: number; timeoutSeconds: number },
): Promise<{ replicated: number; seconds: number | null }> {
  const names = databases.map((d) => d.name);
  const exited = new Set<Launched>();
  for (const l of launched) l.proc.done.then(() => exited.add(l));
  const deadline = performance.now() + options.timeoutSeconds * 1000;
  while (true) {
    const listStarted = performance.now();
    const replicated = countReplicated(replicaCensus(await listReplica(root)), names);
    const now = performance.now();
    if (replicated === names.length) {
      return { replicated, seconds: (now - options.sinceMs) / 1000 };
    }
    if (now > deadline || exited.size === launched.length) return { replicated, seconds: null };
    // Listing 5,000 databases' files takes a while: poll no more than half the time.
    await sleep(Math.max(500, 2 * (now - listStarted)));
  }
}

async function startWriter(paths: string[], ratePerSecond: number, dir: string): Promise<Proc> {
  const list = `${dir}/written.txt`;
  Deno.writeTextFileSync(list, `${paths.join("\n")}\n`);
  const writer = new Proc(Deno.execPath(), ["run", "-A", WRITER_PATH, String(ratePerSecond), list]);
  await writer.waitFor("ready", 600_000);
  return writer;
}

async function stopWriter(writer: Proc): Promise<WriterReport> {
  await writer.stop();
  const line = writer.lines.find((l) => l.startsWith("{"));
  if (!line) throw new Error(`The writer printed no report:\n${writer.tail()}`);
  return JSON.parse(line) as WriterReport;
}

/** Restores each written database and compares it with what the writer committed. */
async function checkLastWrites(
  written: { database: Database; launched: Launched; rows: number; lastId: number }[],
  templateRows: number,
  dir: string,
): Promise<{ arrived: number; examples: string[] }> {
  Deno.mkdirSync(`${dir}/restored`, { recursive: true });
  let arrived = 0;
  const examples: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < written.length) {
      const { database, launched, rows, lastId } = written[next++];
      const output = `${dir}/restored/${database.name}`;
      let problem: string | null = null;
      // A restore may race a compaction that removes a file it listed: try again once.
      for (let attempt = 1; attempt <= 2; attempt++) {
        try {
          Deno.removeSync(output);
        } catch { /* not there */ }
        try {
          await launched.restore(database, output);
          const db = new DatabaseSync(output, { readOnly: true });
          const got = db.prepare("SELECT count(*) AS n, max(id) AS last FROM t").get() as {
            n: number;
            last: number;
          };
          db.close();
          problem = got.last === lastId && got.n === templateRows + rows
            ? null
            : `"${database.name}": restored ${got.n} rows up to id ${got.last}, committed ${
              templateRows + rows
            } up to id ${lastId}`;
          break;
        } catch (error) {
          problem = `"${database.name}": ${(error as Error).message}`;
        }
      }
      for (const suffix of ["", "-wal", "-shm"]) {
        try {
          Deno.removeSync(`${output}${suffix}`);
        } catch { /* not there */ }
      }
      if (problem === null) arrived++;
      else if (examples.length < MAX_EXAMPLES) examples.push(problem);
    }
  };
  await Promise.all(Array.from({ length: RESTORE_CONCURRENCY }, worker));
  return { arrived, examples };
}

/** Runs one variant over `dbCount` databases. */
export async function measureVariant(
  variant: Variant,
  dbCount: number,
  context: MeasureContext,
): Promise<VariantResult> {
  const { options } = context;
  const dir = Deno.makeTempDirSync({ dir: context.scratch, prefix: `${variant.id}-${dbCount}-` });
  const databases = databasePaths(`${dir}/dbs`, dbCount);
  Deno.mkdirSync(`${dir}/dbs`);
  for (const database of databases) Deno.copyFileSync(context.templatePath, database.path);
  const root: ReplicaRoot = context.s3
    ? { kind: "s3", s3: context.s3, prefix: `compare/${dir.split("/").pop()}` }
    : { kind: "file", dir: `${dir}/replica` };

  const groups = variant.perDatabase ? databases.map((d) => [d]) : [databases];
  const launched: Launched[] = [];
  let writer: Proc | null = null;
  const launchedAt = performance.now();
  try {
    for (const group of groups) {
      launched.push(launch({
        tool: variant.tool,
        command: variant.command,
        databases: group,
        root: variant.perDatabase && variant.tool === "walsync"
          ? subRoot(root, group[0].name)
          : root,
        configDir: dir,
        syncIntervalSeconds: options.syncIntervalSeconds,
        fdLimit: context.fdLimit,
      }));
    }
    const ready = await waitReady(launched, dbCount, options.startupTimeoutSeconds);
    note(
      `${variant.id} N=${dbCount}: ${ready.ready} of ${dbCount} ready after ${
        ready.seconds.toFixed(1)
      } s`,
    );
    // Measure the steady state, not the start-up snapshots: first let every database reach
    // the replica (or --catch-up pass).
    const initial = await waitReplicated(root, databases, launched, {
      sinceMs: launchedAt,
      timeoutSeconds: options.catchUpSeconds,
    });
    note(
      `${variant.id} N=${dbCount}: ${initial.replicated} of ${dbCount} in the replica${
        initial.seconds === null ? "" : ` after ${initial.seconds.toFixed(1)} s`
      }`,
    );

    const writtenDbs = databases.slice(0, writtenCount(options, dbCount));
    if (writtenDbs.length > 0) {
      writer = await startWriter(writtenDbs.map((d) => d.path), options.ratePerSecond, dir);
    }

    if (options.warmupSeconds > 0) await sleep(options.warmupSeconds * 1000);

    // The window: sample the tool's process tree.
    const roots = launched.map((l) => l.proc.pid);
    let pids = processTree(roots);
    const first: TreeSample = sampleProcesses(pids);
    const started = performance.now();
    const endAt = started + options.durationSeconds * 1000;
    const samples: { at: number; sample: TreeSample }[] = [];
    while (performance.now() < endAt) {
      await sleep(Math.min(options.sampleMs, Math.max(0, endAt - performance.now())));
      pids = processTree(roots);
      samples.push({ at: performance.now(), sample: sampleProcesses(pids) });
    }
    const last = samples.length > 0 ? samples[samples.length - 1].sample : first;
    const windowSeconds = (performance.now() - started) / 1000;
    const cpuSeconds = cpuTicksBetween(first, last) / context.clockTicksPerSecond;
    const fds = pids.reduce((sum, pid) => sum + countFds(pid), 0);
    const peakRssKb = pids.reduce((sum, pid) => sum + procMemoryKb(pid).hwmKb, 0);
    const half = started + (windowSeconds * 1000) / 2;
    const late = samples.filter((s) => s.at >= half).map((s) => s.sample);
    const median = (pick: (s: TreeSample) => number) => {
      const values = late.map(pick).sort((a, b) => a - b);
      return values.length ? values[Math.floor((values.length - 1) / 2)] : 0;
    };

    const report = writer ? await stopWriter(writer) : null;
    writer = null;
    await sleep(options.settleSeconds * 1000);

    const census = replicaCensus(await listReplica(root));
    const replicated = countReplicated(census, databases.map((d) => d.name));
    const byPath = new Map(report?.databases.map((r) => [r.path, r]) ?? []);
    const toCheck = writtenDbs.map((database) => {
      const committed = byPath.get(database.path);
      const owner = launched.find((l) => l.databases.includes(database))!;
      return {
        database,
        launched: owner,
        rows: committed?.rows ?? 0,
        lastId: committed?.lastId ?? 0,
      };
    });
    const checked = await checkLastWrites(toCheck, context.templateRows, dir);

    const aliveAtEnd = last.processes;
    const exitCodes: number[] = [];
    for (const l of launched) exitCodes.push(await l.proc.stop());
    const problems = launched.map((l) => logProblems(variant.tool, l.proc.lines));
    const examples = [...new Set(problems.flatMap((p) => p.examples))].slice(0, MAX_EXAMPLES);
    return {
      variant: variant.id,
      tool: variant.tool,
      perDatabase: variant.perDatabase,
      dbCount,
      written: writtenDbs.length,
      processes: launched.length,
      aliveAtEnd,
      readyDatabases: ready.ready,
      startupSeconds: ready.all ? ready.seconds : null,
      replicatedBeforeWindow: initial.replicated,
      allReplicatedSeconds: initial.seconds,
      rssKb: median((s) => s.rssKb),
      pssKb: median((s) => s.pssKb),
      pssAnonKb: median((s) => s.pssAnonKb),
      peakRssKb,
      cpuPercent: (cpuSeconds / windowSeconds) * 100,
      fds,
      replicated,
      lastWriteArrived: checked.arrived,
      lastWriteChecked: toCheck.length,
      lossExamples: checked.examples,
      writerCommits: report?.databases.reduce((sum, r) => sum + r.rows, 0) ?? 0,
      writerErrors: report?.databases.reduce((sum, r) => sum + r.errors, 0) ?? 0,
      logErrors: problems.reduce((sum, p) => sum + p.errors, 0),
      logWarnings: problems.reduce((sum, p) => sum + p.warnings, 0),
      tooManyOpenFiles: problems.reduce((sum, p) => sum + p.tooManyOpenFiles, 0),
      errorExamples: examples,
      exitCodes,
      windowSeconds,
    };
  } finally {
    if (writer) await writer.stop();
    for (const l of launched) await l.proc.stop(5_000);
    Deno.removeSync(dir, { recursive: true });
  }
}
