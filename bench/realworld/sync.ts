/**
 * realworld `--test sync`: how long a commit takes to reach the replica (the seed's "time to
 * snapshot a database to Tigris", reported there as the commit → S3 latency of a ~100 KB
 * database). One marker row is committed at random gaps of 100–1000 ms, so that commits fall
 * at every phase of the tools' 1 s sync interval; lag = the first listing that shows an LTX
 * file holding the marker − the moment its commit returned. Also reported: launch → first
 * snapshot listed. Loss check: after the last marker arrived, the replica restored by the
 * tool's own `restore` holds every row.
 */
import { makeDatabase, note, openApp, percentile, sleep } from "../harness.ts";
import { TOOL_LABELS } from "../replicators.ts";
import {
  countRows,
  freshRoot,
  marker,
  type RealworldContext,
  restoreAndCount,
  startSubject,
  type Subject,
} from "./subject.ts";

const STRAGGLER_TIMEOUT_MS = 60_000;

export interface SyncResult {
  tool: string;
  samples: number;
  arrived: number;
  p50Ms: number;
  p95Ms: number;
  meanMs: number;
  maxMs: number;
  firstSnapshotMs: number;
  rowsWritten: number;
  rowsRestored: number;
  integrity: string;
}

export async function syncTest(
  context: RealworldContext,
  subjects: Subject[],
  options: { samples: number; dbSizeKb: number },
): Promise<SyncResult[]> {
  const results: SyncResult[] = [];
  for (const subject of subjects) {
    const dir = Deno.makeTempDirSync({ dir: context.scratch, prefix: "sync-" });
    const path = `${dir}/app.db`;
    makeDatabase(path, options.dbSizeKb * 1024);
    const running = await startSubject(context, subject, {
      path,
      root: freshRoot(context, `sync-${subject.tool}`),
    });
    const app = openApp(path);
    const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
    const committedAt = new Map<string, number>();
    // The watcher polls while markers are committed, so each is seen as soon as it is listed.
    let committing = true;
    const polling = (async () => {
      while (committing) {
        await running.watcher.poll();
        await sleep(5);
      }
    })();
    for (let i = 0; i < options.samples; i++) {
      await sleep(100 + Math.random() * 900);
      const text = marker("sync", i);
      running.watcher.expect(text);
      insert.run(text);
      committedAt.set(text, performance.now());
    }
    committing = false;
    await polling;
    await running.watcher.waitFor([...committedAt.keys()], STRAGGLER_TIMEOUT_MS);
    app.close();
    const lags = [...committedAt].flatMap(([text, at]) => {
      const seen = running.watcher.foundAt(text);
      return seen === undefined ? [] : [seen - at];
    }).sort((a, b) => a - b);
    const rowsWritten = countRows(path);
    const restored = await restoreAndCount(running, `${dir}/restored.db`);
    const code = await running.launched.proc.stop();
    if (code !== 0) note(`${subject.tool} exited ${code}: ${running.launched.proc.tail(3)}`);
    results.push({
      tool: TOOL_LABELS[subject.tool],
      samples: options.samples,
      arrived: lags.length,
      p50Ms: percentile(lags, 50),
      p95Ms: percentile(lags, 95),
      meanMs: lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length),
      maxMs: lags[lags.length - 1] ?? NaN,
      firstSnapshotMs: running.firstSnapshotMs,
      rowsWritten,
      rowsRestored: restored.rows,
      integrity: restored.integrity,
    });
    note(`sync ${subject.tool}: p50 ${percentile(lags, 50).toFixed(0)} ms`);
    Deno.removeSync(dir, { recursive: true });
  }
  return results;
}
