/**
 * realworld `--test checkpoint`: what an application's own checkpoint costs with a replicator
 * watching, and what it does to the next sync (the seed's "normal commit 0.07 ms,
 * post-checkpoint 0.08 ms, checkpoint 7 ms for a 1 MB WAL"). Per tool (none, walsync,
 * Litestream 0.5.17) and checkpoint mode, on a fresh ~100 KB database whose application has
 * `wal_autocheckpoint=0`: commits every 5 ms until the WAL holds `walKb` (normal latency),
 * then `PRAGMA wal_checkpoint(MODE)` timed (with the README's busy_timeout of 5 s, a mode that
 * must wait for readers waits up to that long), then 100 more commits (post-checkpoint
 * latency). The first of them is a marker: its lag to the replica shows the checkpoint's
 * effect on the next sync. Loss check: once the last one is in the replica, the restore holds
 * every row.
 */
import { makeDatabase, note, openApp, rowText, sleep } from "../harness.ts";
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

export type CheckpointMode = "PASSIVE" | "FULL" | "RESTART" | "TRUNCATE";
export const CHECKPOINT_MODES: CheckpointMode[] = ["PASSIVE", "FULL", "RESTART", "TRUNCATE"];

const COMMIT_GAP_MS = 5;
const POST_CHECKPOINT_COMMITS = 100;
const ARRIVAL_TIMEOUT_MS = 60_000;

export interface CheckpointResult {
  tool: string;
  mode: CheckpointMode;
  walBytesBefore: number;
  walBytesAfter: number;
  normalCommitMs: number;
  postCheckpointCommitMs: number;
  checkpointMs: number;
  /** SQLite's answer: busy (1 = could not finish), WAL frames, frames checkpointed. */
  checkpoint: { busy: number; log: number; checkpointed: number };
  /** Commit → listed in the replica, for the first commit after the checkpoint. */
  nextSyncLagMs: number | null;
  rowsWritten: number;
  rowsRestored: number | null;
  integrity: string | null;
}

function walBytes(path: string): number {
  try {
    return Deno.statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

export async function checkpointTest(
  context: RealworldContext,
  subjects: Subject[],
  options: { modes: CheckpointMode[]; walKb: number },
): Promise<CheckpointResult[]> {
  const results: CheckpointResult[] = [];
  for (const subject of [null, ...subjects]) {
    const label = subject ? TOOL_LABELS[subject.tool] : "none";
    for (const mode of options.modes) {
      const dir = Deno.makeTempDirSync({ dir: context.scratch, prefix: "checkpoint-" });
      const path = `${dir}/app.db`;
      makeDatabase(path, 100 * 1024);
      let running: Running | null = null;
      if (subject) {
        running = await startSubject(context, subject, {
          path,
          root: freshRoot(context, `checkpoint-${subject.tool}`),
        });
      }
      const app = openApp(path);
      app.exec("PRAGMA wal_autocheckpoint=0");
      const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
      const timed = (text: string) => {
        const started = performance.now();
        insert.run(text);
        return performance.now() - started;
      };
      const normal: number[] = [];
      for (let i = 0; walBytes(path) < options.walKb * 1024; i++) {
        normal.push(timed(rowText(i)));
        await sleep(COMMIT_GAP_MS);
      }
      const walBytesBefore = walBytes(path);
      const started = performance.now();
      const checkpoint = app.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as {
        busy: number;
        log: number;
        checkpointed: number;
      };
      const checkpointMs = performance.now() - started;
      const walBytesAfter = walBytes(path);
      const next = marker("checkpoint", 0);
      running?.watcher.expect(next);
      const post = [timed(next)];
      const nextCommittedAt = performance.now();
      // The last commit is a marker too: the loss check waits for it.
      const last = marker("checkpoint", POST_CHECKPOINT_COMMITS);
      running?.watcher.expect(last);
      for (let i = 1; i < POST_CHECKPOINT_COMMITS; i++) {
        await sleep(COMMIT_GAP_MS);
        post.push(timed(i === POST_CHECKPOINT_COMMITS - 1 ? last : rowText(i)));
      }
      let nextSyncLagMs: number | null = null;
      if (running && await running.watcher.waitFor([next, last], ARRIVAL_TIMEOUT_MS)) {
        nextSyncLagMs = running.watcher.foundAt(next)! - nextCommittedAt;
      }
      app.close();
      const rowsWritten = countRows(path);
      let restored = null;
      if (running) {
        restored = await restoreAndCount(running, `${dir}/restored.db`);
        await running.launched.proc.stop();
      }
      results.push({
        tool: label,
        mode,
        walBytesBefore,
        walBytesAfter,
        normalCommitMs: mean(normal),
        postCheckpointCommitMs: mean(post),
        checkpointMs,
        checkpoint: {
          busy: checkpoint.busy,
          log: checkpoint.log,
          checkpointed: checkpoint.checkpointed,
        },
        nextSyncLagMs,
        rowsWritten,
        rowsRestored: restored?.rows ?? null,
        integrity: restored?.integrity ?? null,
      });
      note(`checkpoint ${label} ${mode}: ${checkpointMs.toFixed(1)} ms, busy ${checkpoint.busy}`);
      Deno.removeSync(dir, { recursive: true });
    }
  }
  return results;
}
