/**
 * Writes one sync batch into staging: the newest committed version of each page the WAL
 * changed since the last batch, as a level-0 LTX file with the next TXID. Its header records
 * the WAL range it came from, as Litestream's files do.
 */
import { LtxEncoder } from "../ltx/ltx_encoder.ts";
import { newLtxHeader } from "../ltx/ltx_header.ts";
import type { WalHeader } from "../wal/wal_header.ts";
import type { WalScan } from "../wal/wal_reader.ts";
import type { PageChecksums } from "./page_checksums.ts";
import type { StagedFile, Staging } from "./staging.ts";

export interface Batch {
  txid: number;
  header: WalHeader;
  /** The scan from `fromOffset` to the last commit. */
  scan: WalScan;
  fromOffset: number;
  /** Pages to ship, ascending (those past the commit's database size already dropped). */
  pgnos: number[];
  /** Updated with every page written (the rolling database checksum). */
  checksums: PageChecksums;
  createdAt: Date;
  /** Reads the page of the frame at `frameOffset`. */
  readWalPage(frameOffset: number, buffer: Uint8Array): Promise<void>;
}

export async function stageBatch(staging: Staging, batch: Batch): Promise<StagedFile> {
  const { txid, header, scan, fromOffset, pgnos, checksums, createdAt } = batch;
  const buffer = new Uint8Array(header.pageSize);
  const encoder = new LtxEncoder(newLtxHeader({
    pageSize: header.pageSize,
    commit: scan.commit.pageCount,
    minTxid: txid,
    maxTxid: txid,
    timestampMs: createdAt.getTime(),
    walOffset: fromOffset,
    walSize: scan.commit.offset - fromOffset,
    walSalt1: header.salt1,
    walSalt2: header.salt2,
  }));
  return await staging.stage(
    { level: 0, minTxid: txid, maxTxid: txid },
    {
      createdAt,
      get databaseChecksum() {
        return checksums.value;
      },
    },
    async (write) => {
      await write(encoder.encodeHeader());
      for (const pgno of pgnos) {
        await batch.readWalPage(scan.pages.get(pgno)!, buffer);
        checksums.set(pgno, buffer);
        await write(encoder.encodePage(pgno, buffer));
      }
      await write(encoder.finish().bytes);
    },
  );
}
