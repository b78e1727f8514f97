import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { splitCommandLine } from "./command_line.ts";

Deno.test("splitCommandLine splits words like a shell, without one", () => {
  assert.deepEqual(splitCommandLine("/app/server --port 8080"), ["/app/server", "--port", "8080"]);
  assert.deepEqual(splitCommandLine(`a 'b c' "d \\"e\\" $f" g\\ h ''`), [
    "a",
    "b c",
    'd "e" $f',
    "g h",
    "",
  ]);
  assert.deepEqual(splitCommandLine("  x\t y\n"), ["x", "y"]);
  assert.deepEqual(splitCommandLine(`sh -c 'echo "$HOME" | wc'`), [
    "sh",
    "-c",
    'echo "$HOME" | wc',
  ]);
});

Deno.test("splitCommandLine refuses an empty command and unterminated quotes", () => {
  assert.throws(() => splitCommandLine("   "), UsageError);
  assert.throws(() => splitCommandLine("a 'b"), /unterminated ' quote/);
  assert.throws(() => splitCommandLine('a "b'), /unterminated " quote/);
  assert.throws(() => splitCommandLine("a \\"), /lone backslash/);
});
