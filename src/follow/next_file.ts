/**
 * One replica object on its way into a follower's copy: downloaded whole (within a byte
 * budget), its SHA-256 and LTX checksums verified, decoded, and the database checksum it leads
 * to worked out from the copy's current pages, all before any page is written.
 */
import {
  CHECKSUM_FLAG,
  formatChecksum,
  lockPgno,
  pageChecksum,
} from "../checksum/database_checksum.ts";
import { sha256Hex } from "../checksum/sha256.ts";
import { readFullySync } from "../db/database.ts";
import { WalsyncError } from "../errors.ts";
import { LtxDecoder } from "../ltx/ltx_decoder.ts";
import type { LtxHeader } from "../ltx/ltx_header.ts";
import { type LtxFileInfo, readAll, type ReplicaClient } from "../replica/replica_client.ts";
import { describeFile } from "../restore/plan.ts";
import type { PageImage } from "./atomic_apply.ts";
import { unpatchPage1 } from "./copy_header.ts";
import type { FollowPosition } from "./follow_position.ts";

/** Largest object (and its decoded pages) applied in place; a larger TXID is restored again. */
export const DEFAULT_MAX_APPLY_BYTES = 16 * 1024 * 1024;
/** Object bytes all followers of a process may hold at once (downloaded, being applied). */
export const DEFAULT_APPLY_BUDGET_BYTES = 64 * 1024 * 1024;

/** A process-wide bound on bytes in flight: `acquire` waits until they fit. */
export class ByteBudget {
  readonly limitBytes: number;
  #usedBytes = 0;
  #waiting: (() => void)[] = [];

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  async acquire(sizeBytes: number): Promise<void> {
    const size = Math.min(sizeBytes, this.limitBytes);
    while (this.#usedBytes > 0 && this.#usedBytes + size > this.limitBytes) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#usedBytes += size;
  }

  release(sizeBytes: number): void {
    this.#usedBytes -= Math.min(sizeBytes, this.limitBytes);
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

/** An object that does not verify: following this database stops. */
export class FollowVerificationError extends WalsyncError {}

export interface VerifiedFile {
  info: LtxFileInfo;
  header: LtxHeader;
  /** The primary's pages, ascending. */
  pages: PageImage[];
  /** The database checksum after applying it (computed, and equal to the recorded one). */
  checksum: bigint;
}

/** Downloads and verifies one object; "too-large" past the budget. */
export async function fetchVerified(
  client: ReplicaClient,
  options: { name: string; info: LtxFileInfo; maxBytes: number; signal?: AbortSignal },
): Promise<Omit<VerifiedFile, "checksum"> | "too-large"> {
  const { name, info } = options;
  if (info.sizeBytes > options.maxBytes) return "too-large";
  const bytes = await readAll(await client.openFile(name, info, { signal: options.signal }));
  const what = `Replica object ${describeFile(info)} of "${name}"`;
  if (info.sha256 !== undefined) {
    const sha256 = await sha256Hex(bytes);
    if (sha256 !== info.sha256) {
      throw new FollowVerificationError(`${what} has SHA-256 ${sha256}, expected ${info.sha256}`);
    }
  }
  try {
    const decoder = LtxDecoder.fromBytes(bytes);
    const header = await decoder.readHeader();
    const pages: PageImage[] = [];
    let decodedBytes = 0;
    while (true) {
      const data = new Uint8Array(header.pageSize);
      const pgno = await decoder.readPage(data);
      if (pgno === null) break;
      decodedBytes += data.length;
      if (decodedBytes > options.maxBytes) return "too-large";
      pages.push({ pgno, data });
    }
    await decoder.finish();
    return { info, header, pages };
  } catch (error) {
    throw new FollowVerificationError(`${what} is damaged: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * The primary's database checksum after `file` is applied to the copy at `position`: each page
 * the file holds swaps its CRC for the one in the copy, and pages past the new size drop out.
 * Throws when the replica recorded another one.
 */
export function checksumAfter(
  copy: Deno.FsFile,
  options: { position: FollowPosition; file: Omit<VerifiedFile, "checksum">; name: string },
): bigint {
  const { position, file, name } = options;
  const { pageSize } = position;
  const lock = lockPgno(pageSize);
  const old = new Uint8Array(pageSize);
  let xor = position.checksum & ~CHECKSUM_FLAG;
  const crcOf = (pgno: number, page: Uint8Array) => pageChecksum(pgno, page) & ~CHECKSUM_FLAG;
  const oldCrc = (pgno: number): bigint => {
    readFullySync(copy, old, (pgno - 1) * pageSize);
    return crcOf(pgno, pgno === 1 ? unpatchPage1(old, position.primaryFields) : old);
  };
  const inFile = new Set<number>();
  for (const { pgno, data } of file.pages) {
    inFile.add(pgno);
    if (pgno <= position.pageCount) xor ^= oldCrc(pgno);
    xor ^= crcOf(pgno, data);
  }
  for (let pgno = file.header.commit + 1; pgno <= position.pageCount; pgno++) {
    if (pgno !== lock && !inFile.has(pgno)) xor ^= oldCrc(pgno);
  }
  const checksum = CHECKSUM_FLAG | xor;
  const recorded = file.info.databaseChecksum;
  if (recorded !== undefined && recorded !== checksum) {
    throw new FollowVerificationError(
      `Replica object ${describeFile(file.info)} of "${name}" leads to database checksum ${
        formatChecksum(checksum)
      } from TXID ${position.txid}, but the replica recorded ${formatChecksum(recorded)}`,
    );
  }
  return checksum;
}
