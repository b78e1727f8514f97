import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import {
  DEFAULT_CHECKPOINT_MODES,
  DEFAULT_SIZES_MB,
  parseRealworldArgs,
  REALWORLD_TESTS,
} from "./args.ts";

Deno.test("parseRealworldArgs runs every test on S3 with the seed's sizes by default", () => {
  const options = parseRealworldArgs([]);
  assert.deepStrictEqual(options.tests, REALWORLD_TESTS);
  assert.equal(options.replica, "s3");
  assert.deepStrictEqual(options.sizesMb, DEFAULT_SIZES_MB);
  assert.deepStrictEqual(options.checkpointModes, DEFAULT_CHECKPOINT_MODES);
});

Deno.test("parseRealworldArgs takes one test or a list, and checkpoint modes in any case", () => {
  assert.deepStrictEqual(parseRealworldArgs(["--test", "restore"]).tests, ["restore"]);
  const options = parseRealworldArgs([
    "--test=sync,network",
    "--replica",
    "file",
    "--sizes",
    "1,10,100",
    "--checkpoint-modes",
    "full,restart",
  ]);
  assert.deepStrictEqual(options.tests, ["sync", "network"]);
  assert.equal(options.replica, "file");
  assert.deepStrictEqual(options.sizesMb, [1, 10, 100]);
  assert.deepStrictEqual(options.checkpointModes, ["FULL", "RESTART"]);
});

Deno.test("parseRealworldArgs names the flag and the value it refuses", () => {
  const cases: [string[], RegExp][] = [
    [["--test", "latency"], /--test names "latency"; known: sync, restore, /],
    [["--replica", "tigris"], /--replica is s3 or file, not "tigris"/],
    [["--sizes", "1,big"], /--sizes needs a positive number, not "big"/],
    [["--samples", "2.5"], /--samples needs a whole number, not "2.5"/],
    [["--checkpoint-modes", "lazy"], /--checkpoint-modes names "LAZY"/],
    [["--dbs", "5"], /Unknown option '--dbs'/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseRealworldArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, String(error));
      assert.match(error.message, message);
      assert.match(error.message, /run "deno task bench-realworld --help" for usage$/);
      return true;
    });
  }
});
