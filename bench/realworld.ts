/**
 * `deno task bench-realworld`: the seed's realworld suite (`bench/realworld.py`) for walsync
 * and Litestream 0.5.17: sync latency, restore throughput, commit throughput, the
 * application's checkpoint, and catching up after an outage, each ending in a loss check
 * (rows written = rows restored). Options: `deno task bench-realworld --help`.
 */
import { UsageError } from "../src/errors.ts";
import { type BenchS3, startBenchS3 } from "./bench_s3.ts";
import { loadAverage, machineFacts, note, print, scratchDir } from "./harness.ts";
import { findLitestream05, privateCopy } from "./peers.ts";
import { ownFdLimits } from "./proc_stats.ts";
import { walsyncCommand } from "./replicators.ts";
import {
  parseRealworldArgs,
  REALWORLD_HELP,
  type RealworldOptions,
  type RealworldTest,
} from "./realworld/args.ts";
import { checkpointTest } from "./realworld/checkpoint.ts";
import { networkTest } from "./realworld/network.ts";
import { markdownReport, type RealworldRun } from "./realworld/report.ts";
import { restoreTest } from "./realworld/restore.ts";
import { type RealworldContext, type Subject } from "./realworld/subject.ts";
import { syncTest } from "./realworld/sync.ts";
import { throughputTest } from "./realworld/throughput.ts";

function parseOrExit(args: string[]): RealworldOptions {
  try {
    return parseRealworldArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    Deno.stderr.writeSync(new TextEncoder().encode(`bench-realworld: ${error.message}\n`));
    Deno.exit(2);
  }
}

async function main(): Promise<void> {
  const options = parseOrExit(Deno.args);
  if (options.help) {
    print(REALWORLD_HELP);
    return;
  }
  const started = Date.now();
  const machine = machineFacts();
  const scratch = scratchDir("realworld-");
  Deno.mkdirSync(`${scratch}/bin`);
  const subjects: Subject[] = [];
  const tools: Record<string, string> = {};
  const failed: RealworldRun["failed"] = [];
  if (options.tools.includes("walsync")) {
    subjects.push({
      tool: "walsync",
      command: options.walsyncBin
        ? [privateCopy(options.walsyncBin, `${scratch}/bin`, "walsync")]
        : walsyncCommand(privateCopy(Deno.execPath(), `${scratch}/bin`, "deno")),
    });
    tools.walsync = options.walsyncBin ?? "deno run -A mod.ts from this checkout";
  }
  if (options.tools.includes("litestream-0.5")) {
    const lookup = findLitestream05({ install: options.install });
    if (lookup.found) {
      subjects.push({
        tool: "litestream-0.5.17",
        command: [privateCopy(lookup.peer.binary, `${scratch}/bin`, "litestream")],
      });
      tools["Litestream 0.5.17"] = lookup.peer.binary;
    } else {
      note(`Litestream 0.5.17: ${lookup.reason}`);
      failed.push({ test: "Litestream 0.5.17", error: lookup.reason });
    }
  }

  let s3: BenchS3 | null = null;
  const run: RealworldRun = {
    command: `deno task bench-realworld ${Deno.args.join(" ")}`.trim(),
    options,
    machine: { ...machine, loadAverageEnd: [] },
    tools,
    failed,
    startedAt: new Date(started).toISOString(),
    minutes: 0,
  };
  try {
    if (options.replica === "s3") {
      note("starting SeaweedFS on 127.0.0.1");
      s3 = await startBenchS3();
    }
    const hardFds = ownFdLimits().hardFds;
    const context: RealworldContext = {
      scratch,
      s3,
      syncIntervalSeconds: options.syncIntervalSeconds,
      fdLimit: Number.isFinite(hardFds) ? hardFds : 1_048_576,
    };
    const tests: Record<RealworldTest, () => Promise<void>> = {
      sync: async () => {
        run.sync = await syncTest(context, subjects, options);
      },
      restore: async () => {
        run.restore = await restoreTest(context, subjects, options);
      },
      throughput: async () => {
        run.throughput = await throughputTest(context, subjects, options);
      },
      checkpoint: async () => {
        run.checkpoint = await checkpointTest(context, subjects, {
          modes: options.checkpointModes,
          walKb: options.walKb,
        });
      },
      network: async () => {
        run.network = await networkTest(context, subjects, options);
      },
    };
    for (const test of options.tests) {
      note(`test ${test}`);
      try {
        await tests[test]();
      } catch (error) {
        note(`${test} failed: ${(error as Error).stack ?? error}`);
        failed.push({ test, error: (error as Error).message });
      }
    }
    run.machine.loadAverageEnd = loadAverage();
    run.minutes = (Date.now() - started) / 60_000;
    print(options.json ? JSON.stringify(run, null, 2) : markdownReport(run));
  } finally {
    await s3?.stop();
    Deno.removeSync(scratch, { recursive: true });
  }
}

await main();
