/**
 * `walsync restore` end to end: the real CLI restores from a replica the real CLI wrote
 * (`watch --once` after each round of writes, so each round is one TXID).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { formatByteRatio, formatBytes } from "../src/cli/progress.ts";
import { dumpDatabase, openWalDatabase } from "./support/sqlite.ts";
import { MOD_PATH, runWalsync } from "./support/cli.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const walsync = (...args: string[]) => runWalsync(args);
const ROUNDS = 4;
/** The last round writes this much random data, so the restore has progress to show. */
const LARGE_BLOB_BYTES = 300_000;

interface Fixture {
  dir: string;
  replica: string;
  /** The database's content at TXID i + 1. */
  states: Record<string, unknown[]>[];
  /** The replica's LTX files, sorted by path, with their sizes. */
  files: { level: number; minTxid: number; maxTxid: number; sizeBytes: number }[];
}

let fixture: Promise<Fixture> | undefined;

/** One replica for the whole file (restores only read it), removed when the tests end. */
function replicaFixture(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-cli-restore-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const replica = `file://${dir}/replica`;
    // The application keeps its connection open, so each round stays in the WAL and ships
    // as one increment.
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)");
    const states: Record<string, unknown[]>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const blobBytes = round === ROUNDS - 1 ? LARGE_BLOB_BYTES : 100;
      app.exec("BEGIN");
      for (let i = 0; i < 10; i++) {
        app.exec(
          `INSERT INTO t (v, b) VALUES ('round ${round} row ${i}', randomblob(${blobBytes}))`,
        );
      }
      app.exec("COMMIT");
      const watch = await walsync("watch", `${dir}/app.db`, "-b", replica, "--once");
      assert.equal(watch.code, 0, watch.stderr);
      states.push(dumpDatabase(app));
    }
    app.close();
    const files = [];
    for await (const entry of Deno.readDir(`${dir}/replica/app.db/ltx/0`)) {
      const match = /^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/.exec(entry.name);
      if (!match) continue;
      const { size } = await Deno.stat(`${dir}/replica/app.db/ltx/0/${entry.name}`);
      files.push({
        level: 0,
        minTxid: parseInt(match[1], 16),
        maxTxid: parseInt(match[2], 16),
        sizeBytes: size,
      });
    }
    files.sort((a, b) => a.minTxid - b.minTxid);
    return { dir, replica, states, files };
  })();
  return fixture;
}

async function withOutDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-cli-restore-out-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function dumpFile(path: string): Record<string, unknown[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("the fixture replica holds one level-0 file per round", async () => {
  const { files } = await replicaFixture();
  assert.deepEqual(
    files.map((f) => [f.level, f.minTxid, f.maxTxid]),
    [[0, 1, 1], [0, 2, 2], [0, 3, 3], [0, 4, 4]],
  );
});

Deno.test("restore --dry-run --json prints the plan to the latest TXID and writes nothing", async () => {
  const { replica, files, dir } = await replicaFixture();
  await withOutDir(async (out) => {
    const replicaBefore = await listDir(`${dir}/replica/app.db/ltx/0`);
    const { code, stdout, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      `${out}/restored.db`,
      "--dry-run",
      "--json",
    );
    assert.equal(code, 0, stderr);
    const plan = JSON.parse(stdout);
    assert.equal(plan.name, "app.db");
    assert.equal(plan.replica, replica);
    assert.equal(plan.txid, 4);
    assert.equal(plan.txidHex, "0000000000000004");
    assert.deepEqual(
      plan.files.map((f: Record<string, unknown>) => ({ ...f, createdAt: undefined })),
      files.map((f) => ({ ...f, createdAt: undefined })),
    );
    for (const f of plan.files) assert.ok(!Number.isNaN(Date.parse(f.createdAt)), f.createdAt);
    assert.equal(plan.totalBytes, files.reduce((sum, f) => sum + f.sizeBytes, 0));
    assert.deepEqual(await listDir(out), []);
    assert.deepEqual(await listDir(`${dir}/replica/app.db/ltx/0`), replicaBefore);
  });
});

Deno.test("restore --dry-run --txid plans only the files up to that TXID", async () => {
  const { replica, files } = await replicaFixture();
  const { code, stdout, stderr } = await walsync(
    "restore",
    "app.db",
    "-b",
    replica,
    "--dry-run",
    "--json",
    "--txid",
    "0000000000000002",
  );
  assert.equal(code, 0, stderr);
  const plan = JSON.parse(stdout);
  assert.equal(plan.txid, 2);
  assert.deepEqual(plan.files.map((f: { maxTxid: number }) => f.maxTxid), [1, 2]);
  assert.equal(plan.totalBytes, files[0].sizeBytes + files[1].sizeBytes);
});

Deno.test("restore --dry-run prints a table of the plan, even when OUT exists", async () => {
  const { replica } = await replicaFixture();
  await withOutDir(async (out) => {
    const existing = `${out}/existing.db`;
    await Deno.writeTextFile(existing, "keep me");
    const json = JSON.parse(
      (await walsync("restore", "app.db", "-b", replica, "--dry-run", "--json"))
        .stdout,
    );
    const { code, stdout, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      existing,
      "--dry-run",
    );
    assert.equal(code, 0, stderr);
    const rows = json.files.map((f: { sizeBytes: number; createdAt: string; maxTxid: number }) =>
      `    0  ${f.maxTxid.toString(16).padStart(16, "0")}  ${
        f.maxTxid.toString(16).padStart(16, "0")
      }  ${formatBytes(f.sizeBytes).padStart(10)}  ${f.createdAt}`
    );
    assert.equal(
      stdout,
      [
        `Restore plan for "app.db" from ${replica}`,
        "Target TXID 4 (0000000000000004)",
        `Output ${existing} (exists: the restore needs --force to replace it)`,
        "",
        "LEVEL  MIN TXID          MAX TXID                SIZE  CREATED",
        ...rows,
        "",
        `4 files, ${formatBytes(json.totalBytes)} (${json.totalBytes} bytes) to download`,
        "",
      ].join("\n"),
    );
    assert.equal(await Deno.readTextFile(existing), "keep me");
    assert.deepEqual(await listDir(out), ["existing.db"]);
  });
});

Deno.test("restore --json prints the result on stdout and the database equals the source", async () => {
  const { replica, states, files } = await replicaFixture();
  await withOutDir(async (out) => {
    const output = `${out}/restored.db`;
    const { code, stdout, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      output,
      "--json",
    );
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout); // exactly one document, nothing else
    assert.ok(stdout.endsWith("}\n"), stdout);
    const { size } = await Deno.stat(output);
    assert.deepEqual(Object.keys(result), [
      "name",
      "output",
      "txid",
      "txidHex",
      "pageSize",
      "pageCount",
      "sizeBytes",
      "checksum",
      "files",
      "elapsedMs",
    ]);
    assert.equal(result.name, "app.db");
    assert.equal(result.output, output);
    assert.equal(result.txid, 4);
    assert.equal(result.txidHex, "0000000000000004");
    assert.equal(result.pageSize, 4096);
    assert.equal(result.sizeBytes, size);
    assert.equal(result.pageCount, size / 4096);
    assert.match(result.checksum, /^[0-9a-f]{16}$/);
    assert.deepEqual(
      result.files.map((f: { sizeBytes: number }) => f.sizeBytes),
      files.map((f) => f.sizeBytes),
    );
    assert.equal(typeof result.elapsedMs, "number");
    // Nothing but OUT: no temp file, no -wal (dumping it below opens it in WAL mode).
    assert.deepEqual(await listDir(out), ["restored.db"]);
    assert.deepEqual(dumpFile(output), states[ROUNDS - 1]);
  });
});

Deno.test("restore --txid restores the database as it was at that TXID", async () => {
  const { replica, states } = await replicaFixture();
  await withOutDir(async (out) => {
    const { code, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      `${out}/at2.db`,
      "--txid",
      "2",
    );
    assert.equal(code, 0, stderr);
    assert.deepEqual(dumpFile(`${out}/at2.db`), states[1]);
    assert.notDeepEqual(states[1], states[2]);
  });
});

Deno.test("restore --if-db-not-exists leaves an existing OUT untouched without reading the replica", async () => {
  await withOutDir(async (out) => {
    const output = `${out}/existing.db`;
    const bytes = crypto.getRandomValues(new Uint8Array(1000));
    await Deno.writeFile(output, bytes);
    // The replica does not exist: it must not be needed.
    const { code, stdout, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      `file://${out}/no-such-replica`,
      "-o",
      output,
      "--if-db-not-exists",
      "--log-format",
      "text",
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "");
    assert.match(stderr, new RegExp(`${output} already exists; nothing to do`));
    assert.deepEqual(await Deno.readFile(output), bytes);
    assert.deepEqual(await listDir(out), ["existing.db"]);
  });
});

Deno.test("restore --if-db-not-exists restores when OUT is absent", async () => {
  const { replica, states } = await replicaFixture();
  await withOutDir(async (out) => {
    const output = `${out}/new.db`;
    const { code, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      output,
      "--if-db-not-exists",
    );
    assert.equal(code, 0, stderr);
    assert.deepEqual(dumpFile(output), states[ROUNDS - 1]);
  });
});

Deno.test("an unknown NAME fails with exit 1, or exits 0 with --if-replica-exists", async () => {
  const { replica } = await replicaFixture();
  await withOutDir(async (out) => {
    const output = `${out}/other.db`;
    const missing = await walsync("restore", "other.db", "-b", replica, "-o", output);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      new RegExp(`error: Replica ${replica} has no files for "other\\.db"; .*--if-replica-exists`),
    );
    const allowed = await walsync(
      "restore",
      "other.db",
      "-b",
      replica,
      "-o",
      output,
      "--if-replica-exists",
      "--log-format",
      "text",
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /has no files for "other\.db"; nothing to do/);
    assert.deepEqual(await listDir(out), []);
  });
});

Deno.test("usage errors exit 2 naming the problem", async () => {
  const { replica } = await replicaFixture();
  const cases: [string[], RegExp][] = [
    [
      ["--integrity-check", "bogus"],
      /--integrity-check "bogus" is invalid; use none, quick or full/,
    ],
    [["--if-db-not-exists", "--force"], /--if-db-not-exists and --force are contradictory/],
    [["--txid", "3", "--timestamp", "2026-01-01T00:00:00Z"], /either --txid or --timestamp/],
  ];
  await withOutDir(async (out) => {
    for (const [flags, message] of cases) {
      const { code, stderr } = await walsync(
        "restore",
        "app.db",
        "-b",
        replica,
        "-o",
        `${out}/x.db`,
        ...flags,
      );
      assert.equal(code, 2, flags.join(" "));
      assert.match(stderr, message);
    }
    const noOutput = await walsync("restore", "app.db", "-b", replica);
    assert.equal(noOutput.code, 2);
    assert.match(noOutput.stderr, /restore needs -o OUT/);
    const noReplica = await walsync("restore", "app.db", "-o", `${out}/x.db`);
    assert.equal(noReplica.code, 2);
    assert.match(noReplica.stderr, /restore needs a replica/);
    assert.deepEqual(await listDir(out), []);
  });
});

Deno.test("restore --integrity-check full and none both restore the same database", async () => {
  const { replica, states } = await replicaFixture();
  await withOutDir(async (out) => {
    for (const mode of ["full", "none"]) {
      const output = `${out}/${mode}.db`;
      const { code, stderr } = await walsync(
        "restore",
        "app.db",
        "-b",
        replica,
        "-o",
        output,
        "--integrity-check",
        mode,
      );
      assert.equal(code, 0, stderr);
      assert.deepEqual(dumpFile(output), states[ROUNDS - 1]);
    }
  });
});

Deno.test("restore refuses to overwrite OUT, and --force replaces it", async () => {
  const { replica, states } = await replicaFixture();
  await withOutDir(async (out) => {
    const output = `${out}/existing.db`;
    const bytes = crypto.getRandomValues(new Uint8Array(1000));
    await Deno.writeFile(output, bytes);
    const refused = await walsync("restore", "app.db", "-b", replica, "-o", output);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /already exists; restore refuses to overwrite it \(use --force/);
    assert.deepEqual(await Deno.readFile(output), bytes);
    assert.deepEqual(await listDir(out), ["existing.db"]);

    await Deno.writeFile(`${output}-wal`, bytes);
    const forced = await walsync("restore", "app.db", "-b", replica, "-o", output, "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(await listDir(out), ["existing.db"]); // the stale -wal is gone
    assert.deepEqual(dumpFile(output), states[ROUNDS - 1]);
  });
});

Deno.test("restore prints plain progress lines on stderr when it is not a terminal", async () => {
  const { replica, files } = await replicaFixture();
  const totalBytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);
  assert.ok(totalBytes > LARGE_BLOB_BYTES * 9, `${totalBytes}`);
  await withOutDir(async (out) => {
    const { code, stdout, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      `${out}/restored.db`,
      "--json",
    );
    assert.equal(code, 0, stderr);
    JSON.parse(stdout); // progress never reaches stdout
    const lines = stderr.split("\n").filter((line) => line.startsWith("restore app.db: "));
    const final = lines.pop()!;
    const ratio = formatByteRatio(totalBytes, totalBytes, " of ");
    assert.match(
      final,
      new RegExp(`^restore app\\.db: 100% \\(${ratio}\\) in [0-9.]+m?s, [0-9.]+ [KMG]?i?B/s$`),
    );
    // One line per quarter (more only if the restore took longer than 5 s), rising.
    const percents = lines.map((line) => Number(/^restore app\.db: (\d+)% \(/.exec(line)![1]));
    assert.ok(percents.length >= 3, lines.join("\n"));
    assert.deepEqual(percents, [...percents].sort((a, b) => a - b));
    assert.deepEqual([...new Set(percents.map((p) => Math.floor(p / 25)))], [1, 2, 3]);
  });
});

Deno.test("restore's help names every option and gives examples", async () => {
  const { code, stdout } = await walsync("help", "restore");
  assert.equal(code, 0);
  assert.match(stdout, /Usage: walsync restore/);
  assert.match(stdout, /Example/);
  for (
    const flag of [
      "--output",
      "--bucket",
      "--endpoint",
      "--txid",
      "--timestamp",
      "--force",
      "--if-db-not-exists",
      "--if-replica-exists",
      "--integrity-check",
      "--dry-run",
      "--json",
      "--log-format",
      "--log-level",
    ]
  ) assert.ok(stdout.includes(flag), flag);
});

// ---------------------------------------------------------------------------------------
// The output file: its temp file, signals, modes, path errors, a running daemon.

/** Megabytes of incompressible rows in the large replica: a restore of it takes a while. */
const LARGE_REPLICA_MIB = 24;
const TEMP_NAME = /^restored\.db\..*walsync-tmp$/;

let largeFixture: Promise<string> | undefined;

/** A replica whose one snapshot holds `LARGE_REPLICA_MIB` MiB, for interrupting restores. */
function largeReplica(): Promise<string> {
  largeFixture ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-cli-restore-large-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const app = openWalDatabase(`${dir}/app.db`);
    app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)");
    for (let i = 0; i < LARGE_REPLICA_MIB; i++) {
      app.exec("INSERT INTO t (b) VALUES (randomblob(1024 * 1024))");
    }
    app.close();
    const replica = `file://${dir}/replica`;
    const watch = await walsync("watch", `${dir}/app.db`, "-b", replica, "--once");
    assert.equal(watch.code, 0, watch.stderr);
    return replica;
  })();
  return largeFixture;
}

/** Starts a restore in a child process, to be interrupted. */
function spawnRestore(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD_PATH, "restore", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits until the restore's temp file beside OUT holds data: the download is under way. */
async function waitForTempData(dir: string, child: Deno.ChildProcess): Promise<string> {
  let exited = false;
  child.status.then(() => exited = true);
  while (!exited) {
    for await (const entry of Deno.readDir(dir)) {
      if (!TEMP_NAME.test(entry.name)) continue;
      const { size } = await Deno.stat(`${dir}/${entry.name}`).catch(() => ({ size: 0 }));
      if (size > 0) return entry.name;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error("the restore ended before its temp file held data");
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`restore interrupted by ${signal} removes its temp file, writes no OUT and exits 1`, async () => {
    const replica = await largeReplica();
    await withOutDir(async (out) => {
      const child = spawnRestore(["app.db", "-b", replica, "-o", `${out}/restored.db`]);
      await waitForTempData(out, child);
      child.kill(signal);
      const { code, stderr } = await child.output();
      const text = new TextDecoder().decode(stderr);
      assert.equal(code, 1, text);
      assert.match(
        text,
        new RegExp(
          `error: Restore interrupted by ${signal}; "${out}/restored\\.db" was not written`,
        ),
      );
      assert.deepEqual(await listDir(out), []);
    });
  });
}

Deno.test("a restore killed with SIGKILL leaves a temp file the next restore of OUT removes", async () => {
  const replica = await largeReplica();
  await withOutDir(async (out) => {
    const child = spawnRestore(["app.db", "-b", replica, "-o", `${out}/restored.db`]);
    const temp = await waitForTempData(out, child);
    child.kill("SIGKILL");
    await child.output();
    assert.match(temp, /^restored\.db\.[0-9a-f]{16}\.walsync-tmp$/);
    // Another output's temp file in the same directory is not this restore's business.
    const other = `${out}/other.db.0123456789abcdef.walsync-tmp`;
    await Deno.writeTextFile(other, "");
    assert.ok((await listDir(out)).includes(temp));

    const again = await walsync("restore", "app.db", "-b", replica, "-o", `${out}/restored.db`);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`removed .*${temp.replaceAll(".", "\\.")}`));
    assert.deepEqual(await listDir(out), ["other.db.0123456789abcdef.walsync-tmp", "restored.db"]);
  });
});

Deno.test("restore never touches a file of the user's that has the old temp file name", async () => {
  const { replica, states } = await replicaFixture();
  await withOutDir(async (out) => {
    const mine = `${out}/restored.db.walsync-tmp`;
    await Deno.writeTextFile(mine, "mine");
    const { code, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      `${out}/restored.db`,
    );
    assert.equal(code, 0, stderr);
    assert.equal(await Deno.readTextFile(mine), "mine");
    assert.deepEqual(await listDir(out), ["restored.db", "restored.db.walsync-tmp"]);
    assert.deepEqual(dumpFile(`${out}/restored.db`), states[ROUNDS - 1]);
  });
});

Deno.test("restore output-path errors name the path, exit 1 and download nothing", async () => {
  const { replica } = await replicaFixture();
  await withOutDir(async (out) => {
    await Deno.mkdir(`${out}/dir`);
    const cases: [string[], RegExp][] = [
      [["-o", `${out}/dir`, "--force"], new RegExp(`Output "${out}/dir" is a directory`)],
      [["-o", `${out}/dir`], new RegExp(`Output "${out}/dir" is a directory`)],
      [
        ["-o", `${out}/missing/x.db`],
        new RegExp(`Output directory "${out}/missing" does not exist`),
      ],
      [["-o", `${out}/new/`], new RegExp(`Output "${out}/new/" ends with "/"`)],
    ];
    // A directory walsync may not create files in: a read-only one, or for root (who may
    // write anywhere else) /sys.
    const root = Deno.uid() === 0;
    const unwritable = root ? "/sys" : `${out}/readonly`;
    if (!root) await Deno.mkdir(unwritable, { mode: 0o555 });
    cases.push([
      ["-o", `${unwritable}/x.db`],
      new RegExp(
        `Cannot create a file in "${unwritable}" for "${unwritable}/x\\.db": permission denied`,
      ),
    ]);
    for (const [flags, message] of cases) {
      const { code, stderr } = await walsync("restore", "app.db", "-b", replica, ...flags);
      assert.equal(code, 1, `${flags.join(" ")}: ${stderr}`);
      assert.doesNotMatch(stderr, /internal error|restore plan/);
      assert.match(stderr, message);
    }
    assert.deepEqual(await listDir(out), root ? ["dir"] : ["dir", "readonly"]);
    if (!root) {
      assert.deepEqual(await listDir(unwritable), []);
      await Deno.chmod(unwritable, 0o755);
    }
  });
});

/** Runs the CLI under umask 022, the usual default, so modes are what a user would get. */
async function walsyncUmask022(...args: string[]) {
  const out = await new Deno.Command("sh", {
    args: ["-c", 'umask 022 && exec "$@"', "sh", Deno.execPath(), "run", "-A", MOD_PATH, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "restore writes a new OUT with mode 0600, and --force keeps an existing OUT's mode",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const { replica } = await replicaFixture();
    await withOutDir(async (out) => {
      const fresh = await walsyncUmask022(
        "restore",
        "app.db",
        "-b",
        replica,
        "-o",
        `${out}/new.db`,
      );
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.equal((await Deno.stat(`${out}/new.db`)).mode! & 0o777, 0o600);

      await Deno.writeTextFile(`${out}/existing.db`, "old");
      await Deno.chmod(`${out}/existing.db`, 0o640);
      const forced = await walsyncUmask022(
        "restore",
        "app.db",
        "-b",
        replica,
        "-o",
        `${out}/existing.db`,
        "--force",
      );
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal((await Deno.stat(`${out}/existing.db`)).mode! & 0o777, 0o640);
    });
  },
});

Deno.test("restore --force refuses a database that a running watch replicates, naming its pid", async () => {
  const { replica } = await replicaFixture();
  await withOutDir(async (out) => {
    const db = `${out}/live.db`;
    const app = openWalDatabase(db);
    app.exec("CREATE TABLE live (id INTEGER PRIMARY KEY, v TEXT)");
    app.exec("INSERT INTO live (v) VALUES ('mine')");
    const before = dumpDatabase(app);
    const watch = new WalsyncProcess(["watch", db, "-b", `file://${out}/live-replica`]);
    try {
      await watch.ready();
      const { pid } = JSON.parse(await Deno.readTextFile(`${out}/.live.db-walsync/lock`));
      const { code, stdout, stderr } = await walsync(
        "restore",
        "app.db",
        "-b",
        replica,
        "-o",
        db,
        "--force",
      );
      assert.equal(code, 1, stderr);
      assert.equal(stdout, "");
      assert.match(
        stderr,
        new RegExp(
          `error: Database "${db}" is being replicated by walsync \\(pid ${pid}\\); stop that walsync first, or restore to another path`,
        ),
      );
      assert.deepEqual(dumpDatabase(app), before);
    } finally {
      const stopped = await watch.stop();
      app.close();
      assert.equal(stopped.code, 0, stopped.stderr);
    }
  });
});

Deno.test("restore without --json prints a one-line result on stdout", async () => {
  const { replica } = await replicaFixture();
  await withOutDir(async (out) => {
    const output = `${out}/restored.db`;
    const { code, stdout, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      replica,
      "-o",
      output,
    );
    assert.equal(code, 0, stderr);
    const { size } = await Deno.stat(output);
    const json = JSON.parse(
      (await walsync("restore", "app.db", "-b", replica, "-o", output, "--force", "--json")).stdout,
    );
    assert.equal(
      stdout,
      `restored app.db to ${output}: TXID 4 (0000000000000004), ${size / 4096} pages, ${
        formatBytes(size)
      }, checksum ${json.checksum}\n`,
    );
  });
});

Deno.test("a restore that fails its final check never shows 100%", async () => {
  const { dir } = await replicaFixture();
  await withOutDir(async (out) => {
    // A copy of the replica whose last object records a wrong database checksum.
    const copy = `${out}/replica`;
    await new Deno.Command("cp", { args: ["-r", `${dir}/replica`, copy] }).output();
    const last = `${copy}/app.db/ltx/0/0000000000000004-0000000000000004.ltx.meta.json`;
    const meta = JSON.parse(await Deno.readTextFile(last));
    await Deno.writeTextFile(
      last,
      JSON.stringify({ ...meta, databaseChecksum: "8000000000000001" }),
    );
    const { code, stderr } = await walsync(
      "restore",
      "app.db",
      "-b",
      `file://${copy}`,
      "-o",
      `${out}/restored.db`,
    );
    assert.equal(code, 1, stderr);
    assert.match(stderr, /error: Restored database checksum/);
    assert.doesNotMatch(stderr, /100%/);
    assert.deepEqual(await listDir(out), ["replica"]);
  });
});
