/**
 * Compacted replicas shared with real Litestream 0.5.17 and 0.5.15, file replica: walsync
 * restores what Litestream compacted, Litestream restores what walsync compacted, and each
 * takes over the other's compacted replica. The S3 twin is tests/s3/compaction_litestream_s3_test.ts.
 */
import {
  litestreamCompactedCase,
  takeoverCase,
  walsyncCompactedCase,
} from "./support/compaction_cases.ts";
import { fileReplica } from "./support/compaction_peers.ts";
import { findLitestream } from "./support/litestream.ts";

const VERSIONS = ["0.5.17", "0.5.15"];

function compactionTest(
  version: string,
  name: string,
  fn: (binary: string, dir: string) => Promise<void>,
): void {
  const binary = findLitestream(version);
  Deno.test({
    name: binary ? name : `${name} (litestream ${version} not installed)`,
    ignore: binary === null,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "walsync-compaction-" });
      try {
        await fn(binary!, dir);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

for (const version of VERSIONS) {
  compactionTest(
    version,
    `walsync restores a file replica Litestream ${version} compacted, latest and at points in time`,
    (binary, dir) => litestreamCompactedCase(binary, fileReplica(dir), dir),
  );
  compactionTest(
    version,
    `Litestream ${version} restores a file replica walsync compacted, latest and at points in time`,
    (binary, dir) => walsyncCompactedCase(binary, fileReplica(dir), dir),
  );
  compactionTest(
    version,
    `walsync takes over a file replica Litestream ${version} compacted, and both restore it`,
    (binary, dir) => takeoverCase("litestream")(binary, fileReplica(dir), dir),
  );
  compactionTest(
    version,
    `Litestream ${version} takes over a file replica walsync compacted, and both restore it`,
    (binary, dir) => takeoverCase("walsync")(binary, fileReplica(dir), dir),
  );
}
