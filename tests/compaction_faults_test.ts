/**
 * Compaction and retention faults on a file replica: a hole in level 0, a restore racing a
 * retention pass. The S3 twin is tests/s3/compaction_faults_s3_test.ts.
 */
import { levelZeroGapCase, restoreRacingRetentionCase } from "./support/compaction_faults.ts";
import { fileReplica } from "./support/compaction_peers.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "walsync-compaction-faults-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a hole in level 0 of a file replica: the prefix is compacted, never merged across", () =>
  withDir((dir) => levelZeroGapCase(fileReplica(dir), dir)));

Deno.test("a hole in level 0 of a file replica heals by itself: the daemon snapshots once", () =>
  withDir((dir) => levelZeroGapCase(fileReplica(dir), dir, "by itself")));

Deno.test("a hole in level 0 of a file replica heals with walsync snapshot, as the warning says", () =>
  withDir((dir) => levelZeroGapCase(fileReplica(dir), dir, "walsync snapshot")));

Deno.test("a restore racing a retention pass on a file replica is exact or refused, never wrong", () =>
  withDir((dir) => restoreRacingRetentionCase(fileReplica(dir), dir)));
