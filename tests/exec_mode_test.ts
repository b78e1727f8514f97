/**
 * `watch --exec`: the application runs as walsync's child; its exit code (0, 3, killed by a
 * signal → 128 + N) becomes walsync's, the row it wrote just before exiting is in the
 * replica (the final sync ran after it exited), and SIGTERM sent to walsync reaches it.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { openWalDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const APP = new URL("./support/exec_app.ts", import.meta.url).pathname;
/** A bound far above any expected wait: only a hang reaches it. */
const HANG_MS = 60_000;

/** Windows: POSIX signals and exit statuses differ; these run on Linux and macOS. */
const NOT_POSIX = Deno.build.os === "windows";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-exec-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function createDatabase(path: string): void {
  const db = openWalDatabase(path);
  db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, v TEXT)");
  db.exec("INSERT INTO events (v) VALUES ('before')");
  db.close();
}

/** The rows of `events` in the database restored from `replica`. */
async function restoredEvents(dir: string, replica: string): Promise<string[]> {
  const out = `${dir}/restored-${crypto.randomUUID()}.db`;
  const run = await runWalsync(["restore", "app.db", "-o", out, "-b", replica]);
  assert.equal(run.code, 0, run.stderr);
  const db = new DatabaseSync(out);
  try {
    return (db.prepare("SELECT v FROM events ORDER BY id").all() as { v: string }[]).map((r) =>
      r.v
    );
  } finally {
    db.close();
  }
}

function execLine(...args: string[]): string {
  // Quoted as the shell-like splitter reads it: paths with spaces survive.
  return [Deno.execPath(), "run", "-A", APP, ...args].map((a) => `'${a}'`).join(" ");
}

for (
  const { mode, code, row } of [
    { mode: "exit:0", code: 0, row: "exit 0" },
    { mode: "exit:3", code: 3, row: "exit 3" },
    { mode: "kill", code: 128 + 9, row: "killed" },
  ]
) {
  Deno.test({
    name:
      `watch --exec exits with the application's code (${mode} → ${code}) after shipping its last row`,
    ignore: NOT_POSIX,
    fn: async () => {
      await withDir(async (dir) => {
        createDatabase(`${dir}/app.db`);
        const replica = `file://${dir}/replica`;
        const watch = new WalsyncProcess([
          "watch",
          `${dir}/app.db`,
          "-b",
          replica,
          "--exec",
          execLine(`${dir}/app.db`, mode),
        ]);
        try {
          const exited = await watch.exited(HANG_MS);
          assert.equal(exited, code, watch.stderr);
          assert.match(watch.stderr, /"msg":"the application exited"/);
          assert.deepEqual(await restoredEvents(dir, replica), ["before", row]);
        } finally {
          await watch.kill();
        }
      });
    },
  });
}

Deno.test({
  name: "SIGTERM sent to walsync --exec reaches the application, whose exit code walsync returns",
  ignore: NOT_POSIX,
  fn: async () => {
    await withDir(async (dir) => {
      createDatabase(`${dir}/app.db`);
      const replica = `file://${dir}/replica`;
      const ready = `${dir}/ready`;
      const watch = new WalsyncProcess([
        "watch",
        `${dir}/app.db`,
        "-b",
        replica,
        "--exec",
        execLine(`${dir}/app.db`, "wait:7", ready),
      ]);
      try {
        const deadline = Date.now() + HANG_MS;
        while (!(await exists(ready))) {
          assert.ok(Date.now() < deadline, `the application never started:\n${watch.stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        watch.signal("SIGTERM");
        assert.equal(await watch.exited(HANG_MS), 7, watch.stderr);
        assert.match(
          watch.stderr,
          /"msg":"signal forwarded to the application".*"signal":"SIGTERM"/,
        );
        assert.deepEqual(await restoredEvents(dir, replica), ["before", "sigterm"]);
      } finally {
        await watch.kill();
      }
    });
  },
});

Deno.test({
  name: "watch --exec refuses an unterminated quote and --once, as usage errors",
  ignore: NOT_POSIX,
  fn: async () => {
    const quote = await runWalsync(["watch", "x.db", "-b", "file:///tmp/x", "--exec", "app 'oops"]);
    assert.equal(quote.code, 2, quote.stderr);
    assert.match(quote.stderr, /unterminated ' quote/);
    const once = await runWalsync([
      "watch",
      "x.db",
      "-b",
      "file:///tmp/x",
      "--once",
      "--exec",
      "app",
    ]);
    assert.equal(once.code, 2, once.stderr);
    assert.match(once.stderr, /--once/);
  },
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "a database the application created is picked up and shipped before walsync exits",
  ignore: NOT_POSIX,
  fn: async () => {
    await withDir(async (dir) => {
      await Deno.mkdir(`${dir}/data`);
      await Deno.writeTextFile(`${dir}/walsync.toml`, `[[databases]]\npath = "data/*.db"\n`);
      const replica = `file://${dir}/replica`;
      const watch = new WalsyncProcess([
        "watch",
        "--config",
        `${dir}/walsync.toml`,
        "-b",
        replica,
        "--exec",
        execLine(`${dir}/data/app.db`, "exit:5"),
      ]);
      try {
        assert.equal(await watch.exited(HANG_MS), 5, watch.stderr);
        assert.deepEqual(await restoredEvents(dir, replica), ["exit 5"]);
      } finally {
        await watch.kill();
      }
    });
  },
});
