/**
 * `deno task bench-compare`: walsync against Litestream 0.5.17 and 0.3.13, each as one process
 * for all databases and as one process per database (the seed's `bench/compare.py`, made
 * honest: PSS beside RSS, and for every tool how many databases actually reached the replica).
 * Options: `deno task bench-compare --help` (bench/compare/args.ts). Linux only (/proc).
 */
import { DatabaseSync } from "node:sqlite";
import { UsageError } from "../src/errors.ts";
import { type BenchS3, startBenchS3 } from "./bench_s3.ts";
import { loadAverage, machineFacts, makeDatabase, note, print, scratchDir } from "./harness.ts";
import { findLitestream03, findLitestream05, litestreamVersion, privateCopy } from "./peers.ts";
import { clockTicksPerSecond, ownFdLimits } from "./proc_stats.ts";
import { type ToolId, WALSYNC_V8_FLAGS, walsyncCommand } from "./replicators.ts";
import {
  COMPARE_HELP,
  type CompareOptions,
  parseCompareArgs,
  type VariantId,
} from "./compare/args.ts";
import { measureVariant } from "./compare/measure.ts";
import { type CompareRun, markdownReport } from "./compare/report.ts";

/** For an "unlimited" hard limit: what the tools get (the kernel's usual nr_open). */
const UNLIMITED_FD_FALLBACK = 1_048_576;

const VARIANT_TOOLS: Record<VariantId, { tool: ToolId; perDatabase: boolean }> = {
  walsync: { tool: "walsync", perDatabase: false },
  "walsync-per-db": { tool: "walsync", perDatabase: true },
  "litestream-0.5": { tool: "litestream-0.5.17", perDatabase: false },
  "litestream-0.5-per-db": { tool: "litestream-0.5.17", perDatabase: true },
  "litestream-0.3": { tool: "litestream-0.3.13", perDatabase: false },
  "litestream-0.3-per-db": { tool: "litestream-0.3.13", perDatabase: true },
};

function parseOrExit(args: string[]): CompareOptions {
  try {
    return parseCompareArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    Deno.stderr.writeSync(new TextEncoder().encode(`bench-compare: ${error.message}\n`));
    Deno.exit(2);
  }
}

function memAvailableGiB(): number {
  const kb = Number(/MemAvailable:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1]);
  return Number((kb / 1024 / 1024).toFixed(1));
}

async function main(): Promise<void> {
  const options = parseOrExit(Deno.args);
  if (options.help) {
    print(COMPARE_HELP);
    return;
  }
  if (Deno.build.os !== "linux") {
    throw new Error(`bench-compare reads /proc and runs on Linux only, not "${Deno.build.os}"`);
  }
  const started = Date.now();
  const machine = machineFacts();
  const memoryAtStart = memAvailableGiB();
  const fdLimits = ownFdLimits();
  const toolFdLimit = Number.isFinite(fdLimits.hardFds) ? fdLimits.hardFds : UNLIMITED_FD_FALLBACK;
  const notRun: CompareRun["notRun"] = [];

  // The peers each selected variant needs; a missing one skips its variants, saying why.
  const wanted = new Set(options.variants.map((v) => VARIANT_TOOLS[v].tool));
  const peers = {
    "litestream-0.5.17": wanted.has("litestream-0.5.17")
      ? findLitestream05({ install: options.install })
      : null,
    "litestream-0.3.13": wanted.has("litestream-0.3.13")
      ? findLitestream03({ install: options.install })
      : null,
  };
  const scratch = scratchDir("compare-");
  Deno.mkdirSync(`${scratch}/bin`);
  const commands: Partial<Record<ToolId, string[]>> = {};
  const toolNames: CompareRun["tools"] = {
    walsync: options.walsyncBin
      ? `compiled: ${options.walsyncBin}`
      : `deno run -A ${
        options.plainV8 ? "" : `--v8-flags=${WALSYNC_V8_FLAGS} `
      }mod.ts from this checkout`,
    "litestream-0.5.17": null,
    "litestream-0.3.13": null,
  };
  if (wanted.has("walsync")) {
    commands.walsync = options.walsyncBin
      ? [privateCopy(options.walsyncBin, `${scratch}/bin`, "walsync")]
      : walsyncCommand(privateCopy(Deno.execPath(), `${scratch}/bin`, "deno"), {
        plainV8: options.plainV8,
      });
  }
  for (const id of ["litestream-0.5.17", "litestream-0.3.13"] as const) {
    const lookup = peers[id];
    if (lookup === null) continue;
    if (lookup.found) {
      commands[id] = [privateCopy(lookup.peer.binary, `${scratch}/bin`, id)];
      toolNames[id] = `v${litestreamVersion(lookup.peer.binary)} (${lookup.peer.binary})`;
    } else {
      note(`${id}: ${lookup.reason}`);
      for (const variant of options.variants) {
        if (VARIANT_TOOLS[variant].tool === id) {
          notRun.push({ variant, dbCount: null, reason: lookup.reason });
        }
      }
    }
  }

  let s3: BenchS3 | null = null;
  try {
    if (options.replica === "s3") {
      note("starting SeaweedFS on 127.0.0.1");
      s3 = await startBenchS3();
    }
    const templatePath = `${scratch}/template.db`;
    makeDatabase(templatePath, options.dbSizeKb * 1024);
    const template = new DatabaseSync(templatePath, { readOnly: true });
    const templateRows = (template.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n;
    template.close();

    const results = [];
    for (const dbCount of options.dbCounts) {
      for (const id of options.variants) {
        const { tool, perDatabase } = VARIANT_TOOLS[id];
        const command = commands[tool];
        if (!command) continue; // its peer is missing: listed in notRun once
        if (perDatabase && dbCount > options.maxProcesses) {
          notRun.push({
            variant: id,
            dbCount,
            reason: `${dbCount} processes is above --max-processes ${options.maxProcesses}`,
          });
          continue;
        }
        note(`${id}: ${dbCount} databases`);
        try {
          const result = await measureVariant(
            { id, tool, perDatabase, command },
            dbCount,
            {
              options,
              templatePath,
              templateRows,
              scratch,
              s3,
              fdLimit: toolFdLimit,
              clockTicksPerSecond: clockTicksPerSecond(),
            },
          );
          note(
            `${id} N=${dbCount}: PSS ${(result.pssKb / 1024).toFixed(1)} MB, RSS ${
              (result.rssKb / 1024).toFixed(1)
            } MB, CPU ${
              result.cpuPercent.toFixed(1)
            }%, replicated ${result.replicated} of ${dbCount}, last write ${result.lastWriteArrived} of ${result.lastWriteChecked}`,
          );
          results.push(result);
        } catch (error) {
          note(`${id} N=${dbCount} failed: ${(error as Error).stack ?? error}`);
          notRun.push({
            variant: id,
            dbCount,
            reason: `the run failed: ${(error as Error).message}`,
          });
        }
      }
    }

    const run: CompareRun = {
      command: `deno task bench-compare ${Deno.args.join(" ")}`.trim(),
      options,
      machine: {
        ...machine,
        loadAverageEnd: loadAverage(),
        fdLimitSoft: fdLimits.softFds,
        fdLimitHard: fdLimits.hardFds,
        toolFdLimit,
        memAvailableGiB: memoryAtStart,
      },
      tools: toolNames,
      results,
      notRun,
      startedAt: new Date(started).toISOString(),
      minutes: (Date.now() - started) / 60_000,
    };
    print(options.json ? JSON.stringify(run, null, 2) : markdownReport(run));
  } finally {
    await s3?.stop();
    Deno.removeSync(scratch, { recursive: true });
  }
}

await main();
