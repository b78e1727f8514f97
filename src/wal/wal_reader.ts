/**
 * Streams frames out of a WAL file, verifying salts and the cumulative checksum frame by
 * frame, and tracks the position after the last commit frame so callers only ever act on
 * committed transactions. It never throws on a bad frame: it stops and says why.
 */
import { FormatError } from "../errors.ts";
import { walChecksum, type WalChecksumState } from "./wal_checksum.ts";
import {
  FRM_CHECKSUMMED_HEADER_SIZE,
  parseWalFrameHeader,
  parseWalHeader,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  type WalFrameHeader,
  type WalHeader,
} from "./wal_header.ts";

/** Read frames in chunks of about this many bytes, so a scan is not one syscall per frame. */
export const DEFAULT_READ_CHUNK_BYTES = 256 * 1024;

/** Positional reads from a WAL; `readAt` returns fewer bytes than asked only at end of file. */
export interface ReadAt {
  readAt(buffer: Uint8Array, offset: number): Promise<number>;
}

/**
 * Why a reader stopped:
 * - `end`: the file ends exactly at a frame boundary;
 * - `torn`: the file ends inside a frame (a write in progress or a torn write);
 * - `salt`: a frame carries salts from an earlier WAL generation (normal after a restart);
 * - `checksum`: the cumulative checksum breaks (torn write or corruption);
 * - `invalid`: the frame header itself is impossible (page number 0).
 */
export type WalStopReason = "end" | "torn" | "salt" | "checksum" | "invalid";

export interface WalStop {
  reason: WalStopReason;
  /** Byte offset of the frame that could not be read. */
  offset: number;
}

/** A point between frames: where the next frame starts and the checksum chain so far. */
export interface WalPosition {
  offset: number;
  checksum1: number;
  checksum2: number;
}

export interface WalFrame {
  offset: number;
  header: WalFrameHeader;
  /** The page image; a view into the reader's buffer, valid until the next `nextFrame()`. */
  page: Uint8Array;
}

/** Where the last commit frame seen so far ends. */
export interface WalCommit extends WalPosition {
  /** Database size in pages after that commit; 0 before any commit was seen. */
  pageCount: number;
  /** Frames up to and including that commit, counted from where reading started. */
  frameCount: number;
}

export interface WalReaderOptions {
  /** Resume from a position whose checksum chain is already known (defaults to frame 0). */
  from?: WalPosition;
  readChunkBytes?: number;
  /**
   * A buffer to read into, reused across readers by the caller (its length sets the read-ahead
   * instead of `readChunkBytes`): no allocation per scan. Its content belongs to the reader
   * until the scan ends.
   */
  buffer?: Uint8Array;
}

/** Reads and validates the 32-byte header; throws `FormatError` for a missing or bad header. */
export async function readWalHeader(source: ReadAt): Promise<WalHeader> {
  const bytes = new Uint8Array(WAL_HEADER_SIZE);
  const n = await source.readAt(bytes, 0);
  return parseWalHeader(bytes.subarray(0, n));
}

export class WalReader {
  readonly header: WalHeader;
  readonly frameSize: number;
  #source: ReadAt;
  #buffer: Uint8Array;
  /** The caller's buffer, when given: read-ahead uses it instead of a new one. */
  #given: Uint8Array | null;
  #bufferOffset = 0;
  #bufferLength = 0;
  #chunkBytes: number;
  #position: WalPosition;
  #commit: WalCommit;
  #frameCount = 0;
  #stop: WalStop | null = null;
  #sum: WalChecksumState;

  constructor(source: ReadAt, header: WalHeader, options: WalReaderOptions = {}) {
    this.#source = source;
    this.header = header;
    this.frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
    const from = options.from ??
      { offset: WAL_HEADER_SIZE, checksum1: header.checksum1, checksum2: header.checksum2 };
    if (from.offset < WAL_HEADER_SIZE || (from.offset - WAL_HEADER_SIZE) % this.frameSize !== 0) {
      throw new FormatError(
        `WAL position "${from.offset}" is not a frame boundary for page size ${header.pageSize}`,
        from.offset,
      );
    }
    const given = options.buffer && options.buffer.length >= this.frameSize ? options.buffer : null;
    this.#given = given;
    const chunk = given?.length ?? options.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES;
    this.#chunkBytes = Math.max(1, Math.floor(chunk / this.frameSize)) * this.frameSize;
    // One frame first: most scans of an idle or lightly used WAL end there.
    this.#buffer = given ? given.subarray(0, this.frameSize) : new Uint8Array(this.frameSize);
    this.#position = { ...from };
    this.#commit = { ...from, pageCount: 0, frameCount: 0 };
    this.#sum = { s1: from.checksum1, s2: from.checksum2 };
  }

  /** Opens a WAL: reads its header, then positions at `options.from` or the first frame. */
  static async open(source: ReadAt, options: WalReaderOptions = {}): Promise<WalReader> {
    return new WalReader(source, await readWalHeader(source), options);
  }

  /** The position after the last valid frame read. */
  get position(): WalPosition {
    return { ...this.#position };
  }

  /** The position after the last valid commit frame read: the only safe point to act on. */
  get commit(): WalCommit {
    return { ...this.#commit };
  }

  /** Why reading stopped, once `nextFrame()` has returned null. */
  get stop(): WalStop | null {
    return this.#stop;
  }

  /** The next valid frame, or null once the reader stops (see `stop`). */
  async nextFrame(): Promise<WalFrame | null> {
    if (this.#stop) return null;
    const offset = this.#position.offset;
    const at = await this.#frameBytes(offset);
    if (at < 0) return null;
    const buffer = this.#buffer;
    const header = parseWalFrameHeader(buffer, at);
    if (header.pgno === 0) return this.#stopAt("invalid", offset);
    if (header.salt1 !== this.header.salt1 || header.salt2 !== this.header.salt2) {
      return this.#stopAt("salt", offset);
    }
    const sum = { s1: this.#sum.s1, s2: this.#sum.s2 };
    const bigEndian = this.header.bigEndianChecksum;
    walChecksum(buffer, at, FRM_CHECKSUMMED_HEADER_SIZE, bigEndian, sum);
    walChecksum(buffer, at + WAL_FRAME_HEADER_SIZE, this.header.pageSize, bigEndian, sum);
    if (sum.s1 !== header.checksum1 || sum.s2 !== header.checksum2) {
      return this.#stopAt("checksum", offset);
    }
    this.#sum = sum;
    this.#frameCount++;
    this.#position = { offset: offset + this.frameSize, checksum1: sum.s1, checksum2: sum.s2 };
    if (header.commit !== 0) {
      this.#commit = { ...this.#position, pageCount: header.commit, frameCount: this.#frameCount };
    }
    const pageStart = at + WAL_FRAME_HEADER_SIZE;
    return { offset, header, page: buffer.subarray(pageStart, pageStart + this.header.pageSize) };
  }

  #stopAt(reason: WalStopReason, offset: number): null {
    this.#stop = { reason, offset };
    return null;
  }

  /** Index in the buffer of the whole frame at `offset`, reading ahead as needed; -1 if none. */
  async #frameBytes(offset: number): Promise<number> {
    const size = this.frameSize;
    if (offset >= this.#bufferOffset && offset + size <= this.#bufferOffset + this.#bufferLength) {
      return offset - this.#bufferOffset;
    }
    this.#bufferOffset = offset;
    if (this.#bufferLength > 0 && this.#buffer.length < this.#chunkBytes) {
      // The scan goes on: read ahead from now.
      this.#buffer = this.#given?.subarray(0, this.#chunkBytes) ?? new Uint8Array(this.#chunkBytes);
    }
    this.#bufferLength = await this.#source.readAt(this.#buffer, offset);
    if (this.#bufferLength >= size) return 0;
    this.#stopAt(this.#bufferLength === 0 ? "end" : "torn", offset);
    return -1;
  }
}

/** What a scan of committed frames found. */
export interface WalScan {
  header: WalHeader;
  /** Page number → byte offset of the newest committed frame for that page. */
  pages: Map<number, number>;
  /** Position and database size after the last commit; equals the start if none. */
  commit: WalCommit;
  /** Valid frames after the last commit (an open transaction, or a torn one). */
  uncommittedFrameCount: number;
  stop: WalStop;
}

/**
 * Reads every valid frame and maps each page to its newest committed frame. Frames after the
 * last commit are counted but never mapped, so nothing uncommitted can be shipped.
 */
export async function scanWal(reader: WalReader): Promise<WalScan> {
  const pages = new Map<number, number>();
  const pending = new Map<number, number>();
  let frame: WalFrame | null;
  while ((frame = await reader.nextFrame())) {
    pending.set(frame.header.pgno, frame.offset);
    if (frame.header.commit !== 0) {
      for (const [pgno, offset] of pending) pages.set(pgno, offset);
      pending.clear();
    }
  }
  return {
    header: reader.header,
    pages,
    commit: reader.commit,
    uncommittedFrameCount: (reader.position.offset - reader.commit.offset) / reader.frameSize,
    stop: reader.stop!,
  };
}

/** A `ReadAt` over bytes already in memory (tests, small WALs). */
export function bytesReadAt(bytes: Uint8Array): ReadAt {
  return {
    readAt(buffer: Uint8Array, offset: number): Promise<number> {
      if (offset >= bytes.length) return Promise.resolve(0);
      const slice = bytes.subarray(offset, offset + buffer.length);
      buffer.set(slice);
      return Promise.resolve(slice.length);
    },
  };
}
