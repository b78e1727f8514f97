/** The heartbeat of a real `walsync watch`: pinged while in sync, its token never logged. */
import assert from "node:assert/strict";
import { openWalDatabase } from "./support/sqlite.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const HANG_MS = 60_000;

Deno.test({
  name: "watch pings the heartbeat URL after intervals in sync and never logs its token",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "walsync-heartbeat-" });
    const pings: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      pings.push(new URL(req.url).search);
      return new Response("ok");
    });
    const db = openWalDatabase(`${dir}/app.db`);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    db.close();
    const url = `http://127.0.0.1:${server.addr.port}/ping/uuid-secret?token=s3cr3t`;
    const watch = new WalsyncProcess([
      "watch",
      `${dir}/app.db`,
      "-b",
      `file://${dir}/replica`,
      "--heartbeat-url",
      url,
      "--heartbeat-interval",
      "1s",
      "--log-level",
      "debug",
    ], { env: { WALSYNC_RUN_DIR: `${dir}/run` } });
    try {
      const deadline = Date.now() + HANG_MS;
      while (pings.length < 2) {
        assert.ok(Date.now() < deadline, `no heartbeat:\n${watch.stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(pings[0], "?token=s3cr3t");
      const stopped = await watch.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.doesNotMatch(stopped.stderr, /s3cr3t|uuid-secret/);
    } finally {
      await watch.kill();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
