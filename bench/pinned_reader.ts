/**
 * What a pinned reader in another process costs an application that commits as fast as it can
 * with SQLite's default auto-checkpoint: no reader, a reader at a real read mark, and a reader
 * pinned right after a full checkpoint (SQLite's read slot 0). Isolates bench/README.md
 * finding 1 from everything else walsync does.
 *
 *   deno run -A bench/pinned_reader.ts [--seconds 3]
 */
import { DatabaseSync } from "node:sqlite";

const seconds = Number(Deno.args[Deno.args.indexOf("--seconds") + 1] || 3);
const encoder = new TextEncoder();

async function run(mode: "none" | "mark" | "slot0"): Promise<{ rate: number; walMb: number }> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-pinned-" });
  const path = `${dir}/a.db`;
  const app = new DatabaseSync(path);
  app.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000");
  app.exec("CREATE TABLE t (x BLOB)");
  for (let i = 0; i < 50; i++) app.exec("INSERT INTO t VALUES (randomblob(100))");
  let reader: Deno.ChildProcess | null = null;
  if (mode !== "none") {
    if (mode === "slot0") app.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const script = `import { DatabaseSync } from "node:sqlite";
      const r = new DatabaseSync(${JSON.stringify(path)});
      r.exec("BEGIN"); r.prepare("SELECT count(*) FROM t").get();
      console.log("pinned"); await new Promise((ok) => setTimeout(ok, 600000));`;
    reader = new Deno.Command(Deno.execPath(), { args: ["eval", script], stdout: "piped" }).spawn();
    const lines = reader.stdout.getReader();
    await lines.read();
    lines.releaseLock();
  }
  const insert = app.prepare("INSERT INTO t VALUES (randomblob(100))");
  const end = Date.now() + seconds * 1000;
  let commits = 0;
  while (Date.now() < end) {
    insert.run();
    commits++;
  }
  const walMb = Deno.statSync(`${path}-wal`).size / 1e6;
  reader?.kill("SIGKILL");
  await reader?.status;
  app.close();
  await Deno.remove(dir, { recursive: true });
  return { rate: commits / seconds, walMb };
}

const rows = [
  "| reader in another process | commits/s | ratio | WAL at end |",
  "| --- | ---: | ---: | ---: |",
];
let base = 0;
for (const mode of ["none", "mark", "slot0"] as const) {
  const { rate, walMb } = await run(mode);
  if (mode === "none") base = rate;
  const label = {
    none: "none",
    mark: "pinned at a read mark (slot ≥ 1)",
    slot0: "pinned after a full checkpoint (slot 0)",
  }[mode];
  rows.push(
    `| ${label} | ${Math.round(rate).toLocaleString("en")} | ${(rate / base).toFixed(2)} | ${
      walMb.toFixed(0)
    } MB |`,
  );
}
Deno.stdout.writeSync(encoder.encode(`${rows.join("\n")}\n`));
