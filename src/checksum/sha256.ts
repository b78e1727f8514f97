/**
 * SHA-256 in three shapes:
 * - WebCrypto for a segment already in memory (native, one call);
 * - `Sha256Stream`, incremental in plain TypeScript (~200 MB/s), for what the daemon stages:
 *   files of a few kilobytes, where loading `node:crypto` would cost ~7 MB of resident memory;
 * - `fastSha256Stream()`, incremental through `node:crypto` (~1.6 GB/s), loaded on demand by
 *   restore, where throughput matters and the process is short-lived.
 */
import { Sha256 } from "./sha256_incremental.ts";

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += HEX_BYTES[bytes[i]];
  return hex;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** SHA-256 of an in-memory segment as lower-case hex, via WebCrypto. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return toHex(new Uint8Array(digest));
}

/** An incremental hash: `update` chunk by chunk, then `digestHex` once. */
export interface StreamHash {
  update(chunk: Uint8Array): StreamHash;
  readonly sizeBytes: number;
  digestHex(): string;
}

/** Incremental SHA-256 without `node:crypto`. */
export class Sha256Stream implements StreamHash {
  #hash = new Sha256();
  #sizeBytes = 0;

  update(chunk: Uint8Array): this {
    this.#hash.update(chunk);
    this.#sizeBytes += chunk.length;
    return this;
  }

  /** Bytes fed so far. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  digestHex(): string {
    return toHex(this.#hash.digest());
  }
}

/** Incremental SHA-256 through `node:crypto`, imported on first use. */
export async function fastSha256Stream(): Promise<StreamHash> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  let sizeBytes = 0;
  const stream: StreamHash = {
    update(chunk: Uint8Array) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      return stream;
    },
    get sizeBytes() {
      return sizeBytes;
    },
    digestHex: () => hash.digest("hex"),
  };
  return stream;
}
