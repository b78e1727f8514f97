import assert from "node:assert/strict";
import { DatabaseChecksum, formatChecksum } from "../checksum/database_checksum.ts";
import { sha256Hex } from "../checksum/sha256.ts";
import { LtxEncoder } from "../ltx/ltx_encoder.ts";
import { newLtxHeader } from "../ltx/ltx_header.ts";
import { MemoryReplicaClient } from "../replica/memory/memory_replica_client.ts";
import type { LtxFileInfo, LtxFileKey } from "../replica/replica_client.ts";
import { coverageProblems, type VerifyProgress, verifyReplica } from "./verify.ts";

function file(level: number, minTxid: number, maxTxid: number): LtxFileInfo {
  return { level, minTxid, maxTxid, sizeBytes: 100, createdAt: new Date(0) };
}

const hex = (n: number) => n.toString(16).padStart(16, "0");

Deno.test("coverageProblems finds nothing wrong in an unbroken level-0 sequence", () => {
  assert.deepEqual(coverageProblems([1, 2, 3, 4].map((t) => file(0, t, t))), []);
});

Deno.test("coverageProblems accepts compactions that span level-0 files pruned by retention", () => {
  const files = [file(9, 1, 10), file(1, 11, 20), file(0, 19, 19), file(0, 20, 20)];
  assert.deepEqual(coverageProblems([...files, file(0, 21, 21)]), []);
});

Deno.test("coverageProblems ignores files before the earliest snapshot", () => {
  // Level 0 was pruned below 5; the level-9 snapshot at 7 is where restores start.
  assert.deepEqual(coverageProblems([file(0, 5, 5), file(9, 1, 7), file(0, 8, 8)]), []);
});

Deno.test("coverageProblems names a hole and every position it makes unreachable", () => {
  const files = [file(0, 1, 1), file(0, 2, 2), file(0, 5, 5), file(0, 6, 6), file(0, 7, 7)];
  assert.deepEqual(coverageProblems(files), [
    `TXIDs ${hex(3)}..${
      hex(4)
    } are in no file: restores to those positions and to every later one up to ${
      hex(7)
    } are impossible`,
  ]);
});

Deno.test("coverageProblems counts a later snapshot as covering the TXIDs it spans", () => {
  const files = [file(0, 1, 1), file(0, 3, 3), file(0, 4, 4), file(0, 5, 5)];
  assert.deepEqual(coverageProblems(files), [
    `TXID ${hex(2)} is in no file: restores to that position and to every later one up to ${
      hex(5)
    } are impossible`,
  ]);
  // A snapshot at 4 makes 4 and 5 restorable again; 2 and 3 are then history, like pruning.
  assert.deepEqual(coverageProblems([...files, file(9, 1, 4)]), []);
});

Deno.test("coverageProblems reports every hole, not just the first", () => {
  const files = [file(0, 1, 1), file(0, 3, 3), file(1, 4, 6), file(0, 9, 9)];
  assert.deepEqual(coverageProblems(files), [
    `TXID ${hex(2)} is in no file: restores to that position and to every later one up to ${
      hex(9)
    } are impossible`,
    `TXIDs ${hex(7)}..${
      hex(8)
    } are in no file: restores to those positions and to every later one up to ${
      hex(9)
    } are impossible`,
  ]);
});

Deno.test("coverageProblems calls a replica without any file starting at TXID 1 a problem", () => {
  assert.deepEqual(coverageProblems([file(0, 4, 4), file(0, 5, 5)]), [
    `No snapshot: no file starts at TXID ${hex(1)}, so no position from ${hex(4)} to ${
      hex(5)
    } can be restored`,
  ]);
});

/** A one-page LTX file; `fill` varies the page's bytes. */
function ltxFile(minTxid: number, maxTxid: number, pageSize: number, fill: number): Uint8Array {
  const encoder = new LtxEncoder(newLtxHeader({ pageSize, commit: 1, minTxid, maxTxid }));
  const parts = [
    encoder.encodeHeader(),
    encoder.encodePage(1, new Uint8Array(pageSize).fill(fill)),
  ];
  parts.push(encoder.finish().bytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function store(
  client: MemoryReplicaClient,
  key: LtxFileKey,
  bytes: Uint8Array,
  databaseChecksum = 0n,
): Promise<void> {
  await client.writeFile("app.db", key, bytes, {
    sha256: await sha256Hex(bytes),
    databaseChecksum,
    createdAt: new Date(0),
  });
}

Deno.test("verifyReplica names each object whose checksum, header or page size is wrong", async () => {
  const client = new MemoryReplicaClient();
  const snapshot = ltxFile(1, 1, 4096, 7);
  const pageChecksum = new DatabaseChecksum().toggle(1, new Uint8Array(4096).fill(7)).value;
  await store(client, { level: 0, minTxid: 1, maxTxid: 1 }, snapshot, pageChecksum ^ 1n);
  await store(client, { level: 0, minTxid: 2, maxTxid: 3 }, ltxFile(2, 2, 4096, 8));
  await store(client, { level: 0, minTxid: 4, maxTxid: 4 }, ltxFile(4, 4, 1024, 9));
  await store(client, { level: 0, minTxid: 5, maxTxid: 5 }, ltxFile(5, 5, 4096, 10));
  const progress: VerifyProgress[] = [];
  const report = await verifyReplica({
    client,
    name: "app.db",
    concurrency: 1,
    onProgress: (p) => progress.push(p),
  });
  assert.equal(report.files, 4);
  assert.equal(report.latestTxid, 5);
  assert.deepEqual(report.notes, []);
  assert.deepEqual(report.problems.slice(0, 3), [
    `level 0 ${hex(1)}-${hex(1)}.ltx: its pages give database checksum ${
      formatChecksum(pageChecksum)
    }, but ${formatChecksum(pageChecksum ^ 1n)} is recorded`,
    `level 0 ${hex(2)}-${hex(3)}.ltx: its header says TXIDs ${hex(2)}..${
      hex(2)
    }, not the range in its name`,
    `level 0 ${hex(4)}-${hex(4)}.ltx has page size 1024, the other objects 4096`,
  ]);
  // The pages are not a SQLite database, so the restore fails too; that is the fourth.
  assert.equal(report.problems.length, 4, report.problems.join("\n"));
  assert.match(report.problems[3], /^Restoring the latest TXID 0000000000000005 fails: /);
  assert.deepEqual(progress.map((p) => p.files), [1, 2, 3, 4]);
  assert.equal(progress.at(-1)!.bytes, report.bytes);
});
