/**
 * Compaction and retention faults on S3 (SeaweedFS on loopback): a hole in level 0 (and the
 * daemon healing it by itself), a restore racing a retention pass, and a merge whose upload
 * fails, which must delete nothing.
 */
import assert from "node:assert/strict";
import { listAllFiles } from "../../src/restore/apply.ts";
import {
  compactCli,
  levelZeroGapCase,
  restoreRacingRetentionCase,
  watchAndWrite,
} from "../support/compaction_faults.ts";
import {
  describe,
  type PeerReplica,
  restoredDump,
  s3Replica,
  walsyncRestoreLib,
} from "../support/compaction_peers.ts";
import { S3FaultProxy } from "../support/s3_fault_proxy.ts";
import { type S3TestServer, s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";

for (const target of s3TestTargets().filter((t) => t.kind === "seaweedfs")) {
  const test = (
    name: string,
    fn: (replica: PeerReplica, dir: string, server: S3TestServer) => Promise<void>,
  ) =>
    Deno.test({
      name: `${target.label}: ${name}`,
      ignore: target.ignore,
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const server = await target.start();
        const replica = s3Replica(server);
        const dir = await Deno.makeTempDir({ prefix: "walsync-compaction-faults-s3-" });
        try {
          await fn(replica, dir, server);
        } finally {
          await replica.close();
          await Deno.remove(dir, { recursive: true });
        }
      },
    });

  test(
    "a hole in level 0: the prefix is compacted, never merged across",
    (replica, dir) => levelZeroGapCase(replica, dir),
  );

  test(
    "a hole in level 0 heals by itself: the daemon snapshots once",
    (replica, dir) => levelZeroGapCase(replica, dir, "by itself"),
  );

  test(
    "a restore racing a retention pass is exact or refused, never wrong",
    restoreRacingRetentionCase,
  );

  test("a merge whose upload fails deletes nothing, and the next pass completes", async (
    replica,
    dir,
    server,
  ) => {
    const { states, finalDump } = await watchAndWrite(replica, `${dir}/app.db`, 8);
    const before = await listAllFiles(replica.client, replica.name);
    const proxy = S3FaultProxy.start(server.endpoint);
    try {
      const env = { ...replica.env, AWS_ENDPOINT_URL_S3: proxy.endpoint };
      // Every PUT of a level-1 object fails (retries included); everything else works.
      proxy.failRequests((r) => r.method === "PUT" && r.path.includes("/0001/"), 1_000_000);
      const failed = await compactCli(replica, ["--force", "--compaction-levels", "1s"], env);
      assert.ok(proxy.count("error500") > 0, "the fault was hit");
      assert.equal(failed.code, 1, `compact must fail: ${failed.output}`);
      assert.match(failed.output, /error|fail/i);
      const during = await listAllFiles(replica.client, replica.name);
      assert.deepEqual(
        during.filter((f) => f.level === 0).map((f) => f.minTxid),
        before.filter((f) => f.level === 0).map((f) => f.minTxid),
        `level 0 must be untouched\n${await describe(replica)}`,
      );
      const latest = `${dir}/while-failing.db`;
      assert.ok("txid" in await walsyncRestoreLib(replica, latest));
      assert.deepEqual(restoredDump(latest), finalDump);

      proxy.failRequests(() => false, 0);
      const ok = await compactCli(replica, ["--force", "--compaction-levels", "1s"], env);
      assert.equal(ok.code, 0, ok.output);
      const files = await listAllFiles(replica.client, replica.name);
      assert.ok(files.some((f) => f.level === 1), `level 1 stored\n${await describe(replica)}`);
      for (const [txid, dump] of states) {
        const out = `${dir}/after-${txid}.db`;
        const result = await walsyncRestoreLib(replica, out, { txid });
        if ("txid" in result) assert.deepEqual(restoredDump(out), dump, `TXID ${txid}`);
      }
      const after = `${dir}/after.db`;
      assert.ok("txid" in await walsyncRestoreLib(replica, after));
      assert.deepEqual(restoredDump(after), finalDump);
    } finally {
      proxy.close();
    }
  });
}
stopS3ServersAfterTests();
