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

/** A database's pages as fills: page pgno is `pageSize` bytes of `fills[pgno]`. */
type Fills = Record<number, number>;

function pageOf(pageSize: number, fill: number): Uint8Array {
  return new Uint8Array(pageSize).fill(fill);
}

function checksumOf(fills: Fills, pageSize = 4096): bigint {
  const sum = new DatabaseChecksum();
  for (const [pgno, fill] of Object.entries(fills)) {
    sum.toggle(Number(pgno), pageOf(pageSize, fill));
  }
  return sum.value;
}

/** An LTX file holding `pages` (a snapshot when minTxid is 1), optionally with checksums. */
function ltx(
  fields: { minTxid: number; maxTxid: number; commit: number; pageSize?: number },
  pages: Fills,
  checksums?: { pre: bigint; post: bigint },
): Uint8Array {
  const pageSize = fields.pageSize ?? 4096;
  const header = newLtxHeader({ ...fields, pageSize });
  if (checksums) {
    header.flags = 0;
    header.preApplyChecksum = fields.minTxid === 1 ? 0n : checksums.pre;
  }
  const encoder = new LtxEncoder(header);
  const parts = [encoder.encodeHeader()];
  for (const [pgno, fill] of Object.entries(pages).sort((a, b) => Number(a[0]) - Number(b[0]))) {
    parts.push(encoder.encodePage(Number(pgno), pageOf(pageSize, fill)).slice());
  }
  parts.push(encoder.finish(checksums?.post).bytes);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A memory replica whose listing drops the metadata of some objects, as Litestream's has none. */
class ReplicaWithoutMetadata extends MemoryReplicaClient {
  readonly bare = new Set<string>();

  override async listFiles(name: string, level: number): Promise<LtxFileInfo[]> {
    return (await super.listFiles(name, level)).map((f) =>
      this.bare.has(`${f.level}/${f.minTxid}-${f.maxTxid}`)
        ? { ...f, sha256: undefined, databaseChecksum: undefined }
        : f
    );
  }
}

async function put(
  client: MemoryReplicaClient,
  key: LtxFileKey,
  bytes: Uint8Array,
  databaseChecksum: bigint,
): Promise<void> {
  await client.writeFile("app.db", key, bytes, {
    sha256: await sha256Hex(bytes),
    databaseChecksum,
    createdAt: new Date(0),
  });
}

/** The fake pages are no SQLite database: the final integrity check always says so. */
const NOT_SQLITE =
  /^The database at the latest TXID [0-9a-f]{16} fails PRAGMA integrity_check: file is not a database$/;

Deno.test("verifyReplica names objects whose header or page size is wrong, and what that leaves unchecked", async () => {
  const client = new MemoryReplicaClient();
  const s1 = { 1: 1, 2: 2 };
  await put(
    client,
    { level: 0, minTxid: 1, maxTxid: 1 },
    ltx({ minTxid: 1, maxTxid: 1, commit: 2 }, s1),
    checksumOf(s1),
  );
  const s2 = { 1: 1, 2: 3 };
  await put(
    client,
    { level: 0, minTxid: 2, maxTxid: 3 },
    ltx({ minTxid: 2, maxTxid: 2, commit: 2 }, { 2: 3 }),
    checksumOf(s2),
  );
  // A page size change without a snapshot: the chain cannot continue through it.
  await put(
    client,
    { level: 0, minTxid: 4, maxTxid: 4 },
    ltx({ minTxid: 4, maxTxid: 4, commit: 2, pageSize: 1024 }, { 2: 9 }),
    0n,
  );
  await put(
    client,
    { level: 0, minTxid: 5, maxTxid: 5 },
    ltx({ minTxid: 5, maxTxid: 5, commit: 2 }, { 1: 4 }),
    0n,
  );
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
  assert.deepEqual(report.problems, [
    `level 0 ${hex(2)}-${hex(3)}.ltx: its header says TXIDs ${hex(2)}..${
      hex(2)
    }, not the range in its name`,
    `level 0 ${hex(4)}-${hex(4)}.ltx has page size 1024, but the database at TXID ${
      hex(3)
    } it applies to has 4096; only a snapshot can change the page size`,
    `level 0 ${hex(4)}-${hex(4)}.ltx could not be applied, so the database checksums at TXIDs ${
      hex(4)
    }..${hex(5)} were not checked`,
  ]);
  assert.equal(report.databaseChecksum, undefined);
  assert.deepEqual(progress.map((p) => p.files), [1, 2, 3, 4]);
  assert.equal(progress.at(-1)!.bytes, report.bytes);
});

Deno.test("verifyReplica reports a wrong snapshot once, then counts the positions that follow it", async () => {
  const client = new MemoryReplicaClient();
  // The snapshot's page 1 is wrong; TXIDs 2 and 3 leave page 1 alone, TXID 4 rewrites it.
  const truth: Fills[] = [{ 1: 1, 2: 2 }, { 1: 1, 2: 3 }, { 1: 1, 2: 4 }, { 1: 5, 2: 4 }];
  await put(
    client,
    { level: 0, minTxid: 1, maxTxid: 1 },
    ltx({ minTxid: 1, maxTxid: 1, commit: 2 }, { 1: 99, 2: 2 }),
    checksumOf(truth[0]),
  );
  for (const [txid, pages] of [[2, { 2: 3 }], [3, { 2: 4 }], [4, { 1: 5 }]] as const) {
    await put(
      client,
      { level: 0, minTxid: txid, maxTxid: txid },
      ltx({ minTxid: txid, maxTxid: txid, commit: 2 }, pages),
      checksumOf(truth[txid - 1]),
    );
  }
  const report = await verifyReplica({ client, name: "app.db" });
  assert.equal(report.problems.length, 3, report.problems.join("\n"));
  assert.equal(
    report.problems[0],
    `level 0 ${hex(1)}-${hex(1)}.ltx: its pages give database checksum ${
      formatChecksum(checksumOf({ 1: 99, 2: 2 }))
    } at TXID ${hex(1)}, but ${formatChecksum(checksumOf(truth[0]))} is recorded`,
  );
  assert.equal(
    report.problems[1],
    `2 later positions up to TXID ${
      hex(3)
    } differ from their recorded checksums too, following level 0 ${hex(1)}-${hex(1)}.ltx`,
  );
  // TXID 4 matches again; only SQLite's check of the (fake) pages is left.
  assert.match(report.problems[2], NOT_SQLITE);
});

Deno.test("verifyReplica names two objects that give different checksums at the same TXID", async () => {
  const client = new MemoryReplicaClient();
  await put(
    client,
    { level: 0, minTxid: 1, maxTxid: 1 },
    ltx({ minTxid: 1, maxTxid: 1, commit: 1 }, { 1: 1 }),
    checksumOf({ 1: 1 }),
  );
  await put(
    client,
    { level: 0, minTxid: 2, maxTxid: 2 },
    ltx({ minTxid: 2, maxTxid: 2, commit: 1 }, { 1: 2 }),
    checksumOf({ 1: 2 }),
  );
  // A snapshot consistent with its own recorded checksum, but of other contents.
  await put(
    client,
    { level: 9, minTxid: 1, maxTxid: 2 },
    ltx({ minTxid: 1, maxTxid: 2, commit: 1 }, { 1: 7 }),
    checksumOf({ 1: 7 }),
  );
  const report = await verifyReplica({ client, name: "app.db" });
  assert.equal(report.problems.length, 2, report.problems.join("\n"));
  assert.equal(
    report.problems[0],
    `level 9 ${hex(1)}-${hex(2)}.ltx and level 0 ${hex(2)}-${
      hex(2)
    }.ltx give different database checksums at TXID ${hex(2)} (${
      formatChecksum(checksumOf({ 1: 7 }))
    } and ${formatChecksum(checksumOf({ 1: 2 }))}): a restore through one of them is wrong`,
  );
  assert.match(report.problems[1], NOT_SQLITE);
});

Deno.test("verifyReplica resumes after a damaged object at the next snapshot and checks what follows", async () => {
  const client = new MemoryReplicaClient();
  // Two pages, each increment changing page 1 only: no increment holds the whole database.
  const states: Fills[] = [{ 1: 1, 2: 9 }, { 1: 2, 2: 9 }, { 1: 3, 2: 9 }, { 1: 4, 2: 9 }];
  for (let txid = 1; txid <= 4; txid++) {
    const pages = txid === 1 ? states[0] : { 1: txid };
    let bytes = ltx({ minTxid: txid, maxTxid: txid, commit: 2 }, pages);
    if (txid === 2) {
      bytes = bytes.slice();
      bytes[bytes.length - 20] ^= 0xff; // inside the page index
    }
    // TXID 4 records a wrong checksum: found only if the walk goes on past the damage.
    await put(
      client,
      { level: 0, minTxid: txid, maxTxid: txid },
      bytes,
      checksumOf(states[txid - 1]) ^ (txid === 4 ? 1n : 0n),
    );
  }
  await put(
    client,
    { level: 9, minTxid: 1, maxTxid: 3 },
    ltx({ minTxid: 1, maxTxid: 3, commit: 2 }, states[2]),
    checksumOf(states[2]),
  );
  const report = await verifyReplica({ client, name: "app.db" });
  assert.equal(report.problems.length, 4, report.problems.join("\n"));
  assert.match(report.problems[0], new RegExp(`^level 0 ${hex(2)}-${hex(2)}\\.ltx is damaged: `));
  assert.equal(
    report.problems[1],
    `level 0 ${hex(2)}-${hex(2)}.ltx could not be applied, so the database checksums at TXID ${
      hex(2)
    } were not checked`,
  );
  assert.match(
    report.problems[2],
    new RegExp(
      `^level 0 ${hex(4)}-${hex(4)}\\.ltx: applied to the database at TXID ${
        hex(3)
      }, .*a restore to TXID ${hex(4)} fails$`,
    ),
  );
  assert.match(report.problems[3], NOT_SQLITE);
});

Deno.test("verifyReplica checks objects without metadata through the checksums in their trailer", async () => {
  const client = new ReplicaWithoutMetadata();
  const states: Fills[] = [{ 1: 1, 2: 1 }, { 1: 1, 2: 2 }, { 1: 3, 2: 2 }, { 1: 3, 2: 4 }];
  const sums = states.map((s) => checksumOf(s));
  const files: [number, Fills, bigint, bigint][] = [
    [1, states[0], 0n, sums[0]],
    [2, { 2: 2 }, sums[0], sums[1] ^ 2n], // a wrong post-apply checksum
    [3, { 1: 3 }, sums[1], sums[2]],
    [4, { 2: 4 }, sums[2] ^ 4n, sums[3]], // a wrong pre-apply checksum
  ];
  for (const [txid, pages, pre, post] of files) {
    const bytes = ltx({ minTxid: txid, maxTxid: txid, commit: 2 }, pages, { pre, post });
    await put(client, { level: 0, minTxid: txid, maxTxid: txid }, bytes, 0n);
    client.bare.add(`0/${txid}-${txid}`);
  }
  const report = await verifyReplica({ client, name: "app.db" });
  assert.equal(report.problems.length, 3, report.problems.join("\n"));
  assert.equal(
    report.problems[0],
    `level 0 ${hex(2)}-${hex(2)}.ltx: applied to the database at TXID ${
      hex(1)
    }, it gives checksum ${formatChecksum(sums[1])} at TXID ${hex(2)}, but ${
      formatChecksum(sums[1] ^ 2n)
    } is its post-apply checksum; a restore to TXID ${hex(2)} fails`,
  );
  assert.equal(
    report.problems[1],
    `level 0 ${hex(4)}-${hex(4)}.ltx: its pre-apply checksum ${
      formatChecksum(sums[2] ^ 4n)
    } differs from the database's ${formatChecksum(sums[2])} at TXID ${hex(3)}`,
  );
  assert.match(report.problems[2], NOT_SQLITE);
  assert.deepEqual(
    report.notes,
    [1, 2, 3, 4].map((t) =>
      `level 0 ${hex(t)}-${
        hex(t)
      }.ltx: no SHA-256 recorded (written by another tool?); its LTX checksum was verified`
    ),
  );
});
