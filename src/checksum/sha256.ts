/**
 * SHA-256 in two shapes:
 * - WebCrypto (`sha256Hex`) for data in memory: native, one call. Staging hashes every object
 *   up to `DEFAULT_HASH_IN_MEMORY_BYTES` (8 MiB) this way.
 * - `fastSha256Stream()`, incremental through `node:crypto`, loaded on first use (about 7 MB
 *   of resident memory), for what WebCrypto cannot hash: objects too large to hold in memory
 *   (big snapshots staged by the daemon), and restore and verify, which stream every object.
 */

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
