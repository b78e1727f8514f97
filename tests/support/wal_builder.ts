/**
 * Builds WAL files byte by byte for tests: any page size, either checksum byte order, and
 * deliberate damage (torn tails, foreign salts, broken checksums).
 */
import { walChecksum } from "../../src/wal/wal_checksum.ts";
import {
  encodeWalFrameHeader,
  encodeWalHeader,
  FRM_CHECKSUMMED_HEADER_SIZE,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
} from "../../src/wal/wal_header.ts";

export interface BuiltFrame {
  pgno: number;
  page: Uint8Array;
  /** Database size in pages when this frame ends a transaction, else 0. */
  commit: number;
}

export interface WalBuildOptions {
  pageSize: number;
  bigEndianChecksum?: boolean;
  salt1?: number;
  salt2?: number;
  checkpointSeq?: number;
}

/** A WAL as bytes, with frames appended one at a time and a valid checksum chain. */
export class WalBuilder {
  readonly pageSize: number;
  readonly bigEndian: boolean;
  readonly salt1: number;
  readonly salt2: number;
  #chunks: Uint8Array[] = [];
  #sum: { s1: number; s2: number };

  constructor(options: WalBuildOptions) {
    this.pageSize = options.pageSize;
    this.bigEndian = options.bigEndianChecksum ?? false;
    this.salt1 = options.salt1 ?? 0x11223344;
    this.salt2 = options.salt2 ?? 0x55667788;
    const header = encodeWalHeader({
      bigEndianChecksum: this.bigEndian,
      pageSize: this.pageSize,
      checkpointSeq: options.checkpointSeq ?? 0,
      salt1: this.salt1,
      salt2: this.salt2,
    });
    const view = new DataView(header.buffer);
    this.#sum = { s1: view.getUint32(24), s2: view.getUint32(28) };
    this.#chunks.push(header);
  }

  /** Appends a frame; `salts` overrides the frame's salts to simulate a stale generation. */
  frame(frame: BuiltFrame, salts?: { salt1: number; salt2: number }): this {
    const bytes = new Uint8Array(WAL_FRAME_HEADER_SIZE + this.pageSize);
    bytes.set(frame.page.subarray(0, this.pageSize), WAL_FRAME_HEADER_SIZE);
    const header = {
      pgno: frame.pgno,
      commit: frame.commit,
      salt1: salts?.salt1 ?? this.salt1,
      salt2: salts?.salt2 ?? this.salt2,
      checksum1: 0,
      checksum2: 0,
    };
    encodeWalFrameHeader(bytes, 0, header);
    walChecksum(bytes, 0, FRM_CHECKSUMMED_HEADER_SIZE, this.bigEndian, this.#sum);
    walChecksum(bytes, WAL_FRAME_HEADER_SIZE, this.pageSize, this.bigEndian, this.#sum);
    header.checksum1 = this.#sum.s1;
    header.checksum2 = this.#sum.s2;
    encodeWalFrameHeader(bytes, 0, header);
    this.#chunks.push(bytes);
    return this;
  }

  /** Appends one transaction: every page, the last one marked as the commit. */
  transaction(pages: { pgno: number; page: Uint8Array }[], pageCount: number): this {
    pages.forEach((p, i) => this.frame({ ...p, commit: i === pages.length - 1 ? pageCount : 0 }));
    return this;
  }

  bytes(): Uint8Array {
    const total = this.#chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  /** Byte offset of frame `index` (0-based). */
  frameOffset(index: number): number {
    return WAL_HEADER_SIZE + index * (WAL_FRAME_HEADER_SIZE + this.pageSize);
  }
}

/** A page filled with a recognisable pattern derived from `pgno` and `version`. */
export function patternPage(pageSize: number, pgno: number, version = 0): Uint8Array {
  const page = new Uint8Array(pageSize);
  for (let i = 0; i < pageSize; i++) page[i] = (pgno * 31 + version * 7 + i) & 0xff;
  return page;
}
