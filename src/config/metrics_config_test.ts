import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "./config_file.ts";

const env = () => undefined;

Deno.test("[metrics] and exec are read from walsync.toml", () => {
  const config = parseConfig(
    `exec = "/app/server --port 8080"
[metrics]
addr = "127.0.0.1:9090"
per_database = false
max_lag = "30s"
heartbeat_url = "https://hc.example/ping/abc?token=x"
heartbeat_interval = "5m"
`,
    "/etc/walsync.toml",
    env,
  );
  assert.deepEqual(config.metrics, {
    addr: "127.0.0.1:9090",
    perDatabase: false,
    maxLagMs: 30_000,
    heartbeatUrl: "https://hc.example/ping/abc?token=x",
    heartbeatIntervalMs: 300_000,
  });
  assert.deepEqual(config.exec, { value: "/app/server --port 8080", line: 1 });
});

Deno.test("bad [metrics] values are errors naming key and line, never echoing the heartbeat URL", () => {
  let text = "";
  try {
    parseConfig(
      `[metrics]
addr = "everywhere"
max_lag = "500ms"
heartbeat_url = "ftp://secret-token@x"
port = 1
`,
      "w.toml",
      env,
    );
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    text = error.message;
  }
  assert.match(text, /w\.toml:2: metrics\.addr must be "HOST:PORT"/);
  assert.match(text, /w\.toml:3: metrics\.max_lag must be a duration >= 1s/);
  assert.match(text, /w\.toml:4: metrics\.heartbeat_url must be an http/);
  assert.doesNotMatch(text, /secret-token/);
  assert.match(text, /w\.toml:5: unknown key "port" in \[metrics\]/);
});
