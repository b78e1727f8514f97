import assert from "node:assert/strict";
import { countEntries, countOpenFds, readFdLimit, readFdLimitFromShell } from "./fd_budget.ts";

// Linux answers both ways, so the fallbacks macOS uses are checked against /proc here.

Deno.test({
  name: "readFdLimitFromShell (macOS's way) reads the same soft limit as /proc/self/limits",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const fromProc = readFdLimit();
    assert.ok(fromProc !== null && fromProc > 0);
    assert.equal(readFdLimitFromShell(), fromProc);
  },
});

Deno.test({
  name: "/dev/fd (macOS's way) counts the same open descriptors as /proc/self/fd",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const before = countEntries("/dev/fd");
    const files = [0, 1, 2, 3, 4].map(() => Deno.openSync(new URL(import.meta.url)));
    try {
      const viaDev = countEntries("/dev/fd");
      const viaProc = countOpenFds();
      assert.ok(before !== null && viaDev !== null && viaProc !== null);
      assert.equal(viaDev - before, 5, "five more descriptors seen through /dev/fd");
      assert.equal(viaDev, viaProc);
    } finally {
      for (const file of files) file.close();
    }
  },
});

Deno.test({
  name: "on macOS the descriptor budget is known without /proc",
  ignore: Deno.build.os !== "darwin",
  fn: () => {
    assert.ok((readFdLimit() ?? 0) > 0);
    assert.ok((countOpenFds() ?? 0) > 0);
  },
});

Deno.test("countEntries is null for a directory that cannot be listed", () => {
  assert.equal(countEntries("/nonexistent/walsync-fd-test"), null);
});
