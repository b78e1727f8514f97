import assert from "node:assert/strict";
import { Logger } from "./log.ts";

Deno.test("a field named like a line's own key (time, level, msg) never replaces it", () => {
  const lines: string[] = [];
  const log = new Logger({ level: "debug", format: "json", write: (l) => lines.push(l) })
    .with({ msg: "context" });
  log.debug("compacted", { level: 2, time: 5, file: "a.ltx" });
  const record = JSON.parse(lines[0]);
  assert.equal(record.level, "debug");
  assert.equal(record.msg, "compacted");
  assert.equal(typeof record.time, "string");
  assert.equal(record.field_level, 2);
  assert.equal(record.field_time, 5);
  assert.equal(record.field_msg, "context");
  assert.equal(record.file, "a.ltx");
});

Deno.test("text lines name a reserved field the same way", () => {
  const lines: string[] = [];
  new Logger({ level: "debug", format: "text", write: (l) => lines.push(l) })
    .info("applied", { level: 1, password: "x" });
  assert.match(lines[0], / INFO {2}applied field_level=1 password=\[redacted\]\n$/);
});
