/**
 * The CLI against a real S3-compatible server: `watch` and `restore` with `-b s3://…`, the
 * endpoint from AWS_ENDPOINT_URL_S3, and the single-writer lease refusing a second walsync.
 */
import assert from "node:assert/strict";
import { AppProcess } from "../support/app_client.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";
import { WalsyncProcess } from "../support/walsync_process.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const target = s3TestTargets()[0];

Deno.test({
  name:
    `walsync watch and restore work with -b s3:// and a second watch on the replica is refused (${target.label})`,
  ignore: target.ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await target.start();
    const dir = await Deno.makeTempDir();
    const url = `s3://${server.bucket}/cli-${crypto.randomUUID()}`;
    const env: Record<string, string> = {
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    };
    const app = new AppProcess(`${dir}/app.db`, 4096);
    let first: WalsyncProcess | null = null;
    try {
      await app.send({ op: "exec", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)" });
      first = new WalsyncProcess(["watch", `${dir}/app.db`, "-b", url, "--sync-interval", "50ms"], {
        env,
      });
      await first.ready();

      const second = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MOD,
          "watch",
          "--create",
          `${dir}/other.db`,
          "-b",
          url,
          "--once",
          "--log-format",
          "json",
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(second.stderr);
      assert.equal(second.code, 1, stderr);
      assert.match(stderr, /lease/i);
      assert.match(stderr, new RegExp(`pid ${"\\d+"}|"pid":`), "the holder's pid is named");

      for (let i = 0; i < 5; i++) {
        await app.send({ op: "exec", sql: `INSERT INTO t (v) VALUES (randomblob(${i * 3000}))` });
      }
      const final = (await app.send({ op: "dump" })).dump!;
      const stopped = await first.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
      first = null;

      const restored = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, "restore", "app.db", "-o", `${dir}/restored.db`, "-b", url],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(restored.code, 0, new TextDecoder().decode(restored.stderr));
      const check = new AppProcess(`${dir}/restored.db`, 4096);
      assert.deepEqual((await check.send({ op: "dump" })).dump, final);
      await check.close();

      // The lease was released on a clean stop: another walsync may take over now.
      const after = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, "watch", `${dir}/app.db`, "-b", url, "--once"],
        env,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(after.code, 0, new TextDecoder().decode(after.stderr));
    } finally {
      await first?.kill();
      await app.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

stopS3ServersAfterTests();
