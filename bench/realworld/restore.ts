/**
 * realworld `--test restore`: restore time and throughput by database size (the seed's
 * 1.2 / 12 / 120 MB table, measured there against Tigris). Per size and tool: a database of
 * about that size is replicated from scratch, then gets a few increments (the last one a
 * marker row); once the marker is listed in the replica, the tool's own `restore` runs as a
 * whole process (start-up included) into a new file. Throughput = restored file size ÷ time.
 * Loss check: the restored database has every row and passes `PRAGMA integrity_check`.
 */
import { makeDatabase, note, openApp, rowText, sleep } from "../harness.ts";
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

const INCREMENTS = 3;
const ROWS_PER_INCREMENT = 200;
const ARRIVAL_TIMEOUT_MS = 300_000;

export interface RestoreResult {
  sizeMb: number;
  tool: string;
  databaseBytes: number;
  restoreMs: number;
  mbPerSecond: number;
  firstSnapshotMs: number;
  rowsWritten: number;
  rowsRestored: number;
  integrity: string;
}

export async function restoreTest(
  context: RealworldContext,
  subjects: Subject[],
  options: { sizesMb: number[] },
): Promise<RestoreResult[]> {
  const results: RestoreResult[] = [];
  for (const sizeMb of options.sizesMb) {
    const dir = Deno.makeTempDirSync({ dir: context.scratch, prefix: `restore-${sizeMb}-` });
    note(`restore: building a ${sizeMb} MB database`);
    makeDatabase(`${dir}/template.db`, sizeMb * 1e6);
    for (const subject of subjects) {
      const path = `${dir}/app.db`;
      Deno.copyFileSync(`${dir}/template.db`, path);
      const running = await startSubject(context, subject, {
        path,
        root: freshRoot(context, `restore-${subject.tool}`),
      });
      const app = openApp(path);
      const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
      let last = "";
      for (let k = 0; k < INCREMENTS; k++) {
        await sleep(context.syncIntervalSeconds * 1000 + 300); // one sync per increment
        last = marker("restore", k);
        running.watcher.expect(last);
        app.exec("BEGIN");
        for (let i = 0; i < ROWS_PER_INCREMENT; i++) insert.run(rowText(i));
        insert.run(last);
        app.exec("COMMIT");
      }
      app.close();
      if (!await running.watcher.waitFor([last], ARRIVAL_TIMEOUT_MS)) {
        note(`restore ${subject.tool}: the last increment was not in the replica after 300 s`);
      }
      const rowsWritten = countRows(path);
      const restored = await restoreAndCount(running, `${dir}/restored.db`);
      await running.launched.proc.stop();
      Deno.removeSync(`${dir}/restored.db`);
      for (const suffix of ["", "-wal", "-shm"]) {
        try {
          Deno.removeSync(`${path}${suffix}`);
        } catch { /* not there */ }
      }
      results.push({
        sizeMb,
        tool: TOOL_LABELS[subject.tool],
        databaseBytes: restored.sizeBytes,
        restoreMs: restored.ms,
        mbPerSecond: restored.sizeBytes / 1e6 / (restored.ms / 1000),
        firstSnapshotMs: running.firstSnapshotMs,
        rowsWritten,
        rowsRestored: restored.rows,
        integrity: restored.integrity,
      });
      note(`restore ${sizeMb} MB ${subject.tool}: ${restored.ms.toFixed(0)} ms`);
    }
    Deno.removeSync(dir, { recursive: true });
  }
  return results;
}
