import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "./duration.ts";

Deno.test("parseDuration reads ms, s, m, h and plain seconds", () => {
  assert.equal(parseDuration("100ms", "--sync-interval"), 100);
  assert.equal(parseDuration("5s", "--sync-interval"), 5000);
  assert.equal(parseDuration("1.5s", "--sync-interval"), 1500);
  assert.equal(parseDuration("1m", "--sync-interval"), 60_000);
  assert.equal(parseDuration("1h", "--sync-interval"), 3_600_000);
  assert.equal(parseDuration("30", "--sync-interval"), 30_000);
  assert.equal(parseDuration(2, "sync.interval"), 2000);
  assert.equal(parseDuration("0", "--sync-interval"), 0);
});

Deno.test("parseDuration names the flag and the bad value", () => {
  for (const bad of ["fast", "-1s", "5 days", "1d", ""]) {
    assert.throws(
      () => parseDuration(bad, "--sync-interval"),
      new RegExp(`--sync-interval "${bad}" is not a duration`),
    );
  }
  assert.throws(() => parseDuration(-3, "sync.interval"), /sync.interval "-3" is not a duration/);
});

Deno.test("formatDuration picks the largest whole unit", () => {
  assert.deepEqual([3_600_000, 120_000, 5000, 1500, 0].map(formatDuration), [
    "1h",
    "2m",
    "5s",
    "1500ms",
    "0s",
  ]);
});
