/**
 * Readers of a follower's copy never see half a TXID. Every process is its own OS process:
 * the application moves money between accounts (the sum never changes), `walsync watch`
 * ships its WAL to a file replica, `walsync replicate` follows it into a copy, and a reader
 * using Python's SQLite loops over the sum on the copy. The same test with the follower's
 * apply made naive (page by page, no lock, no journal) must catch torn reads, or it proves
 * nothing.
 */
import assert from "node:assert/strict";
import { waitFor } from "./support/litestream.ts";
import {
  copyEquals,
  copyHealth,
  copyTxid,
  InvariantReader,
  NOT_ON_WINDOWS,
  startReplicate,
} from "./support/follow_fixture.ts";
import { createAccounts, TOTAL } from "./support/transfer_app.ts";
import { WalsyncProcess } from "./support/walsync_process.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: NOT_ON_WINDOWS, sanitizeOps: false, sanitizeResources: false, fn });

const TRANSFER_APP = new URL("./support/transfer_app.ts", import.meta.url).pathname;

function runTransfers(db: string, count: number, pauseMs: number): Promise<Deno.CommandStatus> {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRANSFER_APP, db, String(count), String(pauseMs)],
    stdout: "null",
    stderr: "inherit",
  }).spawn().status;
}

async function followWithReader(unsafe: boolean) {
  const dir = await Deno.makeTempDir({ prefix: "walsync-follow-reader-" });
  const db = `${dir}/bank.db`;
  const copy = `${dir}/replica/bank.db`;
  const replica = `file://${dir}/rep`;
  createAccounts(db);
  const watch = new WalsyncProcess(["watch", db, "-b", replica, "--sync-interval", "50ms"]);
  await watch.ready();
  Deno.mkdirSync(`${dir}/replica`);
  const follow = startReplicate(["bank.db", "-b", replica, "-o", copy], {
    env: unsafe ? { WALSYNC_FOLLOW_UNSAFE_APPLY: "1" } : {},
  });
  try {
    await waitFor("the first restore", () => copyTxid(copy) > 0, () => follow.stderr, 60_000);
    const reader = new InvariantReader(copy, TOTAL, `${dir}/stop-reader`);
    const startTxid = copyTxid(copy);
    // Unsafe: write until the reader catches a torn read (it always does within a few rounds).
    for (let round = 0; round < (unsafe ? 20 : 3); round++) {
      const status = await runTransfers(db, 150, 3);
      assert.equal(status.code, 0);
      if (unsafe && reader.violationsSoFar > 0) break;
    }
    if (!unsafe) {
      await waitFor(
        "the copy to catch up with the primary",
        () => copyEquals(copy, db),
        () => follow.stderr,
        60_000,
      );
    }
    const result = await reader.stop();
    const applied = copyTxid(copy) - startTxid;
    return { result, applied, copy, follow };
  } finally {
    await follow.kill();
    await watch.kill();
  }
}

test("a reader in another process never sees a half-applied TXID on the copy", async () => {
  const { result, applied, copy } = await followWithReader(false);
  assert.deepEqual(result.errors, []);
  assert.equal(result.violations, 0, JSON.stringify(result));
  assert.ok(result.reads > 0, "the reader read");
  assert.ok(applied > 1, `TXIDs were applied while the reader ran (${applied})`);
  assert.deepEqual(copyHealth(copy), { integrity: "ok", journalMode: "delete" });
});

test("the reader test catches torn reads when the apply is naive (no lock, no journal)", async () => {
  const { result } = await followWithReader(true);
  assert.ok(result.violations > 0, `torn reads caught: ${JSON.stringify(result)}`);
});
