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

Deno.test({
  name: "a hole in level 0 of a file replica heals once walsync replicates again",
  // Ignored (RUN_IGNORED=1 runs it): walsync does not heal a level-0 file lost from the
  // replica. `watch` warns "level 0 has no file for TXID 7 (...): level 1 is compacted up to
  // TXID 6 until it is there", keeps shipping level-0 files after the hole that nothing compacts, and the latest
  // state stays unrestorable ("TXID 7 is missing") until the next scheduled snapshot (24 h by
  // default) bridges the hole. Staging no longer holds an uploaded file, so only a snapshot can
  // heal it: the daemon could request one when it finds a hole no file bridges. Since 10a19da
  // the warning names the remedy, `walsync snapshot` (the next test).
  ignore: Deno.env.get("RUN_IGNORED") === undefined,
  fn: () => withDir((dir) => levelZeroGapCase(fileReplica(dir), dir, "by itself")),
});

Deno.test("a hole in level 0 of a file replica heals with walsync snapshot, as the warning says", () =>
  withDir((dir) => levelZeroGapCase(fileReplica(dir), dir, "walsync snapshot")));

Deno.test("a restore racing a retention pass on a file replica is exact or refused, never wrong", () =>
  withDir((dir) => restoreRacingRetentionCase(fileReplica(dir), dir)));
