/**
 * Writes a full snapshot into staging: every page of the database as the next TXID at level 0
 * (so the TXID sequence has no gap) and, past TXID 1, the same pages as a level-9 snapshot
 * `1-TXID` (where restores start), produced in one pass over the pages.
 */
import { lockPgno } from "../checksum/database_checksum.ts";
import { LtxEncoder } from "../ltx/ltx_encoder.ts";
import { newLtxHeader, SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { WAL_HEADER_SIZE, type WalHeader } from "../wal/wal_header.ts";
import type { WalScan } from "../wal/wal_reader.ts";
import { PageChecksums } from "./page_checksums.ts";
import type { StagedFile, Staging } from "./staging.ts";

/** Snapshots above this size are hashed with `node:crypto` (faster, but loads more code). */
const LARGE_SNAPSHOT_BYTES = 16 * 1024 * 1024;
/** Progress is reported every this many pages. */
const PROGRESS_PAGES = 256;

export interface SnapshotOptions {
  /** Bytes of pages read so far and in all (both files of a snapshot count). */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface SnapshotSource extends SnapshotOptions {
  txid: number;
  /** Levels to stage (default: 0, and 9 past TXID 1). */
  levels?: number[];
  pageSize: number;
  /** Database size in pages at the snapshot. */
  pageCount: number;
  /** The WAL the copy overlays (null without a WAL) and its scan up to the last commit. */
  header: WalHeader | null;
  scan: WalScan | null;
  createdAt: Date;
  /** Reads the current version of a page (newest committed WAL frame, else the file). */
  readPage(pgno: number, buffer: Uint8Array): Promise<void>;
}

/** Stages the snapshot files; returns them and the page checksums of the copy. */
export async function stageSnapshot(
  staging: Staging,
  source: SnapshotSource,
): Promise<{ staged: StagedFile[]; pages: PageChecksums }> {
  const { txid, pageSize, pageCount, header, scan, createdAt, onProgress } = source;
  const pages = new PageChecksums(pageSize);
  const levels = source.levels ?? (txid === 1 ? [0] : [0, SNAPSHOT_LEVEL]);
  // Like Litestream's own snapshots, record the WAL range the copy covers (from the header
  // to the last commit): Litestream, taking the replica over, checks its WAL against the
  // last level-0 file's range, and cannot continue after a file without one.
  const walFields = {
    walOffset: WAL_HEADER_SIZE,
    walSize: scan && scan.commit.frameCount > 0 ? scan.commit.offset - WAL_HEADER_SIZE : 0,
    walSalt1: header?.salt1 ?? 0,
    walSalt2: header?.salt2 ?? 0,
  };
  const encoders = levels.map((level) =>
    new LtxEncoder(newLtxHeader({
      pageSize,
      commit: pageCount,
      minTxid: level === SNAPSHOT_LEVEL ? 1 : txid,
      maxTxid: txid,
      timestampMs: createdAt.getTime(),
      ...walFields,
    }))
  );
  // Both files hold the same pages; produce them in one pass, the second through a temp.
  const buffer = new Uint8Array(pageSize);
  const lock = lockPgno(pageSize);
  const totalBytes = pageCount * pageSize * levels.length;
  let doneBytes = 0;
  const writeAll = async (
    write: (chunk: Uint8Array) => Promise<void>,
    encoder: LtxEncoder,
    checksums: PageChecksums | null,
  ) => {
    await write(encoder.encodeHeader());
    for (let pgno = 1; pgno <= pageCount; pgno++) {
      if (pgno === lock) continue;
      await source.readPage(pgno, buffer);
      checksums?.set(pgno, buffer);
      await write(encoder.encodePage(pgno, buffer));
      doneBytes += pageSize;
      if (pgno % PROGRESS_PAGES === 0) onProgress?.(doneBytes, totalBytes);
    }
    await write(encoder.finish().bytes);
    onProgress?.(doneBytes, totalBytes);
  };
  const staged: StagedFile[] = [];
  for (let i = 0; i < levels.length; i++) {
    staged.push(
      await staging.stage(
        { level: levels[i], minTxid: levels[i] === SNAPSHOT_LEVEL ? 1 : txid, maxTxid: txid },
        {
          createdAt,
          get databaseChecksum() {
            return pages.value;
          },
        },
        (write) => writeAll(write, encoders[i], i === 0 ? pages : null),
        { large: pageCount * pageSize > LARGE_SNAPSHOT_BYTES },
      ),
    );
  }
  return { staged, pages };
}
