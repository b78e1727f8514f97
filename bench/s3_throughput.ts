/**
 * Snapshot upload and restore throughput of a large database against a local S3-compatible
 * server (SeaweedFS, started on loopback), with each walsync process's peak RSS.
 *
 *   deno run -A bench/s3_throughput.ts [SIZE_MB]      (default 1024)
 *
 * The database holds rows of half random, half repetitive bytes, so pages compress about as
 * much as real data. Prints a markdown table and the machine.
 */
import { DatabaseSync } from "node:sqlite";
import { startS3Server } from "../tests/support/s3_server.ts";
import { MOD_PATH } from "./harness.ts";

const sizeMb = Number(Deno.args[0] ?? 1024);

function makeDatabase(path: string): number {
  const db = new DatabaseSync(path);
  db.exec(
    "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, a BLOB, b TEXT)",
  );
  const insert = db.prepare("INSERT INTO t (a, b) VALUES (randomblob(1000), ?)");
  const filler = "walsync ".repeat(125);
  for (let written = 0; written < sizeMb * 1024 * 1024;) {
    db.exec("BEGIN");
    for (let i = 0; i < 5000; i++) insert.run(filler);
    db.exec("COMMIT");
    written += 5000 * 2000;
  }
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return Deno.statSync(path).size;
}

/** Runs walsync and samples its peak RSS (VmHWM) until it exits. */
async function timed(
  args: string[],
  env: Record<string, string>,
  stopAfterMs?: number,
): Promise<{ ms: number; peakMb: number }> {
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD_PATH, ...args],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (stopAfterMs) setTimeout(() => child.kill("SIGTERM"), stopAfterMs);
  let peakKb = 0;
  const sampler = setInterval(() => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      peakKb = Math.max(peakKb, Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? 0));
    } catch { /* exited */ }
  }, 50);
  const out = await child.output();
  clearInterval(sampler);
  if (out.code !== 0) {
    throw new Error(`walsync ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { ms: performance.now() - start, peakMb: peakKb / 1024 };
}

const dir = await Deno.makeTempDir({ prefix: "walsync-s3-bench-" });
const server = await startS3Server("seaweedfs");
try {
  const bytes = makeDatabase(`${dir}/big.db`);
  const mb = bytes / 1024 / 1024;
  const env = {
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
  };
  const url = `s3://${server.bucket}/bench`;
  const snapshot = await timed([
    "watch",
    `${dir}/big.db`,
    "-b",
    url,
    "--once",
    "--log-level",
    "warn",
  ], env);
  const restore = await timed([
    "restore",
    "big.db",
    "-o",
    `${dir}/restored.db`,
    "-b",
    url,
    "--log-level",
    "warn",
  ], env);
  // The daemon on one small database with steady writes: its resident memory with S3.
  const small = new DatabaseSync(`${dir}/small.db`);
  small.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000");
  small.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  const writes = setInterval(() => small.exec("INSERT INTO t (v) VALUES (randomblob(500))"), 50);
  const daemon = await timed(
    [
      "watch",
      `${dir}/small.db`,
      "-b",
      `${url}-daemon`,
      "--log-level",
      "warn",
    ],
    env,
    12_000,
  );
  clearInterval(writes);
  small.close();
  const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1];
  const lines = [
    `Machine: ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}; SeaweedFS on 127.0.0.1.`,
    `Database: ${mb.toFixed(0)} MB (4 KiB pages, half random and half repetitive bytes).`,
    "",
    "| step | time | throughput | peak RSS |",
    "| --- | ---: | ---: | ---: |",
    `| first sync: full snapshot staged and uploaded | ${(snapshot.ms / 1000).toFixed(1)} s | ${
      (mb / snapshot.ms * 1000).toFixed(0)
    } MB/s | ${snapshot.peakMb.toFixed(0)} MB |`,
    `| restore: download, verify SHA-256 + LTX + database checksum, quick_check, rename | ${
      (restore.ms / 1000).toFixed(1)
    } s | ${(mb / restore.ms * 1000).toFixed(0)} MB/s | ${restore.peakMb.toFixed(0)} MB |`,
    `| watch: one small database, 20 commits/s for 12 s | | | ${daemon.peakMb.toFixed(0)} MB |`,
  ];
  Deno.stdout.writeSync(new TextEncoder().encode(lines.join("\n") + "\n"));
} finally {
  await server.stop();
  await Deno.remove(dir, { recursive: true });
}
