/**
 * bench-compare's output: the seed's table (Databases / Litestream / walsync / Savings), every
 * figure with "replicated X of N" beside it, then one row per variant with the extra columns,
 * the problems each tool logged, and the machine. Or all of it as one JSON document.
 */
import { type MachineFacts, table } from "../harness.ts";
import { TOOL_LABELS } from "../replicators.ts";
import { type CompareOptions, type VariantId } from "./args.ts";
import { type VariantResult } from "./measure.ts";

export interface CompareRun {
  command: string;
  options: CompareOptions;
  machine: MachineFacts & {
    loadAverageEnd: number[];
    fdLimitSoft: number;
    fdLimitHard: number;
    /** The soft fd limit every tool was started with. */
    toolFdLimit: number;
    memAvailableGiB: number;
  };
  tools: {
    walsync: string;
    "litestream-0.5.17": string | null;
    "litestream-0.3.13": string | null;
  };
  results: VariantResult[];
  notRun: { variant: VariantId; dbCount: number | null; reason: string }[];
  startedAt: string;
  minutes: number;
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

const VARIANT_LABELS: Record<VariantId, string> = {
  walsync: "walsync, 1 process",
  "walsync-per-db": "walsync, 1 process per database",
  "litestream-0.5": "Litestream 0.5.17, 1 process",
  "litestream-0.5-per-db": "Litestream 0.5.17, 1 process per database",
  "litestream-0.3": "Litestream 0.3.13, 1 process",
  "litestream-0.3-per-db": "Litestream 0.3.13, 1 process per database",
};

function replicatedNote(r: VariantResult): string {
  const base = `replicated ${r.replicated} of ${r.dbCount}`;
  return r.replicated < r.dbCount ? `**${base}**` : base;
}

function lastWriteNote(r: VariantResult): string {
  if (r.lastWriteChecked === 0) return "-";
  const base = `${r.lastWriteArrived} of ${r.lastWriteChecked}`;
  return r.lastWriteArrived < r.lastWriteChecked ? `**${base}**` : base;
}

/** One figure of the seed's table: PSS, then RSS, then how many databases it replicated. */
function cell(r: VariantResult | undefined): string {
  if (!r) return "-";
  return `${mb(r.pssKb)} PSS, ${mb(r.rssKb)} RSS (${replicatedNote(r)})`;
}

function savings(litestream: VariantResult, walsync: VariantResult | undefined): string {
  if (!walsync) return "-";
  const diff = (a: number, b: number) => {
    const mib = (a - b) / 1024;
    return `${mib >= 0 ? "" : "−"}${Math.abs(mib).toFixed(1)} MB`;
  };
  return `${diff(litestream.pssKb, walsync.pssKb)} PSS, ${
    diff(litestream.rssKb, walsync.rssKb)
  } RSS`;
}

function exitNote(r: VariantResult): string {
  const failed = r.exitCodes.filter((c) => c !== 0);
  if (failed.length === 0) return "0";
  return `${failed.length} of ${r.exitCodes.length} exited ${[...new Set(failed)].join(", ")}`;
}

/** The markdown report. */
export function markdownReport(run: CompareRun): string {
  const { options, machine, results } = run;
  const out: string[] = [];
  const counts = [...new Set(results.map((r) => r.dbCount))].sort((a, b) => a - b);
  const find = (variant: VariantId, n: number) =>
    results.find((r) => r.variant === variant && r.dbCount === n);
  out.push(
    `## walsync against Litestream: databases of ${options.dbSizeKb} KB, ${options.replica} replica`,
    "",
    `Command: \`${run.command}\``,
    "",
    `Each database is a copy of one ${options.dbSizeKb} KB WAL-mode database. A writer process ` +
      `commits one row per transaction to ${
        options.writers === null ? "every database up to 100" : `${options.writers} databases`
      } at ${options.ratePerSecond} commit/s each. Memory is the median over the second half ` +
      `of a ${options.durationSeconds} s window, summed over each tool's process tree. The ` +
      "window starts once every database is in the replica (the tools snapshot each one at " +
      `start; at most ${options.catchUpSeconds} s are given for that)` +
      (options.warmupSeconds > 0
        ? `, and ${options.warmupSeconds} s after that with the writer running. `
        : ". ") +
      `"replicated X of N" counts the databases with a restorable file in the replica, read ` +
      `from the replica ${options.settleSeconds} s after the last write.`,
    "",
    "### The seed's table: walsync (one process) against each way of running Litestream",
    "",
  );
  const seedRows: string[][] = [];
  for (const n of counts) {
    const walsync = find("walsync", n);
    for (
      const variant of [
        "litestream-0.5-per-db",
        "litestream-0.5",
        "litestream-0.3-per-db",
        "litestream-0.3",
      ] as VariantId[]
    ) {
      const litestream = find(variant, n);
      if (!litestream) continue;
      seedRows.push([
        String(n),
        `${VARIANT_LABELS[variant].replace("Litestream ", "")}: ${cell(litestream)}`,
        cell(walsync),
        savings(litestream, walsync),
      ]);
    }
    if (!seedRows.some((row) => row[0] === String(n)) && walsync) {
      seedRows.push([String(n), "-", cell(walsync), "-"]);
    }
  }
  out.push(table(["Databases", "Litestream", "walsync", "Savings"], seedRows), "");
  out.push(
    "Savings = Litestream − walsync (negative: walsync uses more). PSS divides each shared " +
      "page among the processes that map it, so N Litestream processes are not charged N " +
      "times for one binary; every tool runs from a private copy of its executable, so its " +
      "pages are shared only with its own processes.",
    "",
    "### Every variant",
    "",
  );
  out.push(
    table(
      [
        "Databases",
        "tool",
        "processes (alive at end)",
        "PSS",
        "RSS",
        "PSS anon",
        "peak RSS",
        "CPU (% of a core)",
        "open fds",
        "replicated",
        "last write arrived",
        "ready after",
        "all in the replica after",
        "log errors / EMFILE",
        "exit",
      ],
      results.map((r) => [
        r.dbCount,
        VARIANT_LABELS[r.variant],
        `${r.processes} (${r.aliveAtEnd})`,
        mb(r.pssKb),
        mb(r.rssKb),
        mb(r.pssAnonKb),
        mb(r.peakRssKb),
        `${r.cpuPercent.toFixed(1)}%`,
        r.fds.toLocaleString("en-US"),
        replicatedNote(r),
        lastWriteNote(r),
        r.startupSeconds === null
          ? `not ready (${r.readyDatabases} of ${r.dbCount})`
          : `${r.startupSeconds.toFixed(1)} s`,
        r.allReplicatedSeconds === null
          ? `**${r.replicatedBeforeWindow} of ${r.dbCount} after ${options.catchUpSeconds} s**`
          : `${r.allReplicatedSeconds.toFixed(1)} s`,
        `${r.logErrors} / ${r.tooManyOpenFiles}`,
        exitNote(r),
      ]),
    ),
    "",
  );
  out.push(
    '"last write arrived": each written database restored with the tool\'s own `restore` ' +
      "while the tool still ran; it counts when the restored table holds exactly the rows " +
      "the writer committed, up to its last id.",
    "",
  );
  const problems = results.filter((r) =>
    r.lossExamples.length > 0 || r.errorExamples.length > 0 || r.writerErrors > 0
  );
  if (problems.length > 0) {
    out.push("### What went wrong", "");
    for (const r of problems) {
      const lines = [
        ...r.lossExamples.map((e) => `not restored as committed: ${e}`),
        ...r.errorExamples.map((e) => `logged: ${e}`),
        ...(r.writerErrors > 0 ? [`the writer's commits failed ${r.writerErrors} times`] : []),
      ];
      out.push(`- ${VARIANT_LABELS[r.variant]}, ${r.dbCount} databases: ${lines.join("; ")}`);
    }
    out.push("");
  }
  if (run.notRun.length > 0) {
    out.push("### Not run", "");
    for (const skip of run.notRun) {
      out.push(
        `- ${VARIANT_LABELS[skip.variant]}${
          skip.dbCount === null ? "" : `, ${skip.dbCount} databases`
        }: ${skip.reason}`,
      );
    }
    out.push("");
  }
  out.push(
    "### Machine",
    "",
    `- CPU: ${machine.cpu}, ${machine.cores} cores, RAM ${machine.ramGiB} GiB (${machine.memAvailableGiB} GiB available at start), kernel ${machine.kernel}`,
    `- ${machine.deno}`,
    `- walsync commit ${machine.walsyncCommit} (${run.tools.walsync})`,
    `- ${TOOL_LABELS["litestream-0.5.17"]}: ${run.tools["litestream-0.5.17"] ?? "not found"}`,
    `- ${TOOL_LABELS["litestream-0.3.13"]}: ${run.tools["litestream-0.3.13"] ?? "not found"}`,
    `- fd limit of the bench: soft ${machine.fdLimitSoft}, hard ${machine.fdLimitHard}; every tool started with a soft limit of ${machine.toolFdLimit}`,
    `- load average at start ${machine.loadAverage.join(" ")}, at end ${
      machine.loadAverageEnd.join(" ")
    }`,
    `- started ${run.startedAt}, took ${run.minutes.toFixed(1)} min`,
  );
  return out.join("\n");
}
