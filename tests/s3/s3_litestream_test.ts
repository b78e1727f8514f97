/**
 * Litestream 0.5.17 and walsync share S3 buckets both ways: the walsync CLI replicates with
 * `-b s3://bucket/prefix` and `litestream restore s3://bucket/prefix/<name>` rebuilds the
 * database; Litestream replicates to S3 and `walsync restore` rebuilds it. Real binaries,
 * real S3-compatible servers on loopback.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { S3ReplicaClient } from "../../src/replica/s3/s3_replica_client.ts";
import { findLitestream } from "../support/litestream.ts";
import { dumpDatabase, integrityCheck, openWalDatabase } from "../support/sqlite.ts";
import {
  type S3TestServer,
  s3TestTargets,
  stopS3ServersAfterTests,
  testReplicaOptions,
} from "../support/s3_server.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const LITESTREAM_VERSION = "0.5.17";
const litestream = findLitestream(LITESTREAM_VERSION);

/** The environment a child gets: S3 settings for `server`, and no CA bundle override (Litestream
 * cannot combine AWS_CA_BUNDLE with its own HTTP client). */
function childEnv(server: S3TestServer): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (name.startsWith("AWS_") || name.startsWith("LITESTREAM_")) delete env[name];
  }
  return {
    ...env,
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
  };
}

async function run(command: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${command} ${args.join(" ")} exited ${out.code}:\n${text}`);
  return text;
}

function addRows(db: DatabaseSync, from: number, count: number): void {
  db.exec("BEGIN");
  const insert = db.prepare("INSERT INTO t (id, body) VALUES (?, ?)");
  for (let i = from; i < from + count; i++) insert.run(i, `row ${i} `.repeat(20));
  db.exec("COMMIT");
}

for (const target of s3TestTargets()) {
  const test = (name: string, fn: (server: S3TestServer, dir: string) => Promise<void>) =>
    Deno.test({
      name: `${target.label} + Litestream ${LITESTREAM_VERSION}: ${name}`,
      ignore: target.ignore || litestream === null,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const server = await target.start();
        const dir = await Deno.makeTempDir();
        try {
          await fn(server, dir);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    });

  test("Litestream restores what walsync replicated to S3", async (server, dir) => {
    const prefix = `compat/${crypto.randomUUID()}`;
    const dbPath = `${dir}/app.db`;
    const db = openWalDatabase(dbPath);
    const env = childEnv(server);
    const client = new S3ReplicaClient({ ...testReplicaOptions(server), prefix });
    try {
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)");
      addRows(db, 1, 500);
      const url = `s3://${server.bucket}/${prefix}`;
      await run(Deno.execPath(), ["run", "-A", MOD, "watch", dbPath, "-b", url, "--once"], env);
      addRows(db, 501, 300); // a second sync: an incremental level-0 file after the snapshot
      await run(Deno.execPath(), ["run", "-A", MOD, "watch", dbPath, "-b", url, "--once"], env);
      assert.ok((await client.listFiles("app.db", 0)).length >= 2);

      const restored = `${dir}/restored.db`;
      await run(litestream!, [
        "restore",
        "-o",
        restored,
        `${url}/app.db?endpoint=${server.endpoint}&forcePathStyle=true`,
      ], env);
      const copy = new DatabaseSync(restored);
      try {
        assert.equal(integrityCheck(copy), "ok");
        assert.deepEqual(dumpDatabase(copy), dumpDatabase(db));
      } finally {
        copy.close();
      }
    } finally {
      db.close();
      await client.deleteAll();
      await client.close();
    }
  });

  test("walsync restores what Litestream replicated to S3", async (server, dir) => {
    const prefix = `compat/${crypto.randomUUID()}`;
    const dbPath = `${dir}/app.db`;
    const db = openWalDatabase(dbPath);
    const env = childEnv(server);
    const client = new S3ReplicaClient({ ...testReplicaOptions(server), prefix });
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)");
    addRows(db, 1, 400);
    const configPath = `${dir}/litestream.yml`;
    await Deno.writeTextFile(
      configPath,
      [
        "dbs:",
        `  - path: ${dbPath}`,
        "    monitor-interval: 50ms",
        "    replica:",
        "      type: s3",
        `      bucket: ${server.bucket}`,
        `      path: ${prefix}/app.db`,
        `      endpoint: ${server.endpoint}`,
        `      region: ${server.region}`,
        "      force-path-style: true",
        "      sync-interval: 100ms",
        "",
      ].join("\n"),
    );
    const child = new Deno.Command(litestream!, {
      args: ["replicate", "-config", configPath],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const maxTxid = async () =>
        (await client.listFiles("app.db", 0)).reduce((max, f) => Math.max(max, f.maxTxid), 0);
      let seen = 0;
      // The deadline only turns a hang into a failure; it is not a performance assertion.
      const deadline = Date.now() + 30_000;
      while ((seen = await maxTxid()) === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(seen > 0, "Litestream uploaded nothing");
      addRows(db, 401, 200);
      const before = seen;
      while ((seen = await maxTxid()) <= before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(seen > before, "Litestream did not upload the second transaction");
    } finally {
      child.kill("SIGTERM");
      await child.status;
    }
    try {
      const restored = `${dir}/restored.db`;
      await run(Deno.execPath(), [
        "run",
        "-A",
        MOD,
        "restore",
        "app.db",
        "-o",
        restored,
        "-b",
        `s3://${server.bucket}/${prefix}`,
      ], env);
      const copy = new DatabaseSync(restored);
      try {
        assert.equal(integrityCheck(copy), "ok");
        assert.deepEqual(dumpDatabase(copy), dumpDatabase(db));
      } finally {
        copy.close();
      }
    } finally {
      db.close();
      await client.deleteAll();
      await client.close();
    }
  });
}
stopS3ServersAfterTests();
