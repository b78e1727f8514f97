/**
 * Downloads objects ahead of the one being checked, so that `verify`, which must check
 * them in order, still keeps several requests in flight. Only small objects are read ahead
 * into memory, within a byte budget; a large one is streamed when its turn comes (and the
 * objects after it are read ahead meanwhile). Memory is bounded by the budget, whatever the
 * replica's size.
 */
import type { LtxFileInfo } from "../replica/replica_client.ts";

/** Objects read ahead at once. */
export const DEFAULT_PREFETCH_OBJECTS = 4;
/** Memory for objects read ahead. */
export const DEFAULT_PREFETCH_BYTES = 16 * 1024 * 1024;

/** One object's bytes: read ahead (then an error, if the read failed part-way) or live. */
export type Fetched =
  | { kind: "buffered"; chunks: Uint8Array[]; error?: unknown }
  | { kind: "stream"; stream: ReadableStream<Uint8Array> }
  | { kind: "failed"; error: unknown };

export type OpenObject = (file: LtxFileInfo) => Promise<ReadableStream<Uint8Array>>;

export interface PrefetchOptions {
  objects?: number;
  budgetBytes?: number;
}

export class Prefetcher {
  readonly #files: LtxFileInfo[];
  readonly #open: OpenObject;
  readonly #objects: number;
  readonly #budgetBytes: number;
  /** Read-ahead objects not yet taken, by index. */
  #ahead = new Map<number, Promise<Fetched>>();
  #aheadBytes = 0;
  /** The next index to read ahead. */
  #next = 0;

  constructor(files: LtxFileInfo[], open: OpenObject, options: PrefetchOptions = {}) {
    this.#files = files;
    this.#open = open;
    this.#objects = Math.max(1, options.objects ?? DEFAULT_PREFETCH_OBJECTS);
    this.#budgetBytes = options.budgetBytes ?? DEFAULT_PREFETCH_BYTES;
  }

  /** The object at `index`; call for 0, 1, 2, … in order. */
  async take(index: number): Promise<Fetched> {
    const ahead = this.#ahead.get(index);
    if (ahead !== undefined) {
      this.#ahead.delete(index);
      this.#aheadBytes -= this.#files[index].sizeBytes;
      this.#fill();
      return await ahead;
    }
    // Too large to read ahead: streamed now, while the following ones are read ahead.
    this.#next = Math.max(this.#next, index + 1);
    let fetched: Fetched;
    try {
      fetched = { kind: "stream", stream: await this.#open(this.#files[index]) };
    } catch (error) {
      fetched = { kind: "failed", error };
    }
    this.#fill();
    return fetched;
  }

  #fill(): void {
    while (this.#next < this.#files.length && this.#ahead.size < this.#objects) {
      const sizeBytes = this.#files[this.#next].sizeBytes;
      if (sizeBytes > this.#budgetBytes / this.#objects) return; // its turn will stream it
      if (this.#aheadBytes + sizeBytes > this.#budgetBytes) return;
      this.#ahead.set(this.#next, this.#read(this.#files[this.#next]));
      this.#aheadBytes += sizeBytes;
      this.#next++;
    }
  }

  /** Reads a whole object; never rejects (the error is part of the result). */
  async #read(file: LtxFileInfo): Promise<Fetched> {
    let stream: ReadableStream<Uint8Array>;
    try {
      stream = await this.#open(file);
    } catch (error) {
      return { kind: "failed", error };
    }
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk);
    } catch (error) {
      return { kind: "buffered", chunks, error };
    }
    return { kind: "buffered", chunks };
  }

  /** Starts reading ahead from the first object. */
  start(): void {
    this.#fill();
  }
}
