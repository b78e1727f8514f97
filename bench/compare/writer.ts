/**
 * The application of `bench/compare.ts`, as its own process so that its SQLite connections,
 * CPU and memory are not the benchmark's: it commits one small INSERT per transaction to each
 * database named in a file (one path per line), `rate` commits per second each, spread evenly
 * over the second. On SIGTERM it stops and prints, as JSON on stdout, the rows it committed
 * and the last id per database (what a restore must bring back).
 *
 *   deno run -A bench/compare/writer.ts RATE PATHS_FILE
 */
import { openApp, rowText, sleep } from "../harness.ts";

export interface WriterResult {
  path: string;
  rows: number;
  lastId: number;
  errors: number;
  firstError?: string;
}

/** What the writer prints on stdout when it stops. */
export interface WriterReport {
  databases: WriterResult[];
  seconds: number;
  /** Commits that started more than one interval after their slot (the writer fell behind). */
  lateCommits: number;
}

if (import.meta.main) {
  const rate = Number(Deno.args[0]);
  const paths = Deno.readTextFileSync(Deno.args[1]).split("\n").filter((p) => p !== "");
  const apps = paths.map((path) => {
    const app = openApp(path);
    return { path, app, insert: app.prepare("INSERT INTO t (body) VALUES (?)") };
  });
  const results: WriterResult[] = paths.map((path) => ({ path, rows: 0, lastId: 0, errors: 0 }));
  let stopping = false;
  Deno.addSignalListener("SIGTERM", () => stopping = true);
  Deno.stderr.writeSync(new TextEncoder().encode("ready\n"));

  const intervalMs = 1000 / (rate * apps.length);
  const started = performance.now();
  let lateCommits = 0;
  for (let i = 0; !stopping; i++) {
    const slot = started + i * intervalMs;
    const wait = slot - performance.now();
    if (wait > 0) await sleep(wait);
    else if (-wait > intervalMs) lateCommits++;
    if (stopping) break;
    const k = i % apps.length;
    try {
      const { lastInsertRowid } = apps[k].insert.run(rowText(i));
      results[k].rows++;
      results[k].lastId = Number(lastInsertRowid);
    } catch (error) {
      results[k].errors++;
      results[k].firstError ??= String(error);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  for (const { app } of apps) app.close();
  const report: WriterReport = { databases: results, seconds, lateCommits };
  Deno.stdout.writeSync(new TextEncoder().encode(`${JSON.stringify(report)}\n`));
}
