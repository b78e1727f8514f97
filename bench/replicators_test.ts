import assert from "node:assert/strict";
import { litestreamConfig, logProblems, StartupLog } from "./replicators.ts";

Deno.test("StartupLog counts only the databases walsync's watching line says it opened", () => {
  const log = new StartupLog("walsync", 5000);
  log.read('{"level":"error","msg":"cannot replicate database; retrying","path":"/d/x.db"}');
  assert.equal(log.started, false);
  log.read(
    '{"level":"info","msg":"watching","databases":3412,"failing":1588,"replica":"file:///r"}',
  );
  assert.equal(log.started, true);
  assert.equal(log.ready, 3412);
});

Deno.test("StartupLog counts Litestream's replicating-to lines until every database has one", () => {
  const log = new StartupLog("litestream-0.5.17", 2);
  log.read('time=x level=INFO msg="initialized db" path=/d/a.db');
  log.read('time=x level=INFO msg="replicating to" type=file sync-interval=1s path=/r/a.db');
  assert.equal(log.started, false);
  log.read('time=x level=INFO msg="replicating to" type=file sync-interval=1s path=/r/b.db');
  assert.equal(log.ready, 2);
  assert.equal(log.started, true);
});

Deno.test("logProblems counts errors, warnings and EMFILE for both log formats", () => {
  const walsync = logProblems("walsync", [
    '{"level":"warn","msg":"upload failed; retrying"}',
    '{"level":"error","msg":"sync failed: Too many open files (os error 24)"}',
    '{"level":"info","msg":"replicating"}',
  ]);
  assert.deepStrictEqual(walsync, {
    errors: 1,
    warnings: 1,
    examples: ["sync failed: Too many open files (os error 24)"],
    tooManyOpenFiles: 1,
  });
  const litestream = logProblems("litestream-0.5.17", [
    'time=x level=ERROR msg="compaction failed" db=/d/a.db',
    'time=x level=WARN msg="slow"',
  ]);
  assert.equal(litestream.errors, 1);
  assert.equal(litestream.warnings, 1);
  assert.deepStrictEqual(litestream.examples, ["compaction failed"]);
});

Deno.test("litestreamConfig writes 0.5's replica and 0.3's replicas list, one path per database", () => {
  const databases = [{ path: "/d/a.db", name: "a.db" }];
  const root = { kind: "file" as const, dir: "/r" };
  assert.equal(
    litestreamConfig("litestream-0.5.17", databases, root, 1),
    [
      "dbs:",
      "  - path: /d/a.db",
      "    replica:",
      "      type: file",
      "      path: /r/a.db",
      "      sync-interval: 1s",
      "",
    ].join("\n"),
  );
  assert.equal(
    litestreamConfig("litestream-0.3.13", databases, root, 1),
    [
      "dbs:",
      "  - path: /d/a.db",
      "    replicas:",
      "      - type: file",
      "        path: /r/a.db",
      "        sync-interval: 1s",
      "",
    ].join("\n"),
  );
});
