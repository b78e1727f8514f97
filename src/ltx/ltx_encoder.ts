/**
 * Writes an LTX file page by page. Pages go out as "frame era" pages (flags 0, one LZ4
 * frame with a content checksum, exactly the shape Litestream 0.5.0–0.5.15 writes), which
 * every Litestream 0.5.x reads; "block" pages (flag 0x0001, size + raw LZ4 block, as 0.5.16+
 * writes) are available for peers known to be new enough.
 *
 * The encoder returns bytes instead of writing them, so it does no I/O: the caller writes
 * each returned chunk before the next call (chunks are views into reused buffers).
 */
import { Crc64 } from "../checksum/crc64.ts";
import { CHECKSUM_FLAG, DatabaseChecksum, lockPgno } from "../checksum/database_checksum.ts";
import { WalsyncError } from "../errors.ts";
import { compressBlock, compressBound } from "./lz4_block.ts";
import { compressFrameBound, compressFrameInto } from "./lz4_frame.ts";
import {
  encodeLtxHeader,
  hasChecksums,
  isSnapshot,
  LTX_HEADER_SIZE,
  LTX_INDEX_SIZE_FIELD,
  LTX_PAGE_HEADER_SIZE,
  LTX_TRAILER_SIZE,
  type LtxHeader,
  PAGE_FLAG_SIZE,
} from "./ltx_header.ts";
import { MAX_VARINT_BYTES, putUvarint } from "./varint.ts";

export type PageEncoding = "frame" | "block";

/** Index bytes are kept in chunks growing from 1 KiB to 64 KiB (about 9 bytes per page). */
const MIN_INDEX_CHUNK_BYTES = 1024;
const MAX_INDEX_CHUNK_BYTES = 64 * 1024;
const SIZE_PREFIX_BYTES = 4;

/** Misuse of the encoder by its caller (pages out of order, wrong sizes): a bug, not bad data. */
export class LtxEncodeError extends WalsyncError {}

export interface LtxEncoderOptions {
  pageEncoding?: PageEncoding;
  /**
   * Refuse a snapshot whose given post-apply checksum differs from the one computed from its
   * pages (default true). Only tests turn this off, to reproduce Go golden files that store an
   * arbitrary checksum; a real snapshot with a wrong checksum breaks every restore after it.
   */
  verifySnapshotChecksum?: boolean;
}

export interface LtxEncodeResult {
  fileChecksum: bigint;
  sizeBytes: number;
  pageCount: number;
  /** Rolling checksum of the database a snapshot describes; null for other files. */
  databaseChecksum: bigint | null;
}

export class LtxEncoder {
  readonly header: LtxHeader;
  readonly pageEncoding: PageEncoding;
  #crc = new Crc64();
  #frame: Uint8Array;
  #state: "header" | "pages" | "done" = "header";
  #offset = 0;
  #lastPgno = 0;
  #pageCount = 0;
  #lockPgno: number;
  #snapshotChecksum: DatabaseChecksum | null;
  #verifySnapshotChecksum: boolean;
  #indexChunks: Uint8Array[] = [];
  #indexChunk = new Uint8Array(MIN_INDEX_CHUNK_BYTES);
  /** Bytes used in `#indexChunk`. */
  #indexChunkLength = 0;
  /** Index bytes written so far, over all chunks. */
  #indexLength = 0;

  constructor(header: LtxHeader, options: LtxEncoderOptions = {}) {
    this.header = { ...header };
    this.pageEncoding = options.pageEncoding ?? "frame";
    this.#verifySnapshotChecksum = options.verifySnapshotChecksum ?? true;
    this.#lockPgno = lockPgno(header.pageSize);
    this.#snapshotChecksum = isSnapshot(header) ? new DatabaseChecksum() : null;
    const bound = this.pageEncoding === "frame"
      ? compressFrameBound(header.pageSize)
      : SIZE_PREFIX_BYTES + compressBound(header.pageSize);
    this.#frame = new Uint8Array(LTX_PAGE_HEADER_SIZE + bound);
  }

  /** The 100 header bytes; call first. */
  encodeHeader(): Uint8Array {
    this.#expect("header");
    if (this.header.commit === 0) {
      throw new LtxEncodeError("LTX commit size is 0; a database always has at least one page");
    }
    const bytes = encodeLtxHeader(this.header);
    this.#crc.update(bytes);
    this.#offset = LTX_HEADER_SIZE;
    this.#state = "pages";
    return bytes;
  }

  /** One page frame; pages must come in ascending order, all of 1..commit for a snapshot. */
  encodePage(pgno: number, page: Uint8Array): Uint8Array {
    this.#expect("pages");
    const { pageSize, commit } = this.header;
    if (page.length !== pageSize) {
      throw new LtxEncodeError(`Page ${pgno} has ${page.length} bytes, expected ${pageSize}`);
    }
    if (!Number.isInteger(pgno) || pgno < 1 || pgno > commit) {
      throw new LtxEncodeError(`Page number ${pgno} is outside 1..${commit} (the commit size)`);
    }
    if (pgno === this.#lockPgno) throw new LtxEncodeError(`Page ${pgno} is the lock page`);
    if (pgno <= this.#lastPgno) {
      throw new LtxEncodeError(
        `Page ${pgno} comes after page ${this.#lastPgno}; pages must ascend`,
      );
    }
    if (this.#snapshotChecksum && pgno !== this.#nextSnapshotPgno()) {
      throw new LtxEncodeError(`Snapshot skips from page ${this.#lastPgno} to ${pgno}`);
    }

    const frame = this.#frame;
    frame[0] = pgno >>> 24;
    frame[1] = pgno >>> 16;
    frame[2] = pgno >>> 8;
    frame[3] = pgno;
    let length: number;
    if (this.pageEncoding === "frame") {
      frame[4] = frame[5] = 0;
      this.#crc.update(frame.subarray(0, LTX_PAGE_HEADER_SIZE));
      length = LTX_PAGE_HEADER_SIZE + compressFrameInto(page, frame.subarray(LTX_PAGE_HEADER_SIZE));
    } else {
      frame[4] = 0;
      frame[5] = PAGE_FLAG_SIZE;
      const dataStart = LTX_PAGE_HEADER_SIZE + SIZE_PREFIX_BYTES;
      const size = compressBlock(page, frame.subarray(dataStart));
      new DataView(frame.buffer).setUint32(LTX_PAGE_HEADER_SIZE, size);
      this.#crc.update(frame.subarray(0, dataStart));
      length = dataStart + size;
    }
    this.#crc.update(page);
    this.#snapshotChecksum?.toggle(pgno, page);
    this.#addIndexEntry(pgno, this.#offset, length);
    this.#offset += length;
    this.#lastPgno = pgno;
    this.#pageCount++;
    return frame.subarray(0, length);
  }

  /**
   * The end of the file: zero page header, page index, index size and trailer. Without
   * checksums (Litestream's choice) the post-apply checksum must be 0; with them it defaults
   * to the computed one for a snapshot and is required otherwise.
   */
  finish(postApplyChecksum?: bigint): { bytes: Uint8Array; result: LtxEncodeResult } {
    this.#expect("pages");
    if (this.#snapshotChecksum && this.#lastPgno !== this.header.commit) {
      const last = this.#lastPgno + 1 === this.#lockPgno ? this.#lastPgno + 1 : this.#lastPgno;
      if (last !== this.header.commit) {
        throw new LtxEncodeError(
          `Snapshot ends at page ${this.#lastPgno} but the commit size is ${this.header.commit}`,
        );
      }
    }
    const post = this.#postApplyChecksum(postApplyChecksum);
    this.#flushIndexChunk();
    const indexBytes = this.#indexLength + 1;
    const tail = new Uint8Array(
      LTX_PAGE_HEADER_SIZE + indexBytes + LTX_INDEX_SIZE_FIELD + LTX_TRAILER_SIZE,
    );
    const view = new DataView(tail.buffer);
    let at = LTX_PAGE_HEADER_SIZE; // the zero page header ends the pages
    for (const chunk of this.#indexChunks) {
      tail.set(chunk, at);
      at += chunk.length;
    }
    tail[at++] = 0; // index terminator
    view.setBigUint64(at, BigInt(indexBytes));
    at += LTX_INDEX_SIZE_FIELD;
    view.setBigUint64(at, post);
    at += 8;
    this.#crc.update(tail.subarray(0, at));
    const fileChecksum = CHECKSUM_FLAG | this.#crc.digest();
    view.setBigUint64(at, fileChecksum);
    this.#state = "done";
    this.#indexChunks = [];
    return {
      bytes: tail,
      result: {
        fileChecksum,
        sizeBytes: this.#offset + tail.length,
        pageCount: this.#pageCount,
        databaseChecksum: this.#snapshotChecksum?.value ?? null,
      },
    };
  }

  #postApplyChecksum(given: bigint | undefined): bigint {
    if (!hasChecksums(this.header)) {
      if (given !== undefined && given !== 0n) {
        throw new LtxEncodeError("A file without checksums must have a post-apply checksum of 0");
      }
      return 0n;
    }
    const computed = this.#snapshotChecksum?.value;
    const post = given ?? computed;
    if (post === undefined) {
      throw new LtxEncodeError("A file with checksums needs its post-apply checksum");
    }
    if ((post & CHECKSUM_FLAG) === 0n) {
      throw new LtxEncodeError("The post-apply checksum lacks the checksum flag (bit 63)");
    }
    if (this.#verifySnapshotChecksum && computed !== undefined && post !== computed) {
      throw new LtxEncodeError("The post-apply checksum does not match the snapshot's pages");
    }
    return post;
  }

  #nextSnapshotPgno(): number {
    const next = this.#lastPgno + 1;
    return next === this.#lockPgno ? next + 1 : next;
  }

  #addIndexEntry(pgno: number, offset: number, size: number): void {
    if (this.#indexChunkLength + 3 * MAX_VARINT_BYTES > this.#indexChunk.length) {
      this.#flushIndexChunk();
    }
    const start = this.#indexChunkLength;
    let at = start;
    at += putUvarint(this.#indexChunk, at, pgno);
    at += putUvarint(this.#indexChunk, at, offset);
    at += putUvarint(this.#indexChunk, at, size);
    this.#indexChunkLength = at;
    this.#indexLength += at - start;
  }

  #flushIndexChunk(): void {
    if (this.#indexChunkLength === 0) return;
    this.#indexChunks.push(this.#indexChunk.slice(0, this.#indexChunkLength));
    this.#indexChunkLength = 0;
    if (this.#indexChunk.length < MAX_INDEX_CHUNK_BYTES) {
      this.#indexChunk = new Uint8Array(this.#indexChunk.length * 2);
    }
  }

  #expect(state: "header" | "pages"): void {
    if (this.#state !== state) {
      throw new LtxEncodeError(`LTX encoder is in state "${this.#state}", expected "${state}"`);
    }
  }
}
