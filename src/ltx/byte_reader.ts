/**
 * Pulls bytes from an async stream of chunks into a window the decoder can look at, so a
 * file is decoded page by page with memory bounded by the largest window asked for.
 */

export class ByteReader {
  #source: AsyncIterator<Uint8Array>;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #done = false;
  /** Absolute offset in the stream of `#buffer[#start]`. */
  #position = 0;

  constructor(source: AsyncIterable<Uint8Array>, initialCapacity = 64 * 1024) {
    this.#source = source[Symbol.asyncIterator]();
    this.#buffer = new Uint8Array(initialCapacity);
  }

  /** Stream offset of the next unread byte. */
  get position(): number {
    return this.#position;
  }

  /** Unread bytes in the window (a view, valid until the next `ensure`). */
  get window(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  /** Buffers at least `n` unread bytes unless the stream ends first; returns how many are buffered. */
  async ensure(n: number): Promise<number> {
    while (this.#end - this.#start < n && !this.#done) {
      const next = await this.#source.next();
      if (next.done) {
        this.#done = true;
        break;
      }
      this.#append(next.value);
    }
    return this.#end - this.#start;
  }

  /** Marks `n` buffered bytes as read. */
  consume(n: number): void {
    this.#start += n;
    this.#position += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  #append(chunk: Uint8Array): void {
    const unread = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buffer.length) {
      if (unread + chunk.length > this.#buffer.length) {
        const grown = new Uint8Array(Math.max(this.#buffer.length * 2, unread + chunk.length));
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = unread;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }
}

/** An async iterable over one in-memory buffer, cut into `chunkSize` pieces. */
export async function* chunksOf(
  bytes: Uint8Array,
  chunkSize = 64 * 1024,
): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += chunkSize) yield bytes.subarray(at, at + chunkSize);
}
