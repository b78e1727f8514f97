/**
 * Reads an LTX file page by page from a stream of chunks and verifies everything it can:
 * header rules, page order (complete for snapshots, never the lock page), each page's LZ4
 * data, the page index against the pages actually read, the index size, the file checksum,
 * and, for files that carry them, the rolling post-apply checksum. Memory stays bounded by
 * one page frame whatever the file size. Bad bytes raise `FormatError` with the offset.
 */
import { Crc64 } from "../checksum/crc64.ts";
import {
  CHECKSUM_FLAG,
  DatabaseChecksum,
  formatChecksum,
  lockPgno,
} from "../checksum/database_checksum.ts";
import { ChecksumMismatchError, FormatError } from "../errors.ts";
import { ByteReader, chunksOf } from "./byte_reader.ts";
import { compressBound } from "./lz4_block.ts";
import { decompressBlock, Lz4Error } from "./lz4_block_decoder.ts";
import { compressFrameBound, decompressFrame } from "./lz4_frame.ts";
import {
  hasChecksums,
  isSnapshot,
  LTX_HEADER_SIZE,
  LTX_INDEX_SIZE_FIELD,
  LTX_PAGE_HEADER_SIZE,
  LTX_TRAILER_SIZE,
  type LtxHeader,
  type LtxTrailer,
  PAGE_FLAG_SIZE,
  parseLtxHeader,
  parseLtxTrailer,
} from "./ltx_header.ts";
import { getUvarint, MAX_VARINT_BYTES, putUvarint } from "./varint.ts";

const SIZE_PREFIX_BYTES = 4;
/** Room for any honest one-page LZ4 frame: header, block and content checksums, end mark. */
const FRAME_SLACK_BYTES = 64;

export interface LtxDecodeSummary {
  header: LtxHeader;
  trailer: LtxTrailer;
  pageCount: number;
  sizeBytes: number;
  /** Rolling checksum of the database a snapshot describes; null for other files. */
  databaseChecksum: bigint | null;
}

export class LtxDecoder {
  #reader: ByteReader;
  #crc = new Crc64();
  /** CRC of the index bytes the pages read so far imply, to compare with the stored index. */
  #expectedIndexCrc = new Crc64();
  #expectedIndexLength = 0;
  #indexScratch = new Uint8Array(3 * MAX_VARINT_BYTES);
  #header: LtxHeader | null = null;
  #state: "header" | "pages" | "index" | "done" = "header";
  #lastPgno = 0;
  #pageCount = 0;
  #lockPgno = 0;
  #frameWindow = 0;
  #snapshotChecksum: DatabaseChecksum | null = null;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#reader = new ByteReader(source);
  }

  /** Decodes an LTX file already in memory. */
  static fromBytes(bytes: Uint8Array): LtxDecoder {
    return new LtxDecoder(chunksOf(bytes));
  }

  get header(): LtxHeader {
    if (!this.#header) throw new FormatError("LTX header has not been read yet", 0);
    return this.#header;
  }

  /** Reads and validates the 100-byte header. */
  async readHeader(): Promise<LtxHeader> {
    this.#expect("header");
    const available = await this.#reader.ensure(LTX_HEADER_SIZE);
    if (available < LTX_HEADER_SIZE) {
      throw new FormatError(
        `LTX file is truncated: ${available} of ${LTX_HEADER_SIZE} header bytes`,
        available,
      );
    }
    const bytes = this.#reader.window.subarray(0, LTX_HEADER_SIZE);
    const header = parseLtxHeader(bytes);
    this.#crc.update(bytes);
    this.#reader.consume(LTX_HEADER_SIZE);
    this.#header = header;
    this.#lockPgno = lockPgno(header.pageSize);
    this.#frameWindow = LTX_PAGE_HEADER_SIZE + compressFrameBound(header.pageSize) +
      FRAME_SLACK_BYTES;
    if (isSnapshot(header) && hasChecksums(header)) this.#snapshotChecksum = new DatabaseChecksum();
    this.#state = "pages";
    return header;
  }

  /**
   * Decodes the next page into `page` (exactly `pageSize` bytes) and returns its number, or
   * null after the last page.
   */
  async readPage(page: Uint8Array): Promise<number | null> {
    this.#expect("pages");
    const header = this.#header!;
    if (page.length !== header.pageSize) {
      throw new RangeError(`page buffer has ${page.length} bytes, expected ${header.pageSize}`);
    }
    const start = this.#reader.position;
    const reader = this.#reader;
    if (await reader.ensure(LTX_PAGE_HEADER_SIZE) < LTX_PAGE_HEADER_SIZE) {
      throw new FormatError("LTX file is truncated inside the page block", reader.position);
    }
    const view = reader.window;
    const pgno = ((view[0] << 24) | (view[1] << 16) | (view[2] << 8) | view[3]) >>> 0;
    const flags = (view[4] << 8) | view[5];
    if (pgno === 0 && flags === 0) {
      this.#crc.update(view.subarray(0, LTX_PAGE_HEADER_SIZE));
      reader.consume(LTX_PAGE_HEADER_SIZE);
      this.#checkSnapshotComplete(start);
      this.#state = "index";
      return null;
    }
    this.#checkPageHeader(pgno, flags, start);

    let frameLength: number;
    if (flags === 0) {
      await reader.ensure(this.#frameWindow);
      const window = reader.window;
      const frame = this.#lz4(() => decompressFrame(window, page, LTX_PAGE_HEADER_SIZE), start);
      if (frame.length !== header.pageSize) {
        throw new FormatError(
          `LTX page ${pgno} decompresses to ${frame.length} bytes, expected ${header.pageSize}`,
          start,
        );
      }
      this.#crc.update(window.subarray(0, LTX_PAGE_HEADER_SIZE));
      frameLength = LTX_PAGE_HEADER_SIZE + frame.bytesRead;
    } else {
      const prefix = LTX_PAGE_HEADER_SIZE + SIZE_PREFIX_BYTES;
      if (await reader.ensure(prefix) < prefix) {
        throw new FormatError(`LTX file is truncated inside page ${pgno}`, start);
      }
      const w = reader.window;
      const size = ((w[6] << 24) | (w[7] << 16) | (w[8] << 8) | w[9]) >>> 0;
      if (size === 0 || size > compressBound(header.pageSize)) {
        throw new FormatError(
          `LTX page ${pgno} has an impossible compressed size "${size}"`,
          start + LTX_PAGE_HEADER_SIZE,
        );
      }
      if (await reader.ensure(prefix + size) < prefix + size) {
        throw new FormatError(`LTX file is truncated inside page ${pgno}`, start);
      }
      const window = reader.window;
      const length = this.#lz4(
        () => decompressBlock(window.subarray(prefix, prefix + size), page),
        start,
      );
      if (length !== header.pageSize) {
        throw new FormatError(
          `LTX page ${pgno} decompresses to ${length} bytes, expected ${header.pageSize}`,
          start,
        );
      }
      this.#crc.update(window.subarray(0, prefix));
      frameLength = prefix + size;
    }
    this.#crc.update(page);
    this.#snapshotChecksum?.toggle(pgno, page);
    reader.consume(frameLength);
    this.#expectIndexEntry(pgno, start, frameLength);
    this.#lastPgno = pgno;
    this.#pageCount++;
    return pgno;
  }

  /**
   * Reads the page index, index size and trailer, and verifies them with the file checksum.
   * Call after `readPage` returned null; skips any pages not yet read.
   */
  async finish(): Promise<LtxDecodeSummary> {
    if (this.#state === "pages") {
      const page = new Uint8Array(this.#header!.pageSize);
      while (await this.readPage(page) !== null) { /* skip to the index */ }
    }
    this.#expect("index");
    const reader = this.#reader;
    const indexStart = reader.position;
    const indexCrc = new Crc64();
    let entries = 0;
    while (true) {
      await reader.ensure(3 * MAX_VARINT_BYTES);
      const window = reader.window;
      const at = reader.position;
      const pgno = this.#varint(window, 0, at);
      if (pgno[0] === 0) {
        this.#crc.update(window.subarray(0, pgno[1]));
        reader.consume(pgno[1]);
        break;
      }
      const offset = this.#varint(window, pgno[1], at);
      const size = this.#varint(window, pgno[1] + offset[1], at);
      const length = pgno[1] + offset[1] + size[1];
      this.#crc.update(window.subarray(0, length));
      indexCrc.update(window.subarray(0, length));
      reader.consume(length);
      if (++entries > this.#pageCount) {
        throw new FormatError(
          `LTX page index lists more than the ${this.#pageCount} pages in the file`,
          at,
        );
      }
    }
    const indexLength = reader.position - indexStart;
    if (
      entries !== this.#pageCount || indexLength - 1 !== this.#expectedIndexLength ||
      indexCrc.digest() !== this.#expectedIndexCrc.digest()
    ) {
      throw new FormatError("LTX page index does not match the pages in the file", indexStart);
    }

    const tailLength = LTX_INDEX_SIZE_FIELD + LTX_TRAILER_SIZE;
    if (await reader.ensure(tailLength) < tailLength) {
      throw new FormatError("LTX file is truncated in its trailer", reader.position);
    }
    const tail = reader.window.subarray(0, tailLength);
    const tailView = new DataView(tail.buffer, tail.byteOffset, tail.length);
    const storedIndexSize = tailView.getBigUint64(0);
    if (storedIndexSize !== BigInt(indexLength)) {
      throw new FormatError(
        `LTX page index size "${storedIndexSize}" does not match its ${indexLength} bytes`,
        reader.position,
      );
    }
    const trailer = parseLtxTrailer(tail, LTX_INDEX_SIZE_FIELD);
    this.#crc.update(tail.subarray(0, LTX_INDEX_SIZE_FIELD + 8));
    const trailerOffset = reader.position + LTX_INDEX_SIZE_FIELD;
    reader.consume(tailLength);
    const sizeBytes = reader.position;
    if (await reader.ensure(1) > 0) {
      throw new FormatError("LTX file has bytes after its trailer", sizeBytes);
    }

    const computed = CHECKSUM_FLAG | this.#crc.digest();
    if (trailer.fileChecksum !== computed) {
      throw new ChecksumMismatchError(
        `LTX file checksum ${formatChecksum(trailer.fileChecksum)} does not match the contents (${
          formatChecksum(computed)
        })`,
        trailerOffset + 8,
      );
    }
    this.#checkPostApply(trailer, trailerOffset);
    this.#state = "done";
    return {
      header: this.#header!,
      trailer,
      pageCount: this.#pageCount,
      sizeBytes,
      databaseChecksum: isSnapshot(this.#header!) ? (this.#snapshotChecksum?.value ?? null) : null,
    };
  }

  #checkPageHeader(pgno: number, flags: number, offset: number): void {
    const header = this.#header!;
    if ((flags & ~PAGE_FLAG_SIZE) !== 0 || pgno === 0) {
      throw new FormatError(
        `LTX page header has invalid flags "0x${flags.toString(16)}" or page number ${pgno}`,
        offset,
      );
    }
    if (pgno > header.commit) {
      throw new FormatError(`LTX page ${pgno} is beyond the commit size ${header.commit}`, offset);
    }
    if (pgno === this.#lockPgno) {
      throw new FormatError(`LTX file contains the lock page ${pgno}`, offset);
    }
    if (pgno <= this.#lastPgno) {
      throw new FormatError(
        `LTX page ${pgno} follows page ${this.#lastPgno}; pages must ascend`,
        offset,
      );
    }
    if (isSnapshot(header)) {
      const expected = this.#lastPgno + 1 === this.#lockPgno
        ? this.#lastPgno + 2
        : this.#lastPgno + 1;
      if (pgno !== expected) {
        throw new FormatError(`LTX snapshot skips from page ${this.#lastPgno} to ${pgno}`, offset);
      }
    }
  }

  #checkSnapshotComplete(offset: number): void {
    const header = this.#header!;
    if (!isSnapshot(header)) return;
    const last = this.#lastPgno + 1 === this.#lockPgno ? this.#lastPgno + 1 : this.#lastPgno;
    if (last !== header.commit) {
      throw new FormatError(
        `LTX snapshot ends at page ${this.#lastPgno}, before its commit size ${header.commit}`,
        offset,
      );
    }
  }

  #checkPostApply(trailer: LtxTrailer, offset: number): void {
    const header = this.#header!;
    if (!hasChecksums(header)) {
      if (trailer.postApplyChecksum !== 0n) {
        throw new FormatError(
          "LTX post-apply checksum must be 0 in a file without checksums",
          offset,
        );
      }
      return;
    }
    if ((trailer.postApplyChecksum & CHECKSUM_FLAG) === 0n) {
      throw new FormatError("LTX post-apply checksum lacks the checksum flag", offset);
    }
    const computed = this.#snapshotChecksum?.value;
    if (computed !== undefined && computed !== trailer.postApplyChecksum) {
      throw new ChecksumMismatchError(
        `LTX post-apply checksum ${
          formatChecksum(trailer.postApplyChecksum)
        } does not match the snapshot's pages (${formatChecksum(computed)})`,
        offset,
      );
    }
  }

  #expectIndexEntry(pgno: number, offset: number, size: number): void {
    const scratch = this.#indexScratch;
    let at = putUvarint(scratch, 0, pgno);
    at += putUvarint(scratch, at, offset);
    at += putUvarint(scratch, at, size);
    this.#expectedIndexCrc.update(scratch.subarray(0, at));
    this.#expectedIndexLength += at;
  }

  #varint(window: Uint8Array, at: number, base: number): [number, number] {
    const value = getUvarint(window, at);
    if (!value) {
      throw new FormatError("LTX file is truncated in its page index", base + window.length);
    }
    return value;
  }

  #lz4<T>(decode: () => T, offset: number): T {
    try {
      return decode();
    } catch (error) {
      if (error instanceof Lz4Error) {
        throw new FormatError(
          `LTX page data is not valid LZ4: ${error.message}`,
          offset + LTX_PAGE_HEADER_SIZE + error.offset,
          { cause: error },
        );
      }
      throw error;
    }
  }

  #expect(state: "header" | "pages" | "index"): void {
    if (this.#state !== state) {
      throw new FormatError(
        `LTX decoder is in state "${this.#state}", expected "${state}"`,
        this.#reader.position,
      );
    }
  }
}

/** A whole decoded LTX file (tests and small files only: holds every page in memory). */
export async function decodeLtx(
  bytes: Uint8Array,
): Promise<LtxDecodeSummary & { pages: { pgno: number; data: Uint8Array }[] }> {
  const decoder = LtxDecoder.fromBytes(bytes);
  const header = await decoder.readHeader();
  const pages: { pgno: number; data: Uint8Array }[] = [];
  while (true) {
    const data = new Uint8Array(header.pageSize);
    const pgno = await decoder.readPage(data);
    if (pgno === null) break;
    pages.push({ pgno, data });
  }
  return { ...(await decoder.finish()), pages };
}
