/**
 * The CRC-64 of every page of a database at one TXID, as `verify` walks a chain of LTX files:
 * applying a file replaces the CRCs of the pages it holds and drops those past its commit
 * size, and the rolling database checksum (the XOR of them all) follows in step. It also
 * answers what a file would give if applied without applying it, so several files can be
 * checked against the same state. Costs 8 bytes per page (2 MiB per GiB of 4 KiB pages).
 */
import { CHECKSUM_FLAG, lockPgno, pageChecksum } from "../checksum/database_checksum.ts";

export class PageCrcTable {
  readonly pageSize: number;
  readonly #lockPgno: number;
  /** CRCs without the flag bit; 0 for a page not in the database. */
  #table = new BigUint64Array(16);
  #pageCount = 0;
  #xor = 0n;

  constructor(pageSize: number) {
    this.pageSize = pageSize;
    this.#lockPgno = lockPgno(pageSize);
  }

  /** Pages in the database. */
  get pageCount(): number {
    return this.#pageCount;
  }

  /** The rolling database checksum (flag set). */
  get value(): bigint {
    return CHECKSUM_FLAG | this.#xor;
  }

  /** A page's CRC as it goes into the table: `crc64(u32be(pgno) ‖ page)` without the flag. */
  static crcOf(pgno: number, page: Uint8Array): bigint {
    return pageChecksum(pgno, page) & ~CHECKSUM_FLAG;
  }

  /** The CRC recorded for `pgno`, 0 when the database does not have it. */
  get(pgno: number): bigint {
    return pgno <= this.#pageCount ? this.#table[pgno - 1] : 0n;
  }

  /** Records a page's new CRC (from `crcOf`); the lock page never counts. */
  set(pgno: number, crc: bigint): void {
    if (pgno === this.#lockPgno) return;
    this.#grow(pgno);
    this.#xor ^= this.#table[pgno - 1] ^ crc;
    this.#table[pgno - 1] = crc;
  }

  /** Sets the database size; pages past it leave the checksum. */
  truncate(pageCount: number): void {
    this.#xor ^= this.xorAfter(pageCount);
    for (let pgno = pageCount + 1; pgno <= this.#pageCount; pgno++) this.#table[pgno - 1] = 0n;
    this.#grow(pageCount);
    this.#pageCount = pageCount;
  }

  /** The XOR of the CRCs of the pages after `pageCount`: what truncating to it removes. */
  xorAfter(pageCount: number): bigint {
    let xor = 0n;
    for (let pgno = pageCount + 1; pgno <= this.#pageCount; pgno++) xor ^= this.#table[pgno - 1];
    return xor;
  }

  #grow(pageCount: number): void {
    if (pageCount > this.#pageCount) this.#pageCount = pageCount;
    if (pageCount <= this.#table.length) return;
    const grown = new BigUint64Array(Math.max(pageCount, this.#table.length * 2));
    grown.set(this.#table);
    this.#table = grown;
  }
}

/**
 * What applying one file to a table's state gives, worked out page by page without changing
 * the table: each page the file holds swaps its CRC, and the commit size drops later pages.
 */
export class AppliedChecksum {
  readonly #table: PageCrcTable;
  #delta = 0n;

  constructor(table: PageCrcTable) {
    this.#table = table;
  }

  /** A page of the file, with its CRC from `PageCrcTable.crcOf`. */
  add(pgno: number, crc: bigint): void {
    this.#delta ^= this.#table.get(pgno) ^ crc;
  }

  /** The database checksum after the file, whose commit size is `commit`. */
  result(commit: number): bigint {
    return CHECKSUM_FLAG | ((this.#table.value & ~CHECKSUM_FLAG) ^ this.#delta ^
      this.#table.xorAfter(commit));
  }
}
