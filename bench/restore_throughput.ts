/**
 * Restore time and throughput from a LOCAL FILE replica (the seed measured Tigris over
 * residential broadband; these numbers say nothing about network-bound restores).
 *
 *   deno run -A bench/restore_throughput.ts [--sizes 1.2,12,120] [--repeats 3] [--increments 5]
 *
 * Per size: one database is built at ~90% of the size and copied twice. walsync
 * (`watch --sync-interval 1s`) replicates one copy and Litestream 0.5.17 the other; each gets
 * the same `increments` transactions (inserts worth ~2% of the size each, 1.3 s apart, so
 * each lands in its own level-0 file), then the replicator is stopped with SIGTERM. Then
 * `walsync restore` and `litestream restore` alternate `repeats` times; each restore is timed
 * as a whole process (startup included; the startup of `version` is shown for reference),
 * and its result is compared with the source (row count and sum of lengths).
 */
import { DatabaseSync } from "node:sqlite";
import {
  litestreamBin,
  machineInfo,
  makeDatabase,
  median,
  MOD_PATH,
  note,
  openApp,
  option,
  print,
  rowText,
  scratchDir,
  sleep,
  startLitestream,
  startWalsync,
  table,
  writeLitestreamConfig,
} from "./harness.ts";

const MIB = 1024 * 1024;
const sizesMb = option("sizes", "1.2,12,120").split(",").map(Number);
const repeats = Number(option("repeats", "3"));
const increments = Number(option("increments", "5"));
const ROW_BYTES = 110; // about what rowText() costs in a table b-tree leaf

function fingerprint(path: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  const row = db.prepare("SELECT count(*) AS n, sum(length(body)) AS b FROM t").get() as {
    n: number;
    b: number;
  };
  db.close();
  return `${row.n}/${row.b}`;
}

function applyIncrements(path: string, rowsPer: number, from: number): Promise<void> {
  const app = openApp(path);
  const insert = app.prepare("INSERT INTO t (body) VALUES (?)");
  return (async () => {
    for (let k = 0; k < increments; k++) {
      app.exec("BEGIN");
      for (let i = 0; i < rowsPer; i++) insert.run(rowText(from + k * rowsPer + i));
      app.exec("COMMIT");
      await sleep(1300);
    }
    app.close();
  })();
}

async function timed(cmd: string, args: string[]): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  const ms = performance.now() - start;
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

function countFiles(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) walk(`${d}/${e.name}`);
      else if (e.name.endsWith(".ltx")) n++;
    }
  };
  walk(dir);
  return n;
}

async function startupMs(cmd: string, args: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push(await timed(cmd, args));
  return median(times);
}
const walsyncStartupMs = await startupMs(Deno.execPath(), ["run", "-A", MOD_PATH, "version"]);
const litestreamStartupMs = await startupMs(litestreamBin(), ["version"]);

const rows: (string | number)[][] = [];
for (const sizeMb of sizesMb) {
  const dir = scratchDir(`restore-${sizeMb}-`);
  const base = `${dir}/base.db`;
  makeDatabase(base, sizeMb * MIB * 0.9);
  const rowsPer = Math.max(1, Math.round((sizeMb * MIB * 0.02) / ROW_BYTES));
  const from = 50_000_000;
  for (const tool of ["walsync", "litestream"]) {
    Deno.mkdirSync(`${dir}/${tool}`);
    Deno.copyFileSync(base, `${dir}/${tool}/app.db`);
  }

  note(`${sizeMb} MB: replicating with walsync`);
  const w = await startWalsync([`${dir}/walsync/app.db`], `${dir}/walsync/replica`, [
    "--sync-interval",
    "1s",
  ]);
  await applyIncrements(`${dir}/walsync/app.db`, rowsPer, from);
  if (await w.stop() !== 0) throw new Error(`walsync failed:\n${w.tail()}`);

  note(`${sizeMb} MB: replicating with litestream`);
  writeLitestreamConfig(`${dir}/litestream.yml`, [
    { path: `${dir}/litestream/app.db`, replicaDir: `${dir}/litestream/replica` },
  ]);
  const l = await startLitestream(`${dir}/litestream.yml`, 1);
  await l.waitFor("snapshot complete", 600_000);
  await applyIncrements(`${dir}/litestream/app.db`, rowsPer, from);
  await sleep(2500); // one more monitor + sync interval, so the last increment is shipped
  if (await l.stop() !== 0) throw new Error(`litestream failed:\n${l.tail()}`);

  const expected = fingerprint(`${dir}/walsync/app.db`);
  if (fingerprint(`${dir}/litestream/app.db`) !== expected) throw new Error("sources differ");
  const sizeBytes = Deno.statSync(`${dir}/walsync/app.db`).size;

  const times: Record<string, number[]> = { walsync: [], litestream: [] };
  for (let r = 0; r < repeats; r++) {
    for (const tool of ["walsync", "litestream"]) {
      const out = `${dir}/out-${tool}.db`;
      const replica = `file://${dir}/${tool}/replica`;
      times[tool].push(
        tool === "walsync"
          ? await timed(Deno.execPath(), [
            "run",
            "-A",
            MOD_PATH,
            "restore",
            "app.db",
            "-o",
            out,
            "-b",
            replica,
          ])
          : await timed(litestreamBin(), ["restore", "-o", out, replica]),
      );
      const got = fingerprint(out);
      if (got !== expected) throw new Error(`${tool} restored ${got}, expected ${expected}`);
      for (const suffix of ["", "-wal", "-shm"]) {
        try {
          Deno.removeSync(`${out}${suffix}`);
        } catch { /* not created */ }
      }
    }
  }
  const files = {
    walsync: countFiles(`${dir}/walsync/replica`),
    litestream: countFiles(`${dir}/litestream/replica`),
  };
  for (const tool of ["walsync", "litestream"] as const) {
    const ms = median(times[tool]);
    rows.push([
      `${(sizeBytes / MIB).toFixed(1)} MiB`,
      tool === "walsync" ? "walsync restore" : "litestream 0.5.17 restore",
      files[tool],
      Math.round(ms).toLocaleString("en-US"),
      times[tool].map((t) => Math.round(t)).join(", "),
      (sizeBytes / MIB / (ms / 1000)).toFixed(1),
      tool === "walsync" ? "-" : (median(times.walsync) / ms).toFixed(2),
    ]);
  }
  note(
    `${sizeMb} MB: walsync ${median(times.walsync).toFixed(0)} ms, litestream ${
      median(times.litestream).toFixed(0)
    } ms`,
  );
  Deno.removeSync(dir, { recursive: true });
}

print("## Restore from a local file replica (snapshot + increments)");
print();
print(
  `Command: \`deno run -A bench/restore_throughput.ts --sizes ${sizesMb} --repeats ${repeats} --increments ${increments}\``,
);
print();
print(machineInfo());
print();
print(
  table(
    [
      "database",
      "tool",
      ".ltx files in replica (all levels)",
      "restore ms (median)",
      "runs ms",
      "MiB/s",
      "walsync time ÷ litestream time",
    ],
    rows,
  ),
);
print();
print(
  `Times are whole processes, warm page cache. Process startup alone (\`version\`): walsync ${
    Math.round(walsyncStartupMs)
  } ms, litestream ${
    Math.round(litestreamStartupMs)
  } ms. walsync restore verifies every file's SHA-256, the LTX checksums, the final database checksum and runs PRAGMA quick_check.`,
);
