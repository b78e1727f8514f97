/**
 * Where a merge's output waits until its size and SHA-256 are known (an upload needs both
 * first): in memory up to a limit, then in a private temp file. Memory stays bounded by the
 * limit whatever the output size.
 */
import { fastSha256Stream, sha256Hex, type StreamHash } from "../checksum/sha256.ts";

/** Outputs up to this size stay in memory and are hashed with one WebCrypto call. */
export const DEFAULT_SPOOL_MEMORY_BYTES = 8 * 1024 * 1024;

export class Spool {
  readonly #limit: number;
  readonly #tempDir: string | undefined;
  #buffer: Uint8Array;
  #length = 0;
  #file: Deno.FsFile | null = null;
  #path: string | null = null;
  #hash: StreamHash | null = null;
  #size = 0;

  constructor(options: { memoryBytes?: number; tempDir?: string } = {}) {
    this.#limit = options.memoryBytes ?? DEFAULT_SPOOL_MEMORY_BYTES;
    this.#tempDir = options.tempDir;
    this.#buffer = new Uint8Array(Math.min(64 * 1024, this.#limit));
  }

  get sizeBytes(): number {
    return this.#size;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#size += chunk.length;
    if (!this.#file && this.#length + chunk.length <= this.#limit) {
      if (this.#length + chunk.length > this.#buffer.length) {
        let size = this.#buffer.length * 2;
        while (size < this.#length + chunk.length) size *= 2;
        const grown = new Uint8Array(Math.min(size, this.#limit));
        grown.set(this.#buffer.subarray(0, this.#length));
        this.#buffer = grown;
      }
      this.#buffer.set(chunk, this.#length);
      this.#length += chunk.length;
      return;
    }
    if (!this.#file) await this.#spill();
    this.#hash!.update(chunk);
    let at = 0;
    while (at < chunk.length) at += this.#file!.writeSync(chunk.subarray(at));
  }

  /** The finished output: its body (bytes or a stream of the temp file), size and SHA-256. */
  async finish(): Promise<{
    body: Uint8Array | ReadableStream<Uint8Array>;
    sizeBytes: number;
    sha256: string;
  }> {
    if (!this.#file) {
      const bytes = this.#buffer.subarray(0, this.#length);
      return { body: bytes, sizeBytes: this.#length, sha256: await sha256Hex(bytes) };
    }
    const file = this.#file;
    this.#file = null;
    let body: ReadableStream<Uint8Array>;
    if (this.#path === null) {
      // Already unlinked: read back through the same handle (closed when the stream ends).
      file.seekSync(0, Deno.SeekMode.Start);
      body = file.readable;
    } else {
      file.close();
      const reader = Deno.openSync(this.#path, { read: true });
      Deno.removeSync(this.#path);
      this.#path = null;
      body = reader.readable;
    }
    return { body, sizeBytes: this.#size, sha256: this.#hash!.digestHex() };
  }

  /** Removes the temp file, if any (after a failure). */
  discard(): void {
    try {
      this.#file?.close();
    } catch { /* closed */ }
    this.#file = null;
    if (this.#path) {
      try {
        Deno.removeSync(this.#path);
      } catch { /* gone */ }
    }
    this.#path = null;
    this.#buffer = new Uint8Array(0);
  }

  async #spill(): Promise<void> {
    this.#path = Deno.makeTempFileSync({ dir: this.#tempDir, prefix: "walsync-compact-" });
    this.#file = Deno.openSync(this.#path, { read: true, write: true, truncate: true });
    if (Deno.build.os !== "windows") {
      // Unlinked at once: a process killed mid-merge leaves nothing behind.
      Deno.removeSync(this.#path);
      this.#path = null;
    }
    this.#hash = await fastSha256Stream();
    const held = this.#buffer.subarray(0, this.#length);
    this.#hash.update(held);
    let at = 0;
    while (at < held.length) at += this.#file.writeSync(held.subarray(at));
    this.#buffer = new Uint8Array(0);
    this.#length = 0;
  }
}
