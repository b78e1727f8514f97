/**
 * SHA-256 in two shapes: WebCrypto for a segment already in memory (native, one call),
 * and an incremental hasher for objects streamed larger than memory, where WebCrypto has
 * no incremental API and `node:crypto` does.
 */
import { createHash, type Hash } from "node:crypto";

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

/** Incremental SHA-256 for streamed objects: `update` chunk by chunk, then `digestHex` once. */
export class Sha256Stream {
  #hash: Hash = createHash("sha256");
  #sizeBytes = 0;

  /** Feeds one chunk. */
  update(chunk: Uint8Array): this {
    this.#hash.update(chunk);
    this.#sizeBytes += chunk.length;
    return this;
  }

  /** Bytes fed so far. */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Ends the hash and returns it as lower-case hex. */
  digestHex(): string {
    return this.#hash.digest("hex");
  }
}
