/**
 * Unsigned LEB128 varints as Go's `binary.PutUvarint` writes them, for values up to
 * 2^53 − 1 (file offsets past 4 GiB need more than 32-bit shifts, so this uses arithmetic).
 */
import { FormatError } from "../errors.ts";

/** Longest varint of a 64-bit value. */
export const MAX_VARINT_BYTES = 10;

/** Writes `value` at `out[offset]`; returns the number of bytes written. */
export function putUvarint(out: Uint8Array, offset: number, value: number): number {
  let at = offset;
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at - offset;
}

/** Reads one varint at `bytes[offset]`: `[value, bytesRead]`, or null if `bytes` ends first. */
export function getUvarint(
  bytes: Uint8Array,
  offset: number,
  end = bytes.length,
): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let at = offset; at < end; at++) {
    const byte = bytes[at];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value)) {
        throw new FormatError(`Varint value exceeds 2^53 − 1`, offset);
      }
      return [value, at - offset + 1];
    }
    scale *= 0x80;
    if (at - offset + 1 >= MAX_VARINT_BYTES) {
      throw new FormatError(`Varint is longer than ${MAX_VARINT_BYTES} bytes`, offset);
    }
  }
  return null;
}
