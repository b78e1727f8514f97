/**
 * The CRC-64 of every page as of the last staged TXID, so each sync can update the rolling
 * database checksum from the pages it changed alone (XOR out the old, XOR in the new).
 * Costs 8 bytes per page (2 MiB per GiB of 4 KiB pages).
 */
import { CHECKSUM_FLAG, lockPgno, pageChecksum } from "../checksum/database_checksum.ts";

export class PageChecksums {
  #table: BigUint64Array;
  #pageCount = 0;
  #xor = 0n;
  readonly #lockPgno: number;
  /** Pages changed since the table was last saved; null when the whole table must be. */
  #dirty: Set<number> | null = null;
  /** The smallest size the table was cut to since it was last saved, if it was cut. */
  #cutTo: number | null = null;

  constructor(pageSize: number, table?: BigUint64Array) {
    this.#lockPgno = lockPgno(pageSize);
    this.#table = table ?? new BigUint64Array(16);
    if (table) {
      this.#pageCount = table.length;
      for (const crc of table) this.#xor ^= crc;
    }
  }

  /** Pages in the database. */
  get pageCount(): number {
    return this.#pageCount;
  }

  /** The rolling database checksum (flag set). */
  get value(): bigint {
    return CHECKSUM_FLAG | (this.#xor & ~CHECKSUM_FLAG);
  }

  /** Records the new content of `pgno` (the lock page is never counted). */
  set(pgno: number, page: Uint8Array): void {
    if (pgno === this.#lockPgno) return;
    this.#grow(pgno);
    const crc = pageChecksum(pgno, page) & ~CHECKSUM_FLAG;
    this.#xor ^= this.#table[pgno - 1] ^ crc;
    this.#table[pgno - 1] = crc;
    this.#dirty?.add(pgno);
  }

  /**
   * Records `page` as the content of `pgno` if its CRC differs from the one recorded (or the
   * page is new); returns whether it did.
   */
  setIfChanged(pgno: number, page: Uint8Array): boolean {
    if (pgno === this.#lockPgno) return false;
    const crc = pageChecksum(pgno, page) & ~CHECKSUM_FLAG;
    if (pgno <= this.#pageCount && this.#table[pgno - 1] === crc) return false;
    this.#grow(pgno);
    this.#xor ^= this.#table[pgno - 1] ^ crc;
    this.#table[pgno - 1] = crc;
    this.#dirty?.add(pgno);
    return true;
  }

  /** Sets the database size; pages past it leave the checksum. */
  truncate(pageCount: number): void {
    for (let pgno = pageCount + 1; pgno <= this.#pageCount; pgno++) {
      this.#xor ^= this.#table[pgno - 1];
      this.#table[pgno - 1] = 0n;
      this.#dirty?.delete(pgno);
    }
    if (pageCount < this.#pageCount) this.#cutTo = Math.min(this.#cutTo ?? pageCount, pageCount);
    this.#grow(pageCount);
    this.#pageCount = pageCount;
  }

  /**
   * Pages whose entry changed since `markSaved` (entries past a truncation are zero, as a file
   * cut and extended again reads), or null when the whole table must be written.
   */
  get dirtyPages(): number[] | null {
    return this.#dirty === null ? null : [...this.#dirty].sort((a, b) => a - b);
  }

  /** The table as it is now is what the state file holds. */
  markSaved(): void {
    this.#dirty = new Set();
    this.#cutTo = null;
  }

  /** The smallest size the table was cut to since `markSaved`, or null if it was not cut. */
  get cutTo(): number | null {
    return this.#cutTo;
  }

  /** The entry of `pgno` as stored (big-endian u64), into `out` at `offset`. */
  writeEntry(pgno: number, out: DataView, offset: number): void {
    out.setBigUint64(offset, pgno <= this.#pageCount ? this.#table[pgno - 1] : 0n);
  }

  /** The table as stored: one big-endian u64 per page. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.#pageCount * 8);
    const view = new DataView(out.buffer);
    for (let i = 0; i < this.#pageCount; i++) view.setBigUint64(i * 8, this.#table[i]);
    return out;
  }

  static fromBytes(pageSize: number, bytes: Uint8Array): PageChecksums {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const table = new BigUint64Array(bytes.length / 8);
    for (let i = 0; i < table.length; i++) table[i] = view.getBigUint64(i * 8);
    return new PageChecksums(pageSize, table);
  }

  #grow(pageCount: number): void {
    if (pageCount > this.#pageCount) this.#pageCount = pageCount;
    if (pageCount <= this.#table.length) return;
    const grown = new BigUint64Array(Math.max(pageCount, this.#table.length * 2));
    grown.set(this.#table);
    this.#table = grown;
  }
}
