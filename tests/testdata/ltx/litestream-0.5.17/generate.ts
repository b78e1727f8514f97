// Regenerates the Litestream LTX fixtures in this folder (see README.md).
//
// Usage (from the repository root):
//
//   deno run -A tests/testdata/ltx/litestream-0.5.17/generate.ts \
//     [--litestream PATH] [--out DIR] [--keep-tmp]
//
// --litestream  Litestream binary to run (default: "litestream" on PATH).
// --out         Fixture folder to (re)write (default: the folder holding this script).
// --keep-tmp    Keep the scratch folder (database, replica, litestream.yml, litestream.log).
//
// The script creates a fresh WAL-mode SQLite database, runs `litestream replicate` against a
// file replica, performs a fixed sequence of small transactions (one LTX file each), checkpoints
// the WAL from the application, writes a little more, waits for compaction and a snapshot, stops
// Litestream with SIGTERM, copies the replica's `ltx/` tree here and writes expected.json and
// expected.db. Finally it restores the copied replica with `litestream restore` and checks that
// the restored database matches.

import { DatabaseSync } from "node:sqlite";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const PAGE_SIZE = 4096;
const MONITOR_INTERVAL = "100ms";
const SYNC_INTERVAL = "200ms";
const L1_INTERVAL = "2s";
const SNAPSHOT_INTERVAL = "6s";
// Litestream holds a read transaction on the database, so the application's own
// wal_checkpoint(TRUNCATE) cannot reset the WAL while it runs (it returns busy=1). This makes
// Litestream run its own PASSIVE checkpoint once the WAL reaches 14 frames, which happens right
// after the "delete cherry" step; Litestream then writes its own transaction (to _litestream_seq)
// at the start of a new WAL (new salts, WAL offset 32) before the application's next write.
const MIN_CHECKPOINT_PAGE_COUNT = 14;
const STEP_PAUSE_MS = 1000; // longer than the sync interval: one LTX file per step
const WAIT_TIMEOUT_MS = 30_000;
const MAX_EXPECTED_DB_BYTES = 100 * 1024;

type SqlValue = null | number | bigint | string | Uint8Array;

interface TableState {
  name: string;
  sql: string;
  columns: string[];
  rows: SqlValue[][];
}

interface LtxFileInfo {
  path: string;
  level: number;
  minTXID: string;
  maxTXID: string;
  size: number;
}

const FILENAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/;

function log(msg: string): void {
  // deno-lint-ignore no-console
  console.error(`[generate] ${msg}`);
}

function report(msg: string): void {
  // deno-lint-ignore no-console
  console.log(msg);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${stdout}${stderr}`);
  }
  return stdout + stderr;
}

/** Lists the LTX files below `root/ltx/<level>/`, sorted by level then TXID range. */
async function listLtxFiles(root: string): Promise<LtxFileInfo[]> {
  const files: LtxFileInfo[] = [];
  const ltxDir = join(root, "ltx");
  if (!(await exists(ltxDir))) return files;
  for await (const levelEntry of Deno.readDir(ltxDir)) {
    if (!levelEntry.isDirectory || !/^\d+$/.test(levelEntry.name)) continue;
    for await (const entry of Deno.readDir(join(ltxDir, levelEntry.name))) {
      const m = FILENAME_RE.exec(entry.name);
      if (!entry.isFile || m === null) continue;
      const path = join("ltx", levelEntry.name, entry.name);
      const { size } = await Deno.stat(join(root, path));
      files.push({ path, level: Number(levelEntry.name), minTXID: m[1], maxTXID: m[2], size });
    }
  }
  files.sort((a, b) =>
    a.level - b.level || a.minTXID.localeCompare(b.minTXID) ||
    a.maxTXID.localeCompare(b.maxTXID)
  );
  return files;
}

async function maxTxid(root: string, level: number): Promise<number> {
  let max = 0;
  for (const f of await listLtxFiles(root)) {
    if (f.level === level) max = Math.max(max, parseInt(f.maxTXID, 16));
  }
  return max;
}

async function waitFor(what: string, cond: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(50);
  }
  log(`timed out waiting for ${what}`);
  return false;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function dumpState(
  db: DatabaseSync,
): { pageSize: number; pageCount: number; tables: TableState[] } {
  const pageSize = Number(
    (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size,
  );
  const pageCount = Number(
    (db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count,
  );
  const tables = db.prepare(
    "SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name",
  ).all() as { name: string; sql: string }[];
  return {
    pageSize,
    pageCount,
    tables: tables.map(({ name, sql }) => {
      const stmt = db.prepare(`SELECT * FROM ${quoteIdent(name)} ORDER BY rowid`);
      const columns = stmt.columns().map((c) => c.name);
      const rows = (stmt.all() as Record<string, SqlValue>[]).map((row) =>
        columns.map((c) => row[c])
      );
      return { name, sql, columns, rows };
    }),
  };
}

function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Uint8Array) {
        return { blobHex: Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("") };
      }
      return v;
    },
    2,
  ) + "\n";
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      litestream: { type: "string", default: "litestream" },
      out: { type: "string" },
      "keep-tmp": { type: "boolean", default: false },
    },
  });
  const bin = values.litestream;
  const outDir = resolve(values.out ?? dirname(fileURLToPath(import.meta.url)));
  const version = (await run(bin, ["version"])).trim();
  log(`litestream ${version} (${bin}), output ${outDir}`);

  const tmp = await Deno.makeTempDir({ prefix: "walsync-ltx-" });
  const dbPath = join(tmp, "app.db");
  const replicaDir = join(tmp, "replica");
  const configPath = join(tmp, "litestream.yml");
  const logPath = join(tmp, "litestream.log");

  const config = [
    "logging:",
    "  level: debug",
    "  stderr: true",
    "levels:",
    `  - interval: ${L1_INTERVAL}`,
    "snapshot:",
    `  interval: ${SNAPSHOT_INTERVAL}`,
    "  retention: 24h",
    "dbs:",
    `  - path: ${dbPath}`,
    `    monitor-interval: ${MONITOR_INTERVAL}`,
    `    min-checkpoint-page-count: ${MIN_CHECKPOINT_PAGE_COUNT}`,
    "    replica:",
    "      type: file",
    `      path: ${replicaDir}`,
    `      sync-interval: ${SYNC_INTERVAL}`,
    "",
  ].join("\n");
  await Deno.writeTextFile(configPath, config);

  // Fresh database: page size first, then WAL (which writes the header), then busy timeout.
  const db = new DatabaseSync(dbPath);
  db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
  const mode = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
  if (mode.journal_mode !== "wal") throw new Error(`journal_mode is ${mode.journal_mode}`);
  db.exec("PRAGMA busy_timeout = 5000");

  const logFile = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const child = new Deno.Command(bin, {
    args: ["replicate", "-config", configPath],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logDone = child.stderr.pipeTo(logFile.writable);

  // Litestream initialises its own tables and ships the first LTX file (TXID 1).
  await waitFor("initial LTX file", async () => (await maxTxid(replicaDir, 0)) >= 1);

  const steps: [string, string][] = [
    [
      "create table",
      "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, " +
      "price REAL, note TEXT)",
    ],
    ["insert apple", "INSERT INTO items (name, qty, price) VALUES ('apple', 3, 0.5)"],
    ["insert banana", "INSERT INTO items (name, qty, price) VALUES ('banana', 12, 0.25)"],
    [
      "insert cherry+durian",
      "INSERT INTO items (name, qty, price, note) VALUES ('cherry', 100, 0.05, NULL), " +
      "('durian', 1, 7.99, 'smelly')",
    ],
    [
      "insert elderberry (6000-byte note, spills to an overflow page)",
      `INSERT INTO items (name, qty, price, note) VALUES ('elderberry', 40, 0.1, '${
        "walsync-".repeat(750)
      }')`,
    ],
    ["update banana", "UPDATE items SET qty = qty + 10, note = 'restocked' WHERE name = 'banana'"],
    ["delete cherry", "DELETE FROM items WHERE name = 'cherry'"],
    ["checkpoint", "PRAGMA wal_checkpoint(TRUNCATE)"],
    ["insert fig", "INSERT INTO items (name, qty, price) VALUES ('fig', 6, 1.25)"],
    ["update apple", "UPDATE items SET note = 'after checkpoint', qty = 4 WHERE name = 'apple'"],
  ];

  const stepLines: string[] = [];
  for (const [label, sql] of steps) {
    const before = await maxTxid(replicaDir, 0);
    if (sql.startsWith("PRAGMA wal_checkpoint")) {
      const res = db.prepare(sql).get() as { busy: number; log: number; checkpointed: number };
      stepLines.push(`${label}: busy=${res.busy} log=${res.log} checkpointed=${res.checkpointed}`);
      await sleep(STEP_PAUSE_MS);
      continue;
    }
    db.exec("BEGIN IMMEDIATE");
    db.exec(sql);
    db.exec("COMMIT");
    await waitFor(`LTX file for "${label}"`, async () => (await maxTxid(replicaDir, 0)) > before);
    stepLines.push(`${label}: replica L0 max TXID ${before} -> ${await maxTxid(replicaDir, 0)}`);
    log(stepLines[stepLines.length - 1]);
    await sleep(STEP_PAUSE_MS);
  }

  // Let compaction (L1) and a snapshot (L9) catch up with the final TXID, then stop.
  const finalTxid = await maxTxid(replicaDir, 0);
  await waitFor(
    "L1 and snapshot at final TXID",
    async () =>
      (await maxTxid(replicaDir, 1)) >= finalTxid && (await maxTxid(replicaDir, 9)) >= finalTxid,
  );
  child.kill("SIGTERM");
  const status = await child.status;
  await logDone;
  log(`litestream exited with code ${status.code}`);
  if (!status.success) throw new Error(`litestream exited with code ${status.code}`);

  // Final state, after folding the WAL back into the database file.
  db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
  const state = dumpState(db);
  db.close();

  // Replace the fixture's ltx/ tree and expected files.
  await Deno.remove(join(outDir, "ltx"), { recursive: true }).catch(() => {});
  const files = await listLtxFiles(replicaDir);
  for (const f of files) {
    await Deno.mkdir(dirname(join(outDir, f.path)), { recursive: true });
    await Deno.copyFile(join(replicaDir, f.path), join(outDir, f.path));
  }
  const dbSize = (await Deno.stat(dbPath)).size;
  const expectedDbPath = join(outDir, "expected.db");
  await Deno.remove(expectedDbPath).catch(() => {});
  if (dbSize < MAX_EXPECTED_DB_BYTES) await Deno.copyFile(dbPath, expectedDbPath);
  const expected = {
    litestreamVersion: version,
    maxTXID: finalTxid.toString(16).padStart(16, "0"),
    pageSize: state.pageSize,
    pageCount: state.pageCount,
    tables: state.tables,
  };
  await Deno.writeTextFile(join(outDir, "expected.json"), toJson(expected));

  // Restore the copied fixture replica with Litestream itself and compare.
  const restoredPath = join(tmp, "restored.db");
  await run(bin, ["restore", "-o", restoredPath, `file://${outDir}`]);
  const restoredDb = new DatabaseSync(restoredPath, { readOnly: true });
  const integrity = (restoredDb.prepare("PRAGMA integrity_check").get() as {
    integrity_check: string;
  }).integrity_check;
  const restored = dumpState(restoredDb);
  restoredDb.close();
  const logicalMatch = toJson(restored) === toJson(state);
  let bytesMatch = false;
  if (await exists(expectedDbPath)) {
    const a = await Deno.readFile(expectedDbPath);
    const b = await Deno.readFile(restoredPath);
    bytesMatch = a.length === b.length && a.every((x, i) => x === b[i]);
  }

  if (values["keep-tmp"]) {
    log(`kept scratch folder ${tmp}`);
  } else {
    await Deno.remove(tmp, { recursive: true });
  }

  report(`litestream ${version}: ${files.length} LTX files, max TXID ${expected.maxTXID}`);
  for (const line of stepLines) report(`  step ${line}`);
  for (const f of files) {
    report(`  ${f.path}  level=${f.level} txid=${f.minTXID}..${f.maxTXID} size=${f.size}`);
  }
  report(
    `expected.db: ${dbSize} bytes${dbSize < MAX_EXPECTED_DB_BYTES ? "" : " (too big, not kept)"}`,
  );
  report(
    `restore: integrity=${integrity} logical=${logicalMatch ? "match" : "MISMATCH"} ` +
      `bytes=${bytesMatch ? "match" : "differ"} (${relative(Deno.cwd(), outDir) || "."})`,
  );
  if (!logicalMatch || integrity !== "ok") Deno.exit(1);
}

await main();
