/**
 * Restore time against the number of level-0 batches since the snapshot (issue 11): for each
 * database size and batch count, one history is written straight into a file replica and an
 * S3 replica (SeaweedFS on loopback), byte-identical for both tools (`compaction/history.ts`),
 * and `walsync restore` and `litestream restore` (0.5.17) each rebuild it as a whole process.
 * With `--compact`, `walsync compact --force` then compacts each replica and both tools restore
 * the compacted replica again; with `--prune`, `compact --force --pitr 0s --l0-linger 0s` then
 * lets retention delete what no retained position needs, and both restore again. Every restore
 * is checked against the source's rows.
 *
 *   deno run -A bench/compaction_restore.ts --sizes 12,120 --batches 100,1000,10000 [--compact] [--prune]
 *     [--replicas file,s3] [--spacing-ms 1000]
 */
import { S3ReplicaClient } from "../src/replica/s3/s3_replica_client.ts";
import { FileReplicaClient } from "../src/replica/file/file_replica_client.ts";
import type { ReplicaClient } from "../src/replica/replica_client.ts";
import { startBenchS3 } from "./bench_s3.ts";
import { fingerprint, writeHistory } from "./compaction/history.ts";
import { childEnv, countLevels, timed } from "./compaction/tools.ts";
import {
  litestreamBin,
  machineInfo,
  MOD_PATH,
  note,
  option,
  print,
  scratchDir,
  table,
} from "./harness.ts";

const sizes = option("sizes", "12,120").split(",").map(Number);
const batchCounts = option("batches", "100,1000,10000").split(",").map(Number);
const kinds = option("replicas", "file,s3").split(",");
const spacingMs = Number(option("spacing-ms", "1000"));
const compact = Deno.args.includes("--compact");
/** A third state: compacted again with no point-in-time window, so retention prunes level 0. */
const prune = Deno.args.includes("--prune");
const litestream = litestreamBin();

const root = scratchDir("walsync-compaction-restore-");
const s3 = kinds.includes("s3") ? await startBenchS3() : null;
const env = s3 ? childEnv(s3.server) : Deno.env.toObject();
const rows: (string | number)[][] = [];

interface Target {
  kind: "file" | "s3";
  client: ReplicaClient;
  walsyncUrl: string;
  litestreamUrl: string;
}

try {
  for (const sizeMb of sizes) {
    for (const batches of batchCounts) {
      const dir = `${root}/${sizeMb}-${batches}`;
      Deno.mkdirSync(dir, { recursive: true });
      const name = "app.db";
      const prefix = `bench/${crypto.randomUUID()}`;
      const targets: Target[] = [];
      if (kinds.includes("file")) {
        targets.push({
          kind: "file",
          client: new FileReplicaClient(`${dir}/replica`),
          walsyncUrl: `file://${dir}/replica`,
          litestreamUrl: `file://${dir}/replica/${name}`,
        });
      }
      if (s3) {
        const { server } = s3;
        targets.push({
          kind: "s3",
          client: new S3ReplicaClient({
            bucket: server.bucket,
            prefix,
            endpoint: server.endpoint,
            region: server.region,
            forcePathStyle: true,
            credentials: server.credentials,
            env: () => undefined,
          }),
          walsyncUrl: `s3://${server.bucket}/${prefix}`,
          litestreamUrl: `s3://${server.bucket}/${prefix}/${name}?endpoint=${
            encodeURIComponent(server.endpoint)
          }&forcePathStyle=true`,
        });
      }
      note(`${sizeMb} MB, ${batches} batches: writing the history`);
      const started = performance.now();
      const history = await writeHistory({
        dbPath: `${dir}/source.db`,
        sizeBytes: sizeMb * 1e6,
        batches,
        replicas: targets.map((t) => ({ client: t.client, name })),
        spacingMs,
        concurrency: s3 ? 8 : 1,
        progress: (done) => {
          if (done % 5000 === 0) note(`  ${done} batches`);
        },
      });
      note(`  written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      for (const target of targets) {
        const stages = [
          "level 0 only",
          ...(compact ? ["after walsync compact"] : []),
          ...(prune ? ["after compact --pitr 0s --l0-linger 0s"] : []),
        ];
        for (const stage of stages) {
          let compactMs: number | string = "-";
          if (stage !== "level 0 only") {
            const run = await timed(Deno.execPath(), [
              "run",
              "-A",
              MOD_PATH,
              "compact",
              name,
              "-b",
              target.walsyncUrl,
              "--force",
              ...(stage.startsWith("after compact --pitr")
                ? ["--pitr", "0s", "--l0-linger", "0s"]
                : []),
            ], env);
            if (run.code !== 0) {
              const why = run.output.trim().split("\n")[0].slice(0, 160);
              note(`walsync compact failed:\n${run.output}`);
              rows.push([
                `${sizeMb} MB`,
                target.kind,
                batches.toLocaleString("en-US"),
                stage,
                `failed: ${why}`,
              ]);
              break;
            }
            compactMs = Math.round(run.ms);
          }
          const levels = await countLevels(target.client, name);
          const out = (tool: string) => `${dir}/${target.kind}-${stage.length}-${tool}.db`;
          const walsync = await timed(Deno.execPath(), [
            "run",
            "-A",
            MOD_PATH,
            "restore",
            name,
            "-o",
            out("walsync"),
            "-b",
            target.walsyncUrl,
          ], env);
          const ls = await timed(litestream, [
            "restore",
            "-o",
            out("litestream"),
            target.litestreamUrl,
          ], env);
          const check = (run: { code: number; output: string }, tool: string) => {
            if (run.code !== 0) return `failed: ${run.output.trim().split("\n").at(-1)}`;
            return fingerprint(out(tool)) === history.fingerprint ? "exact" : "WRONG";
          };
          rows.push([
            `${sizeMb} MB`,
            target.kind,
            batches.toLocaleString("en-US"),
            stage,
            compactMs,
            levels,
            Math.round(walsync.ms),
            check(walsync, "walsync"),
            Math.round(ls.ms),
            check(ls, "litestream"),
            (walsync.ms / ls.ms).toFixed(2),
          ]);
          note(rows.at(-1)!.join(" | "));
        }
      }
      for (const target of targets) {
        if (target.client instanceof S3ReplicaClient) {
          await target.client.deleteAll();
          await target.client.close();
        }
      }
      Deno.removeSync(dir, { recursive: true });
    }
  }
} finally {
  await s3?.stop();
  Deno.removeSync(root, { recursive: true });
}

print(`Command: \`deno run -A bench/compaction_restore.ts ${Deno.args.join(" ")}\``);
print();
print(machineInfo());
print();
print(table([
  "database",
  "replica",
  "batches",
  "replica state",
  "compact ms",
  "files per level",
  "walsync restore ms",
  "walsync result",
  "litestream restore ms",
  "litestream result",
  "walsync ÷ Litestream",
], rows));
