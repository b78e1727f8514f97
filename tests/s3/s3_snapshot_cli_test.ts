/**
 * `walsync snapshot` handing the work to a running `walsync watch` on an S3 replica: the
 * daemon has credentials, the command need not (it only asks the daemon).
 */
import assert from "node:assert/strict";
import { envWithoutAws } from "../support/aws_env.ts";
import { runWalsync } from "../support/cli.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";
import { openWalDatabase } from "../support/sqlite.ts";
import { WalsyncProcess } from "../support/walsync_process.ts";

const target = s3TestTargets()[0];

Deno.test({
  name:
    `snapshot exits 0 when the running watch took it, though its own environment has no S3 credentials (${target.label})`,
  ignore: target.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await target.start();
    const dir = await Deno.makeTempDir({ prefix: "walsync-s3-snapshot-" });
    const url = `s3://${server.bucket}/snapshot-${crypto.randomUUID()}`;
    const where = { AWS_ENDPOINT_URL_S3: server.endpoint, AWS_REGION: server.region };
    const app = openWalDatabase(`${dir}/app.db`);
    const watch = new WalsyncProcess(["watch", `${dir}/app.db`, "-b", url], {
      env: {
        ...where,
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      },
    });
    try {
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
      await watch.ready();
      app.exec("INSERT INTO t (v) VALUES (randomblob(20000))");

      const run = await runWalsync(["snapshot", `${dir}/app.db`, "-b", url, "--json"], {
        env: envWithoutAws(where),
        clearEnv: true,
      });
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout);
      assert.equal(report.takenBy, "the running walsync");
      assert.equal(report.replica, url);
      assert.ok(report.txid >= 2, `txid ${report.txid}`);
      // The command could not list the replica itself, so the size is unknown, and it says why.
      assert.equal(report.sizeBytes, null);
      assert.match(run.stderr, /snapshot size unknown/);
      assert.match(watch.stderr, /"msg":"snapshot requested by walsync snapshot"/);
    } finally {
      const stopped = await watch.stop();
      app.close();
      await Deno.remove(dir, { recursive: true });
      assert.equal(stopped.code, 0, stopped.stderr);
    }
  },
});

stopS3ServersAfterTests();
