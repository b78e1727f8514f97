/** `walsync replicate`: usage errors exit 2 naming what is wrong, before anything is written. */
import assert from "node:assert/strict";
import { runWalsync } from "./support/cli.ts";

Deno.test("replicate refuses bad usage with exit 2 and a message naming the problem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-replicate-cli-" });
  const replica = `file://${dir}/rep`;
  Deno.writeTextFileSync(`${dir}/mine.db`, "not a copy walsync wrote");
  const cases: [string[], RegExp][] = [
    [["app.db", "-b", replica], /needs -o PATH/],
    [["-b", replica, "-o", `${dir}/c.db`], /exactly one NAME or PATTERN, or --all/],
    [["app.db", "--all", "-b", replica, "-o", dir], /--all takes no NAME/],
    [["app.db", "-b", replica, "-o", dir], /is a directory; give the path of the copy/],
    [["--all", "-b", replica, "-o", `${dir}/mine.db`], /must be a directory/],
    [["app.db", "-b", replica, "-o", `${dir}/mine.db`], /is not a walsync follower copy/],
    [["app.db", "-b", replica, "-o", `${dir}/c.db`, "--interval", "soon"], /--interval "soon"/],
    [
      ["app.db", "-b", replica, "-o", `${dir}/c.db`, "--intervall", "1s"],
      /did you mean "--interval"/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runWalsync(["replicate", ...args]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  assert.equal(Deno.readTextFileSync(`${dir}/mine.db`), "not a copy walsync wrote");
  const help = await runWalsync(["replicate", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /busy_timeout/);
});
