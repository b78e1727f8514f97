/**
 * realworld `--test network`: catching up after an outage (the seed: "stop walsync, write for
 * 5 seconds, restart and measure catchup time"; 49 rows written during the outage, catch-up
 * ~5 s, no loss). Two scenarios per tool, each on a fresh ~100 KB database, the application
 * writing 10 rows per second (one per transaction) for `outageSeconds`:
 *
 * - restart (the seed's): the replicator is stopped with SIGTERM, the application writes,
 *   the replicator is started again; catch-up = start → the last row written during the
 *   outage listed in the replica;
 * - outage (S3 only): the replicator keeps running while a fault proxy between it and the S3
 *   server drops every connection; catch-up = network back → the last row listed in the
 *   replica (read from the server directly, not through the proxy).
 *
 * Loss check: after catch-up, the restore holds every row the application committed.
 */
import { makeDatabase, note, openApp, rowText, sleep } from "../harness.ts";
import { launch, logProblems, TOOL_LABELS } from "../replicators.ts";
import { FaultProxy } from "./fault_proxy.ts";
import {
  countRows,
  freshRoot,
  marker,
  type RealworldContext,
  restoreAndCount,
  startSubject,
  type Subject,
} from "./subject.ts";

const ROWS_PER_SECOND = 10;
const CATCH_UP_TIMEOUT_MS = 300_000;

export type NetworkScenario = "restart" | "outage";

export interface NetworkResult {
  scenario: NetworkScenario;
  tool: string;
  outageSeconds: number;
  rowsDuringOutage: number;
  /** Replicator (or network) back → last outage row listed in the replica. */
  catchUpMs: number | null;
  /** Error and warning lines the replicator logged over the whole run. */
  logErrors: number;
  logWarnings: number;
  /** Outage: connections the proxy dropped while down (shows the tool kept trying). */
  connectionsDropped: number | null;
  rowsWritten: number;
  rowsRestored: number;
  integrity: string;
}

export async function networkTest(
  context: RealworldContext,
  subjects: Subject[],
  options: { outageSeconds: number },
): Promise<NetworkResult[]> {
  const scenarios: NetworkScenario[] = context.s3 ? ["restart", "outage"] : ["restart"];
  const results: NetworkResult[] = [];
  for (const scenario of scenarios) {
    for (const subject of subjects) {
      const dir = Deno.makeTempDirSync({ dir: context.scratch, prefix: `network-${scenario}-` });
      const path = `${dir}/app.db`;
      makeDatabase(path, 100 * 1024);
      const proxy = scenario === "outage" && context.s3
        ? FaultProxy.start(Number(new URL(context.s3.server.endpoint).port))
        : null;
      let running = await startSubject(context, subject, {
        path,
        root: freshRoot(context, `network-${subject.tool}`),
        endpoint: proxy?.endpoint,
      });
      const lines: string[] = [];
      const app = openApp(path);
      const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
      await sleep(1000);

      if (scenario === "restart") {
        await running.launched.proc.stop();
        lines.push(...running.launched.proc.lines);
      } else {
        proxy!.down = true;
      }
      const rows = Math.round(options.outageSeconds * ROWS_PER_SECOND);
      let last = "";
      for (let i = 0; i < rows; i++) {
        await sleep(1000 / ROWS_PER_SECOND);
        if (i === rows - 1) {
          last = marker("network", i);
          running.watcher.expect(last);
          insert.run(last);
        } else {
          insert.run(rowText(i));
        }
      }
      const backAt = performance.now();
      if (scenario === "restart") {
        const launched = launch({
          tool: subject.tool,
          command: subject.command,
          databases: [running.database],
          root: running.root,
          configDir: context.scratch,
          syncIntervalSeconds: context.syncIntervalSeconds,
          fdLimit: context.fdLimit,
        });
        running = { ...running, launched };
      } else {
        proxy!.down = false;
      }
      let catchUpMs: number | null = null;
      if (await running.watcher.waitFor([last], CATCH_UP_TIMEOUT_MS)) {
        catchUpMs = running.watcher.foundAt(last)! - backAt;
      } else {
        note(`network ${scenario} ${subject.tool}: the last row never reached the replica`);
      }
      app.close();
      const rowsWritten = countRows(path);
      const restored = await restoreAndCount(running, `${dir}/restored.db`);
      await running.launched.proc.stop();
      await proxy?.close();
      lines.push(...running.launched.proc.lines);
      const problems = logProblems(subject.tool, lines);
      results.push({
        scenario,
        tool: TOOL_LABELS[subject.tool],
        outageSeconds: options.outageSeconds,
        rowsDuringOutage: rows,
        catchUpMs,
        logErrors: problems.errors,
        logWarnings: problems.warnings,
        connectionsDropped: proxy ? proxy.dropped : null,
        rowsWritten,
        rowsRestored: restored.rows,
        integrity: restored.integrity,
      });
      note(`network ${scenario} ${subject.tool}: caught up after ${catchUpMs?.toFixed(0)} ms`);
      Deno.removeSync(dir, { recursive: true });
    }
  }
  return results;
}
