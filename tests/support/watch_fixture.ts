/**
 * A `walsync watch` in its own process over a file replica, with helpers the field-defect
 * tests share: wait until the replica reaches a TXID, restore a TXID and dump it.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runWalsync } from "./cli.ts";
import { replicaFiles, waitFor } from "./litestream.ts";
import { dumpDatabase, integrityCheck } from "./sqlite.ts";

/** The highest TXID at any level of `name` in the file replica at `root`. */
export function replicaTxid(root: string, name: string): number {
  let max = 0;
  for (const level of [0, 9]) {
    for (const file of replicaFiles(`${root}/${name}`, level)) max = Math.max(max, file.maxTxid);
  }
  return max;
}

/** Waits until the replica holds a TXID above `txid`; returns the new highest TXID. */
export async function waitForTxidAbove(
  root: string,
  name: string,
  txid: number,
  stderr: () => string,
): Promise<number> {
  await waitFor(
    `a TXID above ${txid} in the replica`,
    () => replicaTxid(root, name) > txid,
    stderr,
  );
  return replicaTxid(root, name);
}

/** Restores `name` (at `txid`, or the latest) with the real CLI and dumps it. */
export async function restoredDump(
  replica: string,
  name: string,
  dir: string,
  txid?: number,
): Promise<Record<string, unknown[]>> {
  const output = `${dir}/restored-${crypto.randomUUID()}.db`;
  const args = ["restore", name, "-o", output, "-b", replica];
  if (txid !== undefined) args.push("--txid", String(txid));
  const run = await runWalsync(args);
  assert.equal(run.code, 0, `restore ${txid ?? "latest"}: ${run.stderr}`);
  const db = new DatabaseSync(output);
  try {
    assert.equal(integrityCheck(db), "ok");
    return dumpDatabase(db);
  } finally {
    db.close();
    for (const suffix of ["", "-wal", "-shm"]) {
      await Deno.remove(`${output}${suffix}`).catch(() => {});
    }
  }
}

/** JSON log lines walsync wrote at `level` (or above) whose message matches `pattern`. */
export function logLines(
  stderr: string,
  level: string,
  pattern: RegExp,
): Record<string, unknown>[] {
  return stderr.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
    .filter((line) => line.level === level && pattern.test(String(line.msg)));
}
