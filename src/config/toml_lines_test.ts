import assert from "node:assert/strict";
import { tomlLines } from "./toml_lines.ts";

const SOURCE = `# walsync.toml
[s3]
bucket = "s3://b/p" # comment with = sign

[sync]
interval = "1s"
"snapshot_interval" = '1h'
note = """
not_a_key = 1
[not_a_header]
"""
after_note = 2
list = [
  1,
  "two", # [x]
  { inner = 3 },
]
retention = { hourly = 0, daily = 7 }
dotted.deep.key = true

[[databases]]
path = "/a.db"

[[databases]]
# a comment line
path = "/b.db"
max_changes = 10
"quoted \\" key" = 1

[databases.sub]
x = 1

[log.extra]
level = "info"
`;

Deno.test("tomlLines finds table headers and plain keys", () => {
  const lineOf = tomlLines(SOURCE);
  assert.equal(lineOf(["s3"]), 2);
  assert.equal(lineOf(["s3", "bucket"]), 3);
  assert.equal(lineOf(["sync"]), 5);
  assert.equal(lineOf(["sync", "interval"]), 6);
  assert.equal(lineOf(["sync", "snapshot_interval"]), 7);
});

Deno.test("tomlLines skips the continuation lines of multi-line strings", () => {
  const lineOf = tomlLines(SOURCE);
  assert.equal(lineOf(["sync", "note"]), 8);
  assert.equal(lineOf(["sync", "after_note"]), 12);
  assert.equal(lineOf(["not_a_header"]), 1, "no such table: falls back to line 1");
  assert.equal(lineOf(["sync", "not_a_key"]), 5, "falls back to [sync]");
});

Deno.test("tomlLines numbers array elements and finds keys of inline tables", () => {
  const lineOf = tomlLines(SOURCE);
  assert.equal(lineOf(["sync", "list"]), 13);
  assert.equal(lineOf(["sync", "list", "0"]), 14);
  assert.equal(lineOf(["sync", "list", "1"]), 15);
  assert.equal(lineOf(["sync", "list", "2", "inner"]), 16);
  assert.equal(lineOf(["sync", "retention", "daily"]), 18);
  assert.equal(lineOf(["sync", "dotted", "deep", "key"]), 19);
  assert.equal(lineOf(["sync", "dotted"]), 19);
});

Deno.test("tomlLines gives each [[databases]] entry its own index", () => {
  const lineOf = tomlLines(SOURCE);
  assert.equal(lineOf(["databases"]), 21);
  assert.equal(lineOf(["databases", "0"]), 21);
  assert.equal(lineOf(["databases", "0", "path"]), 22);
  assert.equal(lineOf(["databases", "1"]), 24);
  assert.equal(lineOf(["databases", "1", "path"]), 26);
  assert.equal(lineOf(["databases", "1", "max_changes"]), 27);
  assert.equal(lineOf(["databases", "1", 'quoted " key']), 28);
  assert.equal(lineOf(["databases", "1", "sub", "x"]), 31);
  assert.equal(lineOf(["databases", "1", "sub"]), 30);
  assert.equal(lineOf(["databases", "1", "unknown"]), 24, "falls back to the entry header");
});

Deno.test("tomlLines takes a table's own header over an earlier dotted mention", () => {
  const lineOf = tomlLines(SOURCE);
  assert.equal(lineOf(["log", "extra", "level"]), 34);
  assert.equal(lineOf(["log"]), 33);
  const later = tomlLines("[a.b]\nx = 1\n[a]\ny = 2\n");
  assert.equal(later(["a"]), 3);
  assert.equal(later(["a", "b"]), 1);
});

Deno.test("tomlLines does not hang or throw on text the parser would reject", () => {
  for (const bad of ["= 1", "[", "x = {", "x = [1, }", "a = ]]]\n[[b", 'x = "open\ny = 2']) {
    const lineOf = tomlLines(bad);
    assert.equal(typeof lineOf(["x"]), "number");
  }
  assert.equal(tomlLines('x = "open\ny = 2')(["y"]), 2);
});
