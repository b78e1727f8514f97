/**
 * Compacted replicas shared with real Litestream 0.5.17 and 0.5.15 on S3 (SeaweedFS on
 * loopback; moto is left out to keep the run short, the S3 code paths are the same): the twin
 * of tests/compaction_litestream_test.ts.
 */
import {
  litestreamCompactedCase,
  takeoverCase,
  walsyncCompactedCase,
} from "../support/compaction_cases.ts";
import { type PeerReplica, s3Replica } from "../support/compaction_peers.ts";
import { findLitestream } from "../support/litestream.ts";
import { s3TestTargets, stopS3ServersAfterTests } from "../support/s3_server.ts";

const VERSIONS = ["0.5.17", "0.5.15"];

for (const target of s3TestTargets().filter((t) => t.kind === "seaweedfs")) {
  for (const version of VERSIONS) {
    const binary = findLitestream(version);
    const test = (
      name: string,
      fn: (binary: string, replica: PeerReplica, dir: string) => Promise<void>,
    ) =>
      Deno.test({
        name: `${target.label} + Litestream ${version}: ${name}`,
        ignore: target.ignore || binary === null,
        sanitizeOps: false,
        sanitizeResources: false,
        async fn() {
          const replica = s3Replica(await target.start());
          const dir = await Deno.makeTempDir({ prefix: "walsync-compaction-s3-" });
          try {
            await fn(binary!, replica, dir);
          } finally {
            await replica.close();
            await Deno.remove(dir, { recursive: true });
          }
        },
      });

    test(
      "walsync restores an S3 replica Litestream compacted, latest and at points in time",
      litestreamCompactedCase,
    );
    test(
      "Litestream restores an S3 replica walsync compacted, latest and at points in time",
      walsyncCompactedCase,
    );
    test(
      "walsync takes over an S3 replica Litestream compacted, and both restore it",
      takeoverCase("litestream"),
    );
    test(
      "Litestream takes over an S3 replica walsync compacted, and both restore it",
      takeoverCase("walsync"),
    );
  }
}
stopS3ServersAfterTests();
