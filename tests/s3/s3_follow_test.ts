/** `walsync replicate` following an S3 replica: restore, then each new TXID applied in place. */
import assert from "node:assert/strict";
import { copyEquals, copyHealth, copyTxid, startReplicate } from "../support/follow_fixture.ts";
import { waitFor } from "../support/litestream.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";
import { openWalDatabase } from "../support/sqlite.ts";
import { WalsyncProcess } from "../support/walsync_process.ts";

for (const target of s3TestTargets()) {
  Deno.test({
    name: `replicate follows an S3 replica into a copy readers can open (${target.label})`,
    ignore: target.ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const server = await target.start();
      const dir = await Deno.makeTempDir({ prefix: "walsync-s3-follow-" });
      const url = `s3://${server.bucket}/follow-${crypto.randomUUID()}`;
      const env = {
        AWS_ENDPOINT_URL_S3: server.endpoint,
        AWS_REGION: server.region,
        AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      };
      const app = openWalDatabase(`${dir}/app.db`);
      app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
      const watch = new WalsyncProcess(["watch", `${dir}/app.db`, "-b", url], { env });
      let follow: WalsyncProcess | null = null;
      try {
        await watch.ready();
        app.exec("INSERT INTO t (v) VALUES (randomblob(20000))");
        follow = startReplicate(["app.db", "-b", url, "-o", `${dir}/copy.db`], { env });
        const copy = `${dir}/copy.db`;
        await waitFor("the copy", () => copyEquals(copy, `${dir}/app.db`), () => follow!.stderr);
        const first = copyTxid(copy);
        for (let i = 0; i < 5; i++) app.exec("INSERT INTO t (v) VALUES (randomblob(3000))");
        app.exec("DELETE FROM t WHERE id = 1");
        await waitFor("the changes", () => copyEquals(copy, `${dir}/app.db`), () => follow!.stderr);
        assert.ok(copyTxid(copy) > first);
        assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
        assert.doesNotMatch(follow.stderr, /"level":"(warn|error)"/);
      } finally {
        await follow?.kill();
        await watch.kill();
        app.close();
      }
    },
  });
}

stopS3ServersAfterTests();
