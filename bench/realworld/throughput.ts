/**
 * realworld `--test throughput`: the most commits per second an application makes with the
 * replicator watching (the seed's "max commits/sec: 25,874, avg commit latency 0.04 ms").
 * The application is this process: one connection as the README tells applications to open
 * it (WAL, synchronous=NORMAL, busy_timeout), one small INSERT per transaction, as fast as it
 * can for `seconds`, beside no replicator, walsync and Litestream 0.5.17 in turn, each on a
 * fresh ~100 KB database. Then one marker row; "caught up" is the time from the end of the
 * burst until that marker is listed in the replica. Loss check: the restore holds every row.
 */
import { makeDatabase, note, openApp, percentile, rowText } from "../harness.ts";
import { TOOL_LABELS } from "../replicators.ts";
import {
  countRows,
  freshRoot,
  marker,
  type RealworldContext,
  restoreAndCount,
  type Running,
  startSubject,
  type Subject,
} from "./subject.ts";

const CATCH_UP_TIMEOUT_MS = 600_000;

export interface ThroughputResult {
  tool: string;
  commits: number;
  commitsPerSecond: number;
  meanCommitMs: number;
  p50CommitMs: number;
  p99CommitMs: number;
  maxCommitMs: number;
  walBytesAtEnd: number;
  /** End of the burst → marker listed in the replica (null: none, or it never arrived). */
  caughtUpMs: number | null;
  rowsWritten: number;
  rowsRestored: number | null;
  integrity: string | null;
}

export async function throughputTest(
  context: RealworldContext,
  subjects: Subject[],
  options: { seconds: number; dbSizeKb: number },
): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const subject of [null, ...subjects]) {
    const label = subject ? TOOL_LABELS[subject.tool] : "none";
    const dir = Deno.makeTempDirSync({ dir: context.scratch, prefix: "throughput-" });
    const path = `${dir}/app.db`;
    makeDatabase(path, options.dbSizeKb * 1024);
    let running: Running | null = null;
    if (subject) {
      running = await startSubject(context, subject, {
        path,
        root: freshRoot(context, `throughput-${subject.tool}`),
      });
    }
    const app = openApp(path);
    const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
    const latencies: number[] = [];
    const started = performance.now();
    const endAt = started + options.seconds * 1000;
    let i = 0;
    for (let now = started; now < endAt;) {
      insert.run(rowText(i++));
      const after = performance.now();
      latencies.push(after - now);
      now = after;
    }
    const elapsedMs = performance.now() - started;
    let walBytesAtEnd = 0;
    try {
      walBytesAtEnd = Deno.statSync(`${path}-wal`).size;
    } catch { /* no WAL */ }
    let caughtUpMs: number | null = null;
    let restored = null;
    if (running) {
      const last = marker("throughput", 0);
      running.watcher.expect(last);
      insert.run(last);
      const burstEnd = performance.now();
      if (await running.watcher.waitFor([last], CATCH_UP_TIMEOUT_MS)) {
        caughtUpMs = running.watcher.foundAt(last)! - burstEnd;
      } else {
        note(`throughput ${label}: the marker was not in the replica after 600 s`);
      }
    }
    app.close();
    const rowsWritten = countRows(path);
    if (running) {
      restored = await restoreAndCount(running, `${dir}/restored.db`);
      await running.launched.proc.stop();
    }
    latencies.sort((a, b) => a - b);
    results.push({
      tool: label,
      commits: latencies.length,
      commitsPerSecond: latencies.length / (elapsedMs / 1000),
      meanCommitMs: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      p50CommitMs: percentile(latencies, 50),
      p99CommitMs: percentile(latencies, 99),
      maxCommitMs: latencies[latencies.length - 1],
      walBytesAtEnd,
      caughtUpMs,
      rowsWritten,
      rowsRestored: restored?.rows ?? null,
      integrity: restored?.integrity ?? null,
    });
    note(`throughput ${label}: ${(latencies.length / (elapsedMs / 1000)).toFixed(0)} commits/s`);
    Deno.removeSync(dir, { recursive: true });
  }
  return results;
}
