/**
 * Buffers reused across syncs instead of allocated per sync: at one commit a second per
 * database, per-sync buffers (a 256 KiB WAL read-ahead, staging's write buffer) made the heap
 * grow with the write rate. Syncs run a few at a time, so a few buffers of each size serve
 * every database.
 */
import { DEFAULT_READ_CHUNK_BYTES } from "../wal/wal_reader.ts";

/** Buffers of one size; at most `keep` are kept between uses. */
export class BufferPool {
  readonly sizeBytes: number;
  readonly keep: number;
  #free: Uint8Array[] = [];

  constructor(sizeBytes: number, keep: number) {
    this.sizeBytes = sizeBytes;
    this.keep = keep;
  }

  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.sizeBytes);
  }

  give(buffer: Uint8Array): void {
    if (buffer.byteLength === this.sizeBytes && this.#free.length < this.keep) {
      this.#free.push(buffer);
    }
  }

  /** Runs `fn` with a buffer from the pool and gives it back after. */
  async with<T>(fn: (buffer: Uint8Array) => Promise<T>): Promise<T> {
    const buffer = this.take();
    try {
      return await fn(buffer);
    } finally {
      this.give(buffer);
    }
  }
}

/** Buffers kept of each size: as many as syncs run at once (the supervisor's default). */
const KEPT = 8;

/** WAL read-ahead for scans. */
export const WAL_READ_BUFFERS: BufferPool = new BufferPool(DEFAULT_READ_CHUNK_BYTES, KEPT);
