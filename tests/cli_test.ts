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

Deno.test("a single-dash long option or a misspelt one gets a did-you-mean", async () => {
  const cases: [string[], string][] = [
    [
      ["restore", "app.db", "-txid", "3", "-o", "x.db"],
      'Unknown option "-txid"; did you mean "--txid"?',
    ],
    [
      ["restore", "app.db", "-txid=3", "-o", "x.db"],
      'Unknown option "-txid=3"; did you mean "--txid"?',
    ],
    [
      ["restore", "app.db", "--tixd", "3", "-o", "x.db"],
      'Unknown option "--tixd"; did you mean "--txid"?',
    ],
    [
      ["watch", "app.db", "--sync-intervall=1s"],
      'Unknown option "--sync-intervall=1s"; did you mean "--sync-interval"?',
    ],
    [["list", "-json"], 'Unknown option "-json"; did you mean "--json"?'],
    [
      ["watch", "app.db", "--bogus"],
      'Unknown option "--bogus"; run "walsync help watch" for usage',
    ],
  ];
  for (const [args, message] of cases) {
    const run = await walsync(...args);
    assert.equal(run.code, 2, args.join(" "));
    assert.equal(run.stderr, `error: ${message}\n`);
  }
});

Deno.test("every command's help starts its option descriptions in one column", async () => {
  const signature = /^( +(?:-\w, )?--[\w-]+(?:\[=false\])?(?: [A-Z]+)?)( +)(\S\S)/;
  for (
    const command of [
      "watch",
      "restore",
      "snapshot",
      "list",
      "verify",
      "explain",
      "status",
      "compact",
    ]
  ) {
    const { stdout } = await walsync(command, "--help");
    const lines = stdout.split("\n");
    const start = lines.indexOf("Options:");
    assert.ok(start >= 0, `${command} --help has an Options: section`);
    const columns = new Set<number>();
    for (const line of lines.slice(start + 1)) {
      if (line.trim() === "") break;
      const option = signature.exec(line);
      if (option) {
        columns.add(option[1].length + option[2].length);
      } else if (/^ {8,}\S/.test(line)) {
        columns.add(line.length - line.trimStart().length); // a description's next line
      }
    }
    assert.equal(
      columns.size,
      1,
      `${command} --help: descriptions start at columns ${[...columns]}`,
    );
  }
});
