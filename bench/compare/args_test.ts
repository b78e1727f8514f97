import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { DEFAULT_DB_COUNTS, parseCompareArgs, VARIANT_IDS, writtenCount } from "./args.ts";

Deno.test("parseCompareArgs defaults to the seed's counts, every variant and a file replica", () => {
  const options = parseCompareArgs([]);
  assert.deepStrictEqual(options.dbCounts, DEFAULT_DB_COUNTS);
  assert.deepStrictEqual(options.variants, VARIANT_IDS);
  assert.deepStrictEqual(options.replica, "file");
  assert.deepStrictEqual(options.writers, null);
  assert.deepStrictEqual(options.json, false);
  assert.deepStrictEqual(options.install, true);
});

Deno.test("parseCompareArgs takes any list of counts, sorted and without repeats", () => {
  const options = parseCompareArgs([
    "--dbs",
    "5000,100,1000,100",
    "--duration",
    "2.5",
    "--db-size=1000",
    "--replica",
    "s3",
    "--writers",
    "0",
    "--tools",
    "walsync,litestream-0.5",
    "--json",
    "--no-install",
  ]);
  assert.deepStrictEqual(options.dbCounts, [100, 1000, 5000]);
  assert.deepStrictEqual(options.durationSeconds, 2.5);
  assert.deepStrictEqual(options.dbSizeKb, 1000);
  assert.deepStrictEqual(options.replica, "s3");
  assert.deepStrictEqual(options.writers, 0);
  assert.deepStrictEqual(options.variants, ["walsync", "litestream-0.5"]);
  assert.deepStrictEqual(options.json, true);
  assert.deepStrictEqual(options.install, false);
});

Deno.test("parseCompareArgs names the flag and the value it refuses", () => {
  const cases: [string[], RegExp][] = [
    [["--dbs", "1,x"], /--dbs needs a positive number, not "x"/],
    [["--dbs", "1.5"], /--dbs needs a whole number, not "1.5"/],
    [["--dbs", "0"], /--dbs needs a positive number, not "0"/],
    [["--replica", "gcs"], /--replica is file or s3, not "gcs"/],
    [["--tools", "walsync,rsync"], /--tools names "rsync"; known: walsync, /],
    [["--writers=-1"], /--writers needs a whole number of databases \(0 or more\), not "-1"/],
    [["--duration", ""], /--duration needs a positive number, not ""/],
    [["--bogus"], /Unknown option '--bogus'/],
    [["--writers", "-1"], /Option '--writers' argument is ambiguous; run/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseCompareArgs(args), (error: unknown) => {
      assert.deepStrictEqual(error instanceof UsageError, true, String(error));
      assert.deepStrictEqual(
        message.test((error as Error).message),
        true,
        (error as Error).message,
      );
      assert.deepStrictEqual(
        (error as Error).message.endsWith('"deno task bench-compare --help" for usage'),
        true,
      );
      return true;
    });
  }
});

Deno.test("writtenCount writes every database up to 100 unless --writers says otherwise", () => {
  assert.deepStrictEqual(writtenCount({ writers: null }, 20), 20);
  assert.deepStrictEqual(writtenCount({ writers: null }, 5000), 100);
  assert.deepStrictEqual(writtenCount({ writers: 10 }, 5), 5);
  assert.deepStrictEqual(writtenCount({ writers: 0 }, 5), 0);
});
