import assert from "node:assert/strict";
import { SlotStats } from "./slot_stats.ts";

Deno.test("SlotStats lag is the age of the oldest staged TXID not yet durable", () => {
  const stats = new SlotStats();
  assert.equal(stats.lagSeconds(0, 1_000), 0);
  stats.captured(1, 0, 1_000);
  stats.captured(2, 0, 3_000);
  assert.equal(stats.lagSeconds(0, 5_000), 4, "from the first capture");
  assert.equal(stats.lagSeconds(1, 5_000), 2, "TXID 1 durable: from TXID 2's capture");
  stats.uploaded(5_000, 2);
  assert.equal(stats.lagSeconds(2, 9_000), 0);
  assert.equal(stats.upload.count, 1);
  stats.captured(2, 2, 9_000);
  assert.equal(stats.lagSeconds(2, 10_000), 0, "an already durable TXID adds no lag");
});

Deno.test("SlotStats lag counts from the first failed sync while nothing is staged", () => {
  const stats = new SlotStats();
  stats.syncFailed(1_000);
  stats.syncFailed(2_000);
  assert.equal(stats.sync.errors, 2);
  assert.equal(stats.lagSeconds(0, 4_000), 3);
  stats.syncSucceeded();
  assert.equal(stats.lagSeconds(0, 4_000), 0);
});

Deno.test("SlotStats lag of a released database counts from when its files were seen to change", () => {
  const stats = new SlotStats();
  stats.unseen(1_000);
  stats.unseen(2_000);
  assert.equal(stats.lagSeconds(4, 3_000), 2, "not yet opened (e.g. waiting for a descriptor)");
  stats.captured(5, 4, 4_000);
  assert.equal(stats.lagSeconds(4, 5_000), 4, "the captured TXID keeps the earlier time");
  stats.captured(5, 4, 6_000);
  assert.equal(stats.lagSeconds(5, 6_000), 0);
});
