/**
 * Writes a replication history straight into replicas, without running a replicator: a real
 * SQLite database (WAL mode, autocheckpoint off) is updated batch by batch, each batch's WAL
 * frames become one level-0 LTX file (Litestream's and walsync's layout and header rules), and
 * the whole database at the start is the `1-1` snapshot. Every replica given gets byte-identical
 * files, so walsync and Litestream restore exactly the same history. Timestamps are spaced
 * `spacingMs` apart ending now, as if a replicator had synced once per interval.
 */
import { DatabaseSync } from "node:sqlite";
import { CHECKSUM_FLAG, pageChecksum } from "../../src/checksum/database_checksum.ts";
import { sha256Hex } from "../../src/checksum/sha256.ts";
import { LtxEncoder } from "../../src/ltx/ltx_encoder.ts";
import { newLtxHeader } from "../../src/ltx/ltx_header.ts";
import type { LtxFileKey, ReplicaClient } from "../../src/replica/replica_client.ts";
import { makeDatabase, openApp, rowText } from "../harness.ts";

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

export interface HistoryOptions {
  dbPath: string;
  sizeBytes: number;
  /** Level-0 files after the snapshot. */
  batches: number;
  /** Rows updated per batch (each usually one leaf page). */
  rowsPerBatch?: number;
  replicas: { client: ReplicaClient; name: string }[];
  spacingMs?: number;
  /** Checkpoint (TRUNCATE) the source's WAL every this many batches (default 500). */
  checkpointEvery?: number;
  /** Uploads in flight at once (S3 benefits; order does not matter for a finished history). */
  concurrency?: number;
  progress?: (done: number) => void;
}

export interface History {
  finalTxid: number;
  pageCount: number;
  pageSize: number;
  /** A fingerprint of the source's rows at the final TXID (see `fingerprint`). */
  fingerprint: string;
  objects: number;
  bytes: number;
}

/** Row count, total length and a position-weighted character sum: changes with any update. */
export function fingerprint(path: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const row = db.prepare(
      "SELECT count(*) AS n, sum(length(body)) AS len, sum(unicode(substr(body, 1 + id % 40)) * id) AS mix, sum(CAST(substr(body, 1, 5) AS INTEGER) * id) AS mix2 FROM t",
    ).get() as Record<string, number>;
    return `${row.n}/${row.len}/${row.mix}/${row.mix2}`;
  } finally {
    db.close();
  }
}

export async function writeHistory(options: HistoryOptions): Promise<History> {
  const { dbPath, batches } = options;
  const rowsPerBatch = options.rowsPerBatch ?? 4;
  const spacingMs = options.spacingMs ?? 1000;
  const concurrency = options.concurrency ?? 1;
  const checkpointEvery = options.checkpointEvery ?? 500;
  makeDatabase(dbPath, options.sizeBytes);
  const db = openApp(dbPath);
  db.exec("PRAGMA wal_autocheckpoint=0");
  const pageSize = (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
  const maxId = (db.prepare("SELECT max(id) AS m FROM t").get() as { m: number }).m;
  const file = Deno.readFileSync(dbPath);
  let pageCount = file.length / pageSize;
  const checksums: bigint[] = [0n];
  /** The rolling database checksum without its flag bit: XOR of every page checksum. */
  let xor = 0n;
  const value = () => CHECKSUM_FLAG | xor;
  const start = Date.now() - (batches + 1) * spacingMs;
  let objects = 0;
  let bytes = 0;
  const inFlight = new Set<Promise<void>>();
  const put = async (key: LtxFileKey, body: Uint8Array, checksum: bigint, createdAt: Date) => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    const sha256 = await sha256Hex(body);
    const job = Promise.all(
      options.replicas.map(({ client, name }) =>
        client.writeFile(name, key, body, {
          sha256,
          databaseChecksum: checksum,
          createdAt,
          sizeBytes: body.length,
        })
      ),
    ).then(() => {
      inFlight.delete(job);
    });
    inFlight.add(job);
    objects++;
    bytes += body.length;
  };

  // The snapshot: every page, TXID 1.
  const snapshotAt = new Date(start);
  const snapshot = new LtxEncoder(newLtxHeader({
    pageSize,
    commit: pageCount,
    minTxid: 1,
    maxTxid: 1,
    timestampMs: snapshotAt.getTime(),
  }));
  const chunks = [snapshot.encodeHeader()];
  for (let pgno = 1; pgno <= pageCount; pgno++) {
    const page = file.subarray((pgno - 1) * pageSize, pgno * pageSize);
    checksums[pgno] = pageChecksum(pgno, page);
    xor ^= checksums[pgno] & ~CHECKSUM_FLAG;
    chunks.push(snapshot.encodePage(pgno, page).slice());
  }
  chunks.push(snapshot.finish().bytes);
  await put({ level: 0, minTxid: 1, maxTxid: 1 }, concat(chunks), value(), snapshotAt);

  const update = db.prepare("UPDATE t SET body = ? WHERE id = ?");
  const walPath = `${dbPath}-wal`;
  let walOffset = WAL_HEADER;
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let b = 0; b < batches; b++) {
    const txid = b + 2;
    if (b > 0 && b % checkpointEvery === 0) {
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      walOffset = WAL_HEADER;
    }
    db.exec("BEGIN");
    for (let r = 0; r < rowsPerBatch; r++) {
      const id = 1 + Math.floor(random() * maxId);
      const text = rowText(id - 1); // the row's own text: same length
      // Same length, new content: the page changes, the database does not grow.
      const mark = String(txid % 100_000).padStart(5, "0");
      update.run(mark + text.slice(5), id);
    }
    db.exec("COMMIT");
    const wal = Deno.readFileSync(walPath);
    const pages = new Map<number, Uint8Array>();
    let commit = 0;
    for (
      let at = walOffset;
      at + FRAME_HEADER + pageSize <= wal.length;
      at += FRAME_HEADER + pageSize
    ) {
      const view = new DataView(wal.buffer, wal.byteOffset + at, FRAME_HEADER);
      const pgno = view.getUint32(0);
      commit = view.getUint32(4) || commit;
      pages.set(pgno, wal.subarray(at + FRAME_HEADER, at + FRAME_HEADER + pageSize));
    }
    walOffset = wal.length;
    if (commit === 0) throw new Error(`batch ${b}: no commit frame in the WAL`);
    for (let pgno = commit + 1; pgno <= pageCount; pgno++) {
      xor ^= checksums[pgno] & ~CHECKSUM_FLAG; // truncated away
      checksums[pgno] = 0n;
    }
    pageCount = commit;
    const createdAt = new Date(start + (b + 1) * spacingMs);
    const encoder = new LtxEncoder(newLtxHeader({
      pageSize,
      commit,
      minTxid: txid,
      maxTxid: txid,
      timestampMs: createdAt.getTime(),
    }));
    const parts = [encoder.encodeHeader()];
    for (const pgno of [...pages.keys()].sort((x, y) => x - y)) {
      const page = pages.get(pgno)!;
      const sum = pageChecksum(pgno, page);
      // XOR out the old page, in the new one (the rolling checksum's definition).
      xor ^= ((checksums[pgno] ?? 0n) ^ sum) & ~CHECKSUM_FLAG;
      checksums[pgno] = sum;
      parts.push(encoder.encodePage(pgno, page).slice());
    }
    parts.push(encoder.finish().bytes);
    await put(
      { level: 0, minTxid: txid, maxTxid: txid },
      concat(parts),
      value(),
      createdAt,
    );
    options.progress?.(b + 1);
  }
  await Promise.all(inFlight);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return {
    finalTxid: batches + 1,
    pageCount,
    pageSize,
    fingerprint: fingerprint(dbPath),
    objects,
    bytes,
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
