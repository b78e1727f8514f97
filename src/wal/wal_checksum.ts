/**
 * SQLite's WAL checksum: a Fibonacci-weighted sum over pairs of 32-bit words, cumulative
 * across the header and every frame. Words are read in the byte order the magic names.
 */

/** Running checksum; both words are unsigned 32-bit. */
export interface WalChecksumState {
  s1: number;
  s2: number;
}

const IS_LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Below this a typed-array view costs more than it saves (headers are 8 or 24 bytes). */
const MIN_VIEW_BYTES = 256;

/**
 * Folds `length` bytes of `bytes` starting at `offset` into `state` (updated in place).
 * `length` must be a multiple of 8, as every checksummed region in a WAL is.
 */
export function walChecksum(
  bytes: Uint8Array,
  offset: number,
  length: number,
  bigEndian: boolean,
  state: WalChecksumState,
): void {
  let s1 = state.s1 | 0;
  let s2 = state.s2 | 0;
  const start = bytes.byteOffset + offset;
  if (!bigEndian && IS_LITTLE_ENDIAN_HOST && length >= MIN_VIEW_BYTES && (start & 3) === 0) {
    // Fast path: words in host order, read straight through an aligned view.
    const words = new Uint32Array(bytes.buffer, start, length >>> 2);
    for (let i = 0; i < words.length; i += 2) {
      s1 = (s1 + words[i] + s2) | 0;
      s2 = (s2 + words[i + 1] + s1) | 0;
    }
  } else if (bigEndian) {
    for (let i = offset, end = offset + length; i < end; i += 8) {
      s1 = (s1 + ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) +
        s2) | 0;
      s2 =
        (s2 + ((bytes[i + 4] << 24) | (bytes[i + 5] << 16) | (bytes[i + 6] << 8) | bytes[i + 7]) +
          s1) | 0;
    }
  } else {
    for (let i = offset, end = offset + length; i < end; i += 8) {
      s1 = (s1 + (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) +
        s2) | 0;
      s2 =
        (s2 + (bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24)) +
          s1) | 0;
    }
  }
  state.s1 = s1 >>> 0;
  state.s2 = s2 >>> 0;
}
