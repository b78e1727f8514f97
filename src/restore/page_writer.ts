/**
 * Writes pages into a database file, coalescing runs of consecutive pages into one write:
 * a snapshot arrives in page order, so a restore does a few large writes instead of a seek
 * and a write per page.
 */
import { readFully } from "../db/database.ts";
import { writeChunk } from "../durable.ts";
import { PageChecksums } from "../replicate/page_checksums.ts";
import { RestoreError } from "./restore_error.ts";

/** Bytes gathered before a write. */
export const DEFAULT_WRITE_BUFFER_BYTES = 1024 * 1024;

export class PageWriter {
  #file: Deno.FsFile;
  #pageSize: number;
  #buffer: Uint8Array;
  #length = 0;
  /** Page number of the first page in the buffer. */
  #firstPgno = 0;

  #path: string;

  constructor(
    file: Deno.FsFile,
    pageSize: number,
    options: { path?: string; bufferBytes?: number } = {},
  ) {
    const bufferBytes = options.bufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES;
    this.#file = file;
    this.#path = options.path ?? "the output file";
    this.#pageSize = pageSize;
    this.#buffer = new Uint8Array(Math.max(pageSize, bufferBytes - (bufferBytes % pageSize)));
  }

  /** Queues page `pgno`; writes out when it does not follow the previous one or the buffer is full. */
  async write(pgno: number, page: Uint8Array): Promise<void> {
    const next = this.#firstPgno + this.#length / this.#pageSize;
    if (this.#length > 0 && (pgno !== next || this.#length === this.#buffer.length)) {
      await this.flush();
    }
    if (this.#length === 0) this.#firstPgno = pgno;
    this.#buffer.set(page, this.#length);
    this.#length += this.#pageSize;
  }

  async flush(): Promise<void> {
    if (this.#length === 0) return;
    try {
      await this.#file.seek((this.#firstPgno - 1) * this.#pageSize, Deno.SeekMode.Start);
      await writeChunk(this.#file, this.#buffer.subarray(0, this.#length));
    } catch (error) {
      // A full disk or a failing device, not a damaged replica: say which file.
      throw new RestoreError(`Cannot write "${this.#path}": ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.#length = 0;
  }
}

/** The rolling checksum of a database file, read in large chunks. */
export async function checksumFile(
  file: Deno.FsFile,
  pageSize: number,
  pageCount: number,
  chunkBytes = DEFAULT_WRITE_BUFFER_BYTES,
): Promise<bigint> {
  const pages = new PageChecksums(pageSize);
  const pagesPerChunk = Math.max(1, Math.floor(chunkBytes / pageSize));
  const buffer = new Uint8Array(pagesPerChunk * pageSize);
  for (let first = 1; first <= pageCount; first += pagesPerChunk) {
    const count = Math.min(pagesPerChunk, pageCount - first + 1);
    await readFully(file, buffer.subarray(0, count * pageSize), (first - 1) * pageSize);
    for (let i = 0; i < count; i++) {
      pages.set(first + i, buffer.subarray(i * pageSize, (i + 1) * pageSize));
    }
  }
  return pages.value;
}
