import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { redactUrl, startHeartbeat } from "./heartbeat.ts";

const HANG_MS = 30_000;

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test({
  name: "the heartbeat pings only after intervals in sync, and a failed ping warns without the URL",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let status = 200;
    let requests = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
      requests++;
      return new Response("", { status });
    });
    const lines: string[] = [];
    const logger = new Logger({ format: "json", level: "debug", write: (l) => lines.push(l) });
    let healthy = false;
    const url = `http://127.0.0.1:${server.addr.port}/ping/uuid-secret?token=s3cr3t`;
    const heartbeat = startHeartbeat({ url, intervalMs: 100, healthy: () => healthy, logger });
    try {
      await until("a skipped interval", () => lines.some((l) => l.includes("heartbeat skipped")));
      assert.equal(requests, 0, "no ping while a database is out of sync");
      healthy = true;
      await until("a ping", () => heartbeat.sent >= 1);
      status = 500;
      await until("a failed ping", () => heartbeat.failed >= 1);
      assert.ok(
        lines.some((l) => l.includes('"level":"warn"') && l.includes("heartbeat ping failed")),
      );
      assert.ok(lines.every((l) => !l.includes("s3cr3t") && !l.includes("uuid-secret")));
    } finally {
      await heartbeat.stop();
      await server.shutdown();
    }
    assert.equal(redactUrl(url), `http://127.0.0.1:${server.addr.port}`);
  },
});
