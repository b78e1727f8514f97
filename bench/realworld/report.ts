/**
 * bench-realworld's markdown: one section per test in the seed's shape, each with its loss
 * check (rows written against rows restored), then the machine.
 */
import { type MachineFacts, table } from "../harness.ts";
import { type RealworldOptions } from "./args.ts";
import { type CheckpointResult } from "./checkpoint.ts";
import { type NetworkResult } from "./network.ts";
import { type RestoreResult } from "./restore.ts";
import { type SyncResult } from "./sync.ts";
import { type ThroughputResult } from "./throughput.ts";

export interface RealworldRun {
  command: string;
  options: RealworldOptions;
  machine: MachineFacts & { loadAverageEnd: number[] };
  tools: Record<string, string>;
  sync?: SyncResult[];
  restore?: RestoreResult[];
  throughput?: ThroughputResult[];
  checkpoint?: CheckpointResult[];
  network?: NetworkResult[];
  failed: { test: string; error: string }[];
  startedAt: string;
  minutes: number;
}

const ms = (value: number | null) =>
  value === null || Number.isNaN(value) ? "-" : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
const us = (valueMs: number) => `${(valueMs * 1000).toFixed(1)} µs`;
const count = (n: number) => n.toLocaleString("en-US");

/** "1,234 / 1,234 (no loss)" or the loss in bold. */
export function lossCell(
  written: number,
  restored: number | null,
  integrity: string | null,
): string {
  if (restored === null) return "-";
  const base = `${count(written)} / ${count(restored)}`;
  const check = integrity === null || integrity === "ok" ? "" : `, integrity: ${integrity}`;
  if (restored === written && check === "") return `${base} (no loss)`;
  return `**${base}${restored < written ? `, ${count(written - restored)} lost` : ""}${check}**`;
}

export function markdownReport(run: RealworldRun): string {
  const { options, machine } = run;
  const out: string[] = [
    `## Realworld: walsync and Litestream 0.5.17, ${
      options.replica === "s3" ? "S3 replica (SeaweedFS on 127.0.0.1)" : "file replica"
    }`,
    "",
    `Command: \`${run.command}\``,
    "",
    "Every tool's sync interval is " +
    `${options.syncIntervalSeconds} s. "rows written / restored": the application's rows after ` +
    "the test, and the rows in the database the tool's own `restore` produced from the replica.",
    "",
  ];
  if (run.sync) {
    out.push(
      "### Sync latency (commit → in the replica)",
      "",
      table(
        [
          "tool",
          "samples arrived",
          "p50",
          "p95",
          "mean",
          "max",
          "first snapshot after start",
          "rows written / restored",
        ],
        run.sync.map((r) => [
          r.tool,
          `${r.arrived} of ${r.samples}`,
          ms(r.p50Ms),
          ms(r.p95Ms),
          ms(r.meanMs),
          ms(r.maxMs),
          ms(r.firstSnapshotMs),
          lossCell(r.rowsWritten, r.rowsRestored, r.integrity),
        ]),
      ),
      "",
    );
  }
  if (run.restore) {
    out.push(
      "### Restore",
      "",
      table(
        [
          "DB size",
          "tool",
          "Time (ms)",
          "Throughput (MB/s)",
          "first snapshot after start",
          "rows written / restored",
        ],
        run.restore.map((r) => [
          `${(r.databaseBytes / 1e6).toFixed(1)} MB`,
          r.tool,
          count(Math.round(r.restoreMs)),
          r.mbPerSecond.toFixed(2),
          ms(r.firstSnapshotMs),
          lossCell(r.rowsWritten, r.rowsRestored, r.integrity),
        ]),
      ),
      "",
      "Time is the whole `restore` process (start-up, listing, download, verification), into a new file.",
      "",
    );
  }
  if (run.throughput) {
    out.push(
      "### Commit throughput with the replicator watching",
      "",
      table(
        [
          "replicator",
          "max commits/s",
          "avg commit latency",
          "p50",
          "p99",
          "worst",
          "WAL at end",
          "caught up after the burst",
          "rows written / restored",
        ],
        run.throughput.map((r) => [
          r.tool,
          count(Math.round(r.commitsPerSecond)),
          us(r.meanCommitMs),
          us(r.p50CommitMs),
          us(r.p99CommitMs),
          ms(r.maxCommitMs),
          `${(r.walBytesAtEnd / 1e6).toFixed(1)} MB`,
          r.tool === "none" ? "-" : ms(r.caughtUpMs),
          lossCell(r.rowsWritten, r.rowsRestored, r.integrity),
        ]),
      ),
      "",
    );
  }
  if (run.checkpoint) {
    out.push(
      "### The application's checkpoint",
      "",
      table(
        [
          "replicator",
          "mode",
          "normal commit latency",
          "post-checkpoint latency",
          "checkpoint duration",
          "WAL before → after",
          "busy / frames / checkpointed",
          "next sync lag",
          "rows written / restored",
        ],
        run.checkpoint.map((r) => [
          r.tool,
          r.mode,
          us(r.normalCommitMs),
          us(r.postCheckpointCommitMs),
          ms(r.checkpointMs),
          `${(r.walBytesBefore / 1e6).toFixed(2)} → ${(r.walBytesAfter / 1e6).toFixed(2)} MB`,
          `${r.checkpoint.busy} / ${r.checkpoint.log} / ${r.checkpoint.checkpointed}`,
          r.tool === "none" ? "-" : ms(r.nextSyncLagMs),
          lossCell(r.rowsWritten, r.rowsRestored, r.integrity),
        ]),
      ),
      "",
      "busy 1 = SQLite could not finish the checkpoint (a reader holds it back; the application " +
        "waited up to its busy_timeout of 5 s first).",
      "",
    );
  }
  if (run.network) {
    out.push(
      "### Catching up after an outage",
      "",
      table(
        [
          "scenario",
          "tool",
          "outage",
          "writes during outage",
          "catch-up time",
          "errors / warnings logged",
          "connections dropped",
          "rows written / restored",
        ],
        run.network.map((r) => [
          r.scenario === "restart" ? "replicator stopped, restarted" : "network cut (S3 proxy)",
          r.tool,
          `${r.outageSeconds} s`,
          `${r.rowsDuringOutage} rows`,
          ms(r.catchUpMs),
          `${r.logErrors} / ${r.logWarnings}`,
          r.connectionsDropped === null ? "-" : count(r.connectionsDropped),
          lossCell(r.rowsWritten, r.rowsRestored, r.integrity),
        ]),
      ),
      "",
    );
  }
  if (run.failed.length > 0) {
    out.push("### Failed", "");
    for (const f of run.failed) out.push(`- ${f.test}: ${f.error}`);
    out.push("");
  }
  out.push(
    "### Machine",
    "",
    `- CPU: ${machine.cpu}, ${machine.cores} cores, RAM ${machine.ramGiB} GiB, kernel ${machine.kernel}`,
    `- ${machine.deno}`,
    `- walsync commit ${machine.walsyncCommit}`,
    ...Object.entries(run.tools).map(([tool, how]) => `- ${tool}: ${how}`),
    `- load average at start ${machine.loadAverage.join(" ")}, at end ${
      machine.loadAverageEnd.join(" ")
    }`,
    `- started ${run.startedAt}, took ${run.minutes.toFixed(1)} min`,
  );
  return out.join("\n");
}
