/**
 * Copies of a database are no more readable than the database: staging and file-replica
 * objects take the database's mode, whatever the umask. Runs the real CLI under umask 022, so
 * every file walsync creates without an explicit mode would come out 0644 (directories 0755).
 */
import assert from "node:assert/strict";
import { MOD_PATH } from "./support/cli.ts";
import { openWalDatabase } from "./support/sqlite.ts";

/** `walsync ARGS` under `umask 022` (Deno has no umask setter). */
async function runWalsyncUmask022(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command("sh", {
    args: ["-c", 'umask 022; exec "$@"', "sh", Deno.execPath(), "run", "-A", MOD_PATH, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Every file and directory under `root` (itself included) with its permission bits. */
async function modesUnder(root: string): Promise<Map<string, string>> {
  const modes = new Map<string, string>();
  const visit = async (path: string) => {
    const info = await Deno.lstat(path);
    modes.set(
      `${path.slice(root.length) || "."}${info.isDirectory ? "/" : ""}`,
      (info.mode! & 0o777).toString(8).padStart(4, "0"),
    );
    if (info.isDirectory) {
      for await (const entry of Deno.readDir(path)) await visit(`${path}/${entry.name}`);
    }
  };
  await visit(root);
  return modes;
}

/** `modes` with every directory expected at `dirMode` and every file at `fileMode`. */
function expected(modes: Map<string, string>, dirMode: string, fileMode: string) {
  return new Map([...modes.keys()].map((key) => [key, key.endsWith("/") ? dirMode : fileMode]));
}

Deno.test({
  name: "watch gives a 0600 database's staging and file-replica objects its mode under umask 022",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-modes-" });
    try {
      const db = `${dir}/app.db`;
      const app = openWalDatabase(db);
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      app.exec("INSERT INTO t (v) VALUES ('private')");
      for (const path of [db, `${db}-wal`, `${db}-shm`]) await Deno.chmod(path, 0o600);
      const staging = `${dir}/.app.db-walsync`;

      // A replica whose level-0 directory is a file: the upload fails, so the staged LTX
      // files and their metadata stay in staging for inspection.
      await Deno.mkdir(`${dir}/blocked/app.db/ltx`, { recursive: true });
      await Deno.writeTextFile(`${dir}/blocked/app.db/ltx/0`, "not a directory");
      const blocked = await runWalsyncUmask022([
        "watch",
        db,
        "-b",
        `file://${dir}/blocked`,
        "--once",
      ]);
      const pending = [...(await modesUnder(staging)).keys()].filter((p) => p.endsWith(".ltx"));
      assert.ok(pending.length > 0, `the failed upload leaves staged files: ${blocked.stderr}`);
      const staged = await modesUnder(staging);
      assert.deepEqual(staged, expected(staged, "0700", "0600"));

      app.exec("INSERT INTO t (v) VALUES ('more')");
      const run = await runWalsyncUmask022(["watch", db, "-b", `file://${dir}/replica`, "--once"]);
      assert.equal(run.code, 0, run.stderr);
      const replica = await modesUnder(`${dir}/replica/app.db`);
      assert.ok([...replica.keys()].some((p) => p.endsWith(".ltx")), "files were uploaded");
      assert.ok([...replica.keys()].some((p) => p.endsWith(".ltx.meta.json")));
      assert.deepEqual(replica, expected(replica, "0700", "0600"));
      const after = await modesUnder(staging);
      assert.ok(after.has("/state") && after.has("/lock"), [...after.keys()].join(" "));
      assert.deepEqual(after, expected(after, "0700", "0600"));
      app.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a 0640 database's copies keep group read and nothing more under umask 022",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "walsync-modes-" });
    try {
      const db = `${dir}/app.db`;
      const app = openWalDatabase(db);
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      app.close();
      await Deno.chmod(db, 0o640);
      const run = await runWalsyncUmask022(["watch", db, "-b", `file://${dir}/replica`, "--once"]);
      assert.equal(run.code, 0, run.stderr);
      const replica = await modesUnder(`${dir}/replica/app.db`);
      assert.deepEqual(replica, expected(replica, "0750", "0640"));
      const staging = await modesUnder(`${dir}/.app.db-walsync`);
      assert.deepEqual(staging, expected(staging, "0750", "0640"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
