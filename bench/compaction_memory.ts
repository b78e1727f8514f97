/**
 * Peak RSS while compacting a large database (issue 11, Litestream #1477).
 *
 * 1. `walsync compact --force` on a file replica holding a snapshot of a ~1 GB database and
 *    `--batches` level-0 files of `--rows-per-batch` random row updates each (written directly,
 *    compaction/history.ts): the level-1 merge reads every level-0 file and writes their union.
 * 2. Side by side, each tool started on its own copy of the same database with level 1 every
 *    second, for `--seconds`: its first snapshot, then its first compactions (Litestream merges
 *    the level-0 snapshot into level 1, #1510). Peak RSS from /proc (VmHWM), sampled.
 *
 *   deno run -A bench/compaction_memory.ts [--db-mb 1000] [--batches 20] [--rows-per-batch 20000]
 *     [--seconds 60] [--skip-replicate]
 */
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import { fingerprint, writeHistory } from "./compaction/history.ts";
import { countLevels, timed } from "./compaction/tools.ts";
import {
  litestreamBin,
  machineInfo,
  MOD_PATH,
  note,
  option,
  print,
  Proc,
  procMemoryKb,
  scratchDir,
  sleep,
  table,
} from "./harness.ts";

const dbMb = Number(option("db-mb", "1000"));
const batches = Number(option("batches", "20"));
const rowsPerBatch = Number(option("rows-per-batch", "20000"));
const seconds = Number(option("seconds", "60"));
const root = scratchDir("walsync-compaction-memory-");
const rows: (string | number)[][] = [];
const mib = (kb: number) => (kb / 1024).toFixed(0);

try {
  note(`writing a ${dbMb} MB database and ${batches} batches of ${rowsPerBatch} rows`);
  const client = new FileReplicaClient(`${root}/replica`);
  const history = await writeHistory({
    dbPath: `${root}/source.db`,
    sizeBytes: dbMb * 1e6,
    batches,
    rowsPerBatch,
    checkpointEvery: 1,
    replicas: [{ client, name: "app.db" }],
    progress: (done) => note(`  batch ${done}`),
  });
  const inputMb = (history.bytes / 1e6).toFixed(0);
  note(`history: ${history.objects} files, ${inputMb} MB; compacting`);
  const levelsBefore = await countLevels(client, "app.db");
  const compact = await timed("/usr/bin/time", [
    "-f",
    "maxrss_kb=%M",
    Deno.execPath(),
    "run",
    "-A",
    MOD_PATH,
    "compact",
    "app.db",
    "-b",
    `file://${root}/replica`,
    "--force",
    "--compaction-levels",
    "1s",
  ], Deno.env.toObject());
  if (compact.code !== 0) throw new Error(`walsync compact failed:\n${compact.output}`);
  const compactKb = Number(/maxrss_kb=(\d+)/.exec(compact.output)?.[1] ?? 0);
  const restored = await timed(Deno.execPath(), [
    "run",
    "-A",
    MOD_PATH,
    "restore",
    "app.db",
    "-o",
    `${root}/restored.db`,
    "-b",
    `file://${root}/replica`,
  ], Deno.env.toObject());
  const exact = restored.code === 0 && fingerprint(`${root}/restored.db`) === history.fingerprint;
  Deno.removeSync(`${root}/restored.db`);
  rows.push([
    "walsync compact --force (level 0 → level 1)",
    `${history.pageCount * history.pageSize / 1e6 | 0} MB, ${levelsBefore} (${inputMb} MB)`,
    `${(compact.ms / 1000).toFixed(1)} s`,
    mib(compactKb),
    `${await countLevels(client, "app.db")}; restore ${exact ? "exact" : "WRONG"}`,
  ]);
  note(rows.at(-1)!.join(" | "));

  if (!Deno.args.includes("--skip-replicate")) {
    for (const tool of ["walsync", "litestream"] as const) {
      const dir = `${root}/${tool}`;
      Deno.mkdirSync(dir);
      Deno.copyFileSync(`${root}/source.db`, `${dir}/app.db`);
      let proc: Proc;
      if (tool === "walsync") {
        proc = new Proc(Deno.execPath(), [
          "run",
          "-A",
          "--v8-flags=--max-semi-space-size=1",
          MOD_PATH,
          "watch",
          `${dir}/app.db`,
          "-b",
          `file://${dir}/replica`,
          "--compaction-levels",
          "1s",
          "--log-format",
          "json",
        ]);
      } else {
        Deno.writeTextFileSync(
          `${dir}/ls.yml`,
          [
            "levels:",
            "  - interval: 1s",
            "dbs:",
            `  - path: ${dir}/app.db`,
            "    replica:",
            "      type: file",
            `      path: ${dir}/replica/app.db`,
            "",
          ].join("\n"),
        );
        proc = new Proc(litestreamBin(), ["replicate", "-config", `${dir}/ls.yml`]);
      }
      note(`${tool}: replicating for ${seconds} s`);
      let peak = 0;
      const started = Date.now();
      while (Date.now() - started < seconds * 1000) {
        peak = Math.max(peak, procMemoryKb(proc.child.pid).hwmKb);
        await sleep(200);
      }
      peak = Math.max(peak, procMemoryKb(proc.child.pid).hwmKb);
      proc.child.kill("SIGTERM");
      await proc.done;
      const levels = await countLevels(new FileReplicaClient(`${dir}/replica`), "app.db");
      rows.push([
        tool === "walsync"
          ? "walsync watch, level 1 every 1 s"
          : "Litestream 0.5.17 replicate, level 1 every 1 s",
        `${dbMb} MB, first snapshot`,
        `${seconds} s`,
        mib(peak),
        levels,
      ]);
      note(rows.at(-1)!.join(" | "));
      Deno.removeSync(dir, { recursive: true });
    }
  }
} finally {
  Deno.removeSync(root, { recursive: true });
}

print(`Command: \`deno run -A bench/compaction_memory.ts ${Deno.args.join(" ")}\``);
print();
print(machineInfo());
print();
print(table(["what", "input", "time", "peak RSS MiB", "files per level after"], rows));
