import assert from "node:assert/strict";
import { VERSION } from "../src/version.ts";
import { runWalsync } from "./support/cli.ts";

const walsync = (...args: string[]) => runWalsync(args);

Deno.test("walsync version prints the version on stdout and exits 0", async () => {
  const { code, stdout } = await walsync("version");
  assert.equal(code, 0);
  assert.match(stdout, new RegExp(`^walsync ${VERSION.replaceAll(".", "\\.")} `));
});

Deno.test("the version constant equals the version in deno.json", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(config.version, VERSION);
});

Deno.test("an unknown command exits 2 and names the command on stderr", async () => {
  const { code, stdout, stderr } = await walsync("frobnicate");
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(stderr, /Unknown command "frobnicate"/);
});

Deno.test("unknown flags and flags without a value exit 2 naming the flag", async () => {
  const unknown = await walsync("watch", "app.db", "--bogus", "-b", "file:///tmp/x");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown option "--bogus"/);
  const missing = await walsync("restore", "app.db", "-o");
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Option "-o" needs a value/);
  const badDuration = await walsync(
    "watch",
    "app.db",
    "-b",
    "file:///tmp/x",
    "--sync-interval=soon",
  );
  assert.equal(badDuration.code, 2);
  assert.match(badDuration.stderr, /--sync-interval must be a duration .*got "soon"/);
});

Deno.test("help for each command prints its usage with examples and exits 0", async () => {
  for (
    const command of [
      "watch",
      "restore",
      "snapshot",
      "list",
      "verify",
      "explain",
      "version",
      "help",
    ]
  ) {
    for (const args of [["help", command], [command, "--help"]]) {
      const { code, stdout } = await walsync(...args);
      assert.equal(code, 0);
      assert.match(stdout, new RegExp(`Usage: walsync ${command}`));
      assert.match(stdout, /Example/);
    }
  }
});
