import assert from "node:assert/strict";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { chainFrom } from "./follower.ts";

const file = (level: number, minTxid: number, maxTxid: number): LtxFileInfo => ({
  level,
  minTxid,
  maxTxid,
  sizeBytes: 1,
  createdAt: new Date(0),
});
const keys = (files: LtxFileInfo[] | null) =>
  files?.map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`) ?? null;

Deno.test("chainFrom continues a copy through level 0, bridging through higher levels", () => {
  assert.deepEqual(keys(chainFrom([file(0, 4, 4), file(0, 5, 5), file(0, 6, 6)], 4)), [
    "0:5-5",
    "0:6-6",
  ]);
  // Level 0 compacted away up to 8: level 1 bridges, level 0 continues.
  assert.deepEqual(keys(chainFrom([file(1, 1, 8), file(0, 9, 9), file(9, 1, 9)], 4)), [
    "1:1-8",
    "0:9-9",
  ]);
  assert.equal(chainFrom([file(0, 7, 7)], 4), null, "TXIDs 5 and 6 are missing");
  assert.equal(chainFrom([file(0, 3, 3), file(0, 4, 4)], 4), null, "nothing after the copy");
});
