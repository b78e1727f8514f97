import assert from "node:assert/strict";
import {
  cpuTicksBetween,
  parseFdLimits,
  parseProcStat,
  parseSmapsRollup,
  processTree,
  readSmapsRollup,
  sampleProcesses,
  type TreeSample,
} from "./proc_stats.ts";

const SMAPS_ROLLUP =
  `563d992a4000-7fff4b4e3000 ---p 00000000 00:00 0                          [rollup]
Rss:               69012 kB
Pss:               66210 kB
Pss_Dirty:         23100 kB
Pss_Anon:          22600 kB
Pss_File:          43610 kB
Pss_Shmem:             0 kB
Shared_Clean:       3000 kB
Swap:                  0 kB
SwapPss:               0 kB
`;

Deno.test("parseSmapsRollup reads Rss, Pss and Pss_Anon, not SwapPss or Pss_Dirty", () => {
  assert.deepStrictEqual(parseSmapsRollup(SMAPS_ROLLUP), {
    rssKb: 69012,
    pssKb: 66210,
    pssAnonKb: 22600,
  });
});

Deno.test("parseSmapsRollup reads a missing field as 0 (kernels before Pss_Anon)", () => {
  assert.deepStrictEqual(parseSmapsRollup("Rss: 10 kB\nPss: 7 kB\n"), {
    rssKb: 10,
    pssKb: 7,
    pssAnonKb: 0,
  });
});

Deno.test("parseProcStat counts fields after the last parenthesis of the command name", () => {
  // A command name with spaces and a ")" inside, as a process can choose for itself.
  const line = "4242 (odd) name (x)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 9 0";
  assert.deepStrictEqual(parseProcStat(line), { pid: 4242, ppid: 17, cpuTicks: 281 });
});

Deno.test("parseProcStat refuses a line that is not /proc/<pid>/stat", () => {
  assert.throws(() => parseProcStat("no parenthesis here"), /Not a \/proc\/<pid>\/stat line/);
});

Deno.test("parseFdLimits reads soft and hard Max open files, unlimited as Infinity", () => {
  const limits = `Limit                     Soft Limit           Hard Limit           Units
Max processes             94010                94010                processes
Max open files            1024                 20000                files
Max locked memory         8388608              8388608              bytes
`;
  assert.deepStrictEqual(parseFdLimits(limits), { softFds: 1024, hardFds: 20000 });
  assert.deepStrictEqual(
    parseFdLimits("Max open files            unlimited            unlimited            files\n"),
    { softFds: Infinity, hardFds: Infinity },
  );
});

Deno.test("cpuTicksBetween counts each process from its start sample, a newborn from zero", () => {
  const sample = (ticks: [number, number][]): TreeSample => ({
    processes: ticks.length,
    rssKb: 0,
    pssKb: 0,
    pssAnonKb: 0,
    cpuTicksByPid: new Map(ticks),
  });
  const start = sample([[1, 100], [2, 50], [3, 10]]);
  const end = sample([[1, 130], [2, 55], [4, 7]]); // 3 exited, 4 was born
  assert.deepStrictEqual(cpuTicksBetween(start, end), 30 + 5 + 7);
});

Deno.test({
  name: "processTree and sampleProcesses find a child of a running process and its memory",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const parent = new Deno.Command("sh", {
      args: ["-c", "sleep 30 & wait"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      let tree: number[] = [];
      for (let i = 0; i < 100 && tree.length < 2; i++) {
        tree = processTree([parent.pid]);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepStrictEqual(tree.length, 2, `sh and its sleep, found ${tree}`);
      assert.deepStrictEqual(tree[0], parent.pid);
      const sample = sampleProcesses(tree);
      assert.deepStrictEqual(sample.processes, 2);
      assert.deepStrictEqual(
        sample.rssKb > 0 && sample.pssKb > 0 && sample.pssKb <= sample.rssKb,
        true,
      );
    } finally {
      parent.kill("SIGKILL");
      await parent.status;
    }
    // Once it is gone it counts as nothing, not as an error.
    assert.deepStrictEqual(readSmapsRollup(parent.pid), { rssKb: 0, pssKb: 0, pssAnonKb: 0 });
    assert.deepStrictEqual(processTree([parent.pid]), []);
  },
});
