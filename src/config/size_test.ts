import assert from "node:assert/strict";
import { parseSize } from "./size.ts";

Deno.test("parseSize reads decimal and binary units and plain bytes", () => {
  assert.equal(parseSize("1GiB", "--max-staging"), 1024 ** 3);
  assert.equal(parseSize("512MB", "--max-staging"), 512e6);
  assert.equal(parseSize("64 KiB", "--max-staging"), 65536);
  assert.equal(parseSize("4096", "--max-staging"), 4096);
  assert.equal(parseSize(100, "staging.max"), 100);
});

Deno.test("parseSize names the flag and the bad value", () => {
  for (const bad of ["lots", "1XB", "-5MB", ""]) {
    assert.throws(
      () => parseSize(bad, "--max-staging"),
      new RegExp(`--max-staging "${bad}" is not a size`),
    );
  }
});
