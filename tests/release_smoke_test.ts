/**
 * release/smoke.sh is what the release workflow runs on each binary's own OS; here it runs
 * against the source with exactly the release's permission flags, so a broken smoke script
 * shows up before a tagged run does. Its Windows mode runs through an entry that tells the CLI
 * it is on Windows.
 */
import assert from "node:assert/strict";
import { PERMISSION_FLAGS, V8_FLAGS } from "../release/permissions.ts";
import { MOD_PATH } from "./support/cli.ts";

const SMOKE = new URL("../release/smoke.sh", import.meta.url).pathname;
const AS_WINDOWS = new URL("./support/walsync_as_windows.ts", import.meta.url).pathname;

async function smoke(mode: string, entry: string): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command("bash", {
    args: [
      SMOKE,
      mode,
      Deno.execPath(),
      "run",
      "--no-prompt",
      ...PERMISSION_FLAGS,
      V8_FLAGS,
      entry,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const posix = Deno.build.os !== "windows";

Deno.test({
  name: "release/smoke.sh full passes against the source with the release's permissions",
  ignore: !posix,
  fn: async () => {
    const { code, stderr } = await smoke("full", MOD_PATH);
    assert.equal(code, 0, stderr);
    for (const step of ["version", "watch --once", "restore", "verify", "snapshot", "explain"]) {
      assert.match(stderr, new RegExp(`--- smoke: ${step}`), step);
    }
    assert.match(stderr, /smoke: OK \(full\)/);
  },
});

Deno.test({
  name: "release/smoke.sh windows checks the refusals and restores Litestream's replica",
  ignore: !posix,
  fn: async () => {
    const { code, stderr } = await smoke("windows", AS_WINDOWS);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /--- smoke: watch refuses on Windows/);
    assert.match(stderr, /--- smoke: snapshot refuses on Windows/);
    assert.match(stderr, /"walsync snapshot" does not run on Windows/);
    assert.match(stderr, /smoke: OK \(windows\)/);
  },
});

Deno.test({
  name: "release/smoke.sh windows fails when watch runs instead of refusing",
  ignore: !posix,
  fn: async () => {
    const { code, stderr } = await smoke("windows", MOD_PATH);
    assert.equal(code, 1);
    assert.match(stderr, /smoke: FAILED: watch exited 1, expected 2/);
  },
});
