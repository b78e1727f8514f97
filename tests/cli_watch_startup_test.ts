/**
 * `walsync watch` at start-up: a daemon that can replicate none of its databases exits 1
 * with one message instead of idling with zero databases; one that can replicate some keeps
 * going and names the others. Nothing is left behind for a file that is not a database.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./support/cli.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";
import { logLines } from "./support/watch_fixture.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });

function createDatabase(path: string): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  db.close();
}

/** Runs the CLI, killing it if it has not exited after `limitMs` (then the code is null). */
async function runBounded(
  args: string[],
  limitMs: number,
): Promise<{ code: number | null; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../mod.ts", import.meta.url).pathname, ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, limitMs);
  const out = await child.output();
  clearTimeout(timer);
  return { code: timedOut ? null : out.code, stderr: new TextDecoder().decode(out.stderr) };
}

test("a second watch whose every configured database is held by the first exits 1 naming them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-startup-" });
  for (const name of ["a", "b"]) createDatabase(`${dir}/${name}.db`);
  const config = (replica: string) =>
    `[s3]\nbucket = "file://${dir}/${replica}"\n[[databases]]\npath = "${dir}/*.db"\n`;
  await Deno.writeTextFile(`${dir}/first.toml`, config("replica-1"));
  await Deno.writeTextFile(`${dir}/second.toml`, config("replica-2"));
  const first = new WalsyncProcess(["watch", "--config", `${dir}/first.toml`]);
  try {
    await first.ready();
    // Far longer than start-up takes: a daemon still running then idles with zero databases.
    const second = await runBounded(
      ["watch", "--config", `${dir}/second.toml`, "--log-format", "json"],
      30_000,
    );
    assert.equal(second.code, 1, `exit code (null: still running)\n${second.stderr}`);
    const final = second.stderr.trim().split("\n").at(-1)!;
    assert.match(final, /^error: No database could be replicated \(2 tried\)/);
    assert.ok(final.includes(`${dir}/a.db`) && final.includes(`${dir}/b.db`), final);
    assert.match(final, /Another walsync process is replicating/);
  } finally {
    await first.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

test("a watch that can replicate some databases keeps going and names the one it cannot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-startup-" });
  try {
    createDatabase(`${dir}/good.db`);
    await Deno.writeTextFile(`${dir}/notes.db`, "not a database, just text");
    const run = await runWalsync([
      "watch",
      `${dir}/good.db`,
      `${dir}/notes.db`,
      "-b",
      `file://${dir}/replica`,
      "--once",
      "--log-format",
      "json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const errors = logLines(run.stderr, "error", /cannot replicate database/);
    assert.equal(errors.length, 1, run.stderr);
    assert.equal(errors[0].path, `${dir}/notes.db`);
    assert.match(String(errors[0].error), /is not a SQLite database/);
    await Deno.stat(`${dir}/replica/good.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("a file that is not a database is refused and leaves no staging directory behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-startup-" });
  try {
    await Deno.writeTextFile(`${dir}/notes.db`, "not a database, just text");
    await Deno.writeFile(`${dir}/empty.db`, new Uint8Array());
    const run = await runWalsync([
      "watch",
      `${dir}/notes.db`,
      `${dir}/empty.db`,
      "-b",
      `file://${dir}/replica`,
      "--once",
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /No database could be replicated \(2 tried\)/);
    assert.match(run.stderr, /notes\.db.*is not a SQLite database/);
    assert.match(run.stderr, /empty\.db.*is empty/);
    // The replica holds only its writer lock; nothing is staged beside the files.
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "replica");
    assert.deepEqual(left.sort(), ["empty.db", "notes.db"]);
    assert.equal(
      Deno.statSync(`${dir}/empty.db`).size,
      0,
      "an empty file is not turned into a database",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
