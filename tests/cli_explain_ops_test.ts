/** `walsync explain` shows `[metrics]` and `exec`, and never the heartbeat URL's token. */
import assert from "node:assert/strict";
import { runWalsync } from "./support/cli.ts";

Deno.test("explain shows [metrics] and exec, the heartbeat URL reduced to its host", async () => {
  const dir = await Deno.makeTempDir({ prefix: "walsync-explain-ops-" });
  try {
    await Deno.writeTextFile(
      `${dir}/walsync.toml`,
      `exec = "/app/server --port 8080"
[metrics]
addr = ":9090"
per_database = false
heartbeat_url = "https://hc.example/ping/uuid-secret?token=s3cr3t"
[[databases]]
path = "app.db"
`,
    );
    const args = ["explain", "--config", `${dir}/walsync.toml`, "-b", `file://${dir}/replica`];
    const text = await runWalsync(args);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^metrics {5}:9090, totals only, max_lag 10s, heartbeat to https:\/\/hc\.example every 1m$/m,
    );
    assert.match(text.stdout, /^exec {8}\/app\/server --port 8080 {2}\(line 1\)$/m);
    const json = await runWalsync([...args, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).metrics, {
      addr: ":9090",
      perDatabase: false,
      maxLag: "10s",
      heartbeat: "https://hc.example",
      heartbeatInterval: "1m",
      exec: "/app/server --port 8080",
    });
    assert.doesNotMatch(text.stdout + json.stdout, /s3cr3t|uuid-secret/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
