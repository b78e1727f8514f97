/**
 * The rolling database checksum LTX defines: the XOR of every page's CRC-64/ISO over
 * `u32be(pgno) ‖ page`, with bit 63 set as a "this is a checksum" flag. XOR makes it
 * updatable page by page: remove a page's old checksum, add its new one.
 */
import { Crc64 } from "./crc64.ts";

/** Bit 63, set on every LTX checksum so that a real checksum is never zero. */
export const CHECKSUM_FLAG = 0x8000000000000000n;
/** SQLite's PENDING_BYTE: the page holding it (the lock page) is never stored. */
export const PENDING_BYTE = 0x40000000;

/** The lock page for `pageSize`: 262145 for 4 KB pages; only databases over 1 GiB reach it. */
export function lockPgno(pageSize: number): number {
  return Math.floor(PENDING_BYTE / pageSize) + 1;
}

const pgnoBytes = new Uint8Array(4);
const pageHash = new Crc64();

/** `FLAG | crc64(u32be(pgno) ‖ page)`. */
export function pageChecksum(pgno: number, page: Uint8Array): bigint {
  pgnoBytes[0] = pgno >>> 24;
  pgnoBytes[1] = pgno >>> 16;
  pgnoBytes[2] = pgno >>> 8;
  pgnoBytes[3] = pgno;
  pageHash.reset();
  return CHECKSUM_FLAG | pageHash.update(pgnoBytes).update(page).digest();
}

/** A database checksum that pages are added to and removed from in any order. */
export class DatabaseChecksum {
  #xor = 0n;

  constructor(initial: bigint = CHECKSUM_FLAG) {
    this.#xor = initial & ~CHECKSUM_FLAG;
  }

  /** Folds a page in (or, applied again with the same bytes, back out). */
  toggle(pgno: number, page: Uint8Array): this {
    this.#xor ^= pageChecksum(pgno, page) & ~CHECKSUM_FLAG;
    return this;
  }

  /** The checksum so far; an empty database gives `CHECKSUM_FLAG`. */
  get value(): bigint {
    return CHECKSUM_FLAG | this.#xor;
  }
}

/** Formats a checksum as 16 lower-case hex digits, the way LTX tools print them. */
export function formatChecksum(checksum: bigint): string {
  return checksum.toString(16).padStart(16, "0");
}
