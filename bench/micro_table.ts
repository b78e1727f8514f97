/**
 * Runs the micro-benchmarks (`deno bench -A --json bench/`, i.e. `deno task bench`) several
 * times in fresh processes and prints the median of each benchmark's average next to the
 * seed's Rust figures (`cargo bench`, macOS aarch64) where the seed has one.
 *
 *   deno run -A bench/micro_table.ts [--runs 3]
 */
import { machineInfo, median, note, option, print, table } from "./harness.ts";

const runs = Number(option("runs", "3"));
const benchDir = new URL(".", import.meta.url).pathname;

/** Seed figures in ns, by benchmark name pattern (every SHA-256 variant against the seed's). */
const SEED_NS: [RegExp, number][] = [
  [/^WAL header parse/, 47],
  [/^WAL frame header parse/, 32],
  [/^SHA-256 1 KB/, 6_000],
  [/^SHA-256 100 KB/, 512_000],
  [/^SHA-256 1 MB/, 5_230_000],
];

interface BenchJson {
  benches: { name: string; results: { ok?: { avg: number; p75: number } }[] }[];
}

const averages = new Map<string, number[]>();
const p75s = new Map<string, number[]>();
for (let run = 0; run < runs; run++) {
  note(`deno bench run ${run + 1}/${runs}`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "-A", "--json", benchDir],
    stdout: "piped",
    stderr: "null",
  }).output();
  const report = JSON.parse(new TextDecoder().decode(out.stdout)) as BenchJson;
  for (const bench of report.benches) {
    const ok = bench.results[0]?.ok;
    if (!ok) continue;
    if (!averages.has(bench.name)) {
      averages.set(bench.name, []);
      p75s.set(bench.name, []);
    }
    averages.get(bench.name)!.push(ok.avg);
    p75s.get(bench.name)!.push(ok.p75);
  }
}

function human(ns: number): string {
  if (ns < 1_000) return `${ns.toFixed(1)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(1)} µs`;
  return `${(ns / 1_000_000).toFixed(2)} ms`;
}

function throughput(name: string, ns: number): string {
  const match = /(\d+) (KB|MB)/.exec(name);
  if (!match) return "-";
  let bytes = Number(match[1]) * (match[2] === "KB" ? 1024 : 1024 * 1024);
  const many = /(\d+) (?:pages|frames) of (\d+) KB/.exec(name);
  if (many) bytes = Number(many[1]) * Number(many[2]) * 1024;
  return `${(bytes / 1e6 / (ns / 1e9)).toFixed(0)} MB/s`;
}

print("## Micro-benchmarks (`deno task bench`)");
print();
print(`Command: \`deno run -A bench/micro_table.ts --runs ${runs}\``);
print();
print(machineInfo());
print();
print(
  table(
    [
      "benchmark",
      `avg (median of ${runs} runs)`,
      "p75 (median)",
      "runs (avg)",
      "throughput",
      "seed (Rust)",
      "ours ÷ seed",
    ],
    [...averages].map(([name, avgs]) => {
      const avg = median(avgs);
      const seed = SEED_NS.find(([pattern]) => pattern.test(name))?.[1];
      return [
        name,
        human(avg),
        human(median(p75s.get(name)!)),
        avgs.map(human).join(", "),
        throughput(name, avg),
        seed ? human(seed) : "-",
        seed ? (avg / seed).toFixed(2) : "-",
      ];
    }),
  ),
);
print();
print("MB/s counts uncompressed bytes, MB = 10^6 bytes. Ratios below 1 mean faster than the seed.");
