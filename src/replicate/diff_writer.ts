/**
 * Writes a diff into staging: every page of the database is read and compared with the CRC
 * table at the last TXID; the pages whose CRC differs (and those past the old end) become one
 * level-0 LTX file with the next TXID, as if a batch had carried them. Its header records the
 * WAL the pages overlay, as snapshots do, so Litestream can take the replica over after it.
 */
import { lockPgno } from "../checksum/database_checksum.ts";
import { LtxEncoder } from "../ltx/ltx_encoder.ts";
import { newLtxHeader } from "../ltx/ltx_header.ts";
import { WAL_HEADER_SIZE, type WalHeader } from "../wal/wal_header.ts";
import type { WalScan } from "../wal/wal_reader.ts";
import type { PageChecksums } from "./page_checksums.ts";
import type { StagedFile, Staging } from "./staging.ts";

export interface DiffSource {
  txid: number;
  pageSize: number;
  /** Database size in pages now. */
  pageCount: number;
  /** The WAL the pages overlay (null without one) and its scan to the last commit. */
  header: WalHeader | null;
  scan: WalScan | null;
  /** The table at the last TXID; updated with every page that differs. */
  checksums: PageChecksums;
  createdAt: Date;
  readPage(pgno: number, buffer: Uint8Array): Promise<void>;
}

/**
 * Stages the changed pages; `staged` is null (and nothing is left in staging) when no page
 * changed and the size is the same.
 */
export async function stageDiff(
  staging: Staging,
  source: DiffSource,
): Promise<{ staged: StagedFile | null; changed: number }> {
  const { txid, pageSize, pageCount, header, scan, checksums, createdAt } = source;
  const shrunk = checksums.pageCount > pageCount;
  const encoder = new LtxEncoder(newLtxHeader({
    pageSize,
    commit: pageCount,
    minTxid: txid,
    maxTxid: txid,
    timestampMs: createdAt.getTime(),
    walOffset: WAL_HEADER_SIZE,
    walSize: scan && scan.commit.frameCount > 0 ? scan.commit.offset - WAL_HEADER_SIZE : 0,
    walSalt1: header?.salt1 ?? 0,
    walSalt2: header?.salt2 ?? 0,
  }));
  const buffer = new Uint8Array(pageSize);
  const lock = lockPgno(pageSize);
  let changed = 0;
  const staged = await staging.stage(
    { level: 0, minTxid: txid, maxTxid: txid },
    {
      createdAt,
      get databaseChecksum() {
        return checksums.value;
      },
    },
    async (write) => {
      await write(encoder.encodeHeader());
      for (let pgno = 1; pgno <= pageCount; pgno++) {
        if (pgno === lock) continue;
        await source.readPage(pgno, buffer);
        if (!checksums.setIfChanged(pgno, buffer)) continue;
        changed++;
        await write(encoder.encodePage(pgno, buffer));
      }
      checksums.truncate(pageCount);
      await write(encoder.finish().bytes);
    },
  );
  if (changed === 0 && !shrunk) {
    await staging.remove(staged);
    return { staged: null, changed };
  }
  return { staged, changed };
}
