/**
 * CRC-64/ISO as Go's `hash/crc64` computes it with `crc64.MakeTable(crc64.ISO)`:
 * reflected polynomial 0xD800000000000000, initial value and final XOR all ones.
 * LTX uses it for file checksums and page checksums, so it must match Go bit for bit.
 *
 * The 64-bit register is kept as two unsigned 32-bit halves so the hot loop never
 * touches BigInt; eight bytes are folded per step with slicing-by-8 tables.
 */

/** Reflected ISO polynomial, split into 32-bit halves. */
const POLY_HI = 0xd8000000;
const POLY_LO = 0x00000000;
const TABLE_SIZE = 256;
const SLICES = 8;

/** `TABLE_HI[k * 256 + b]` / `TABLE_LO[...]`: the CRC of byte `b` followed by `k` zero bytes. */
const TABLE_HI = new Uint32Array(TABLE_SIZE * SLICES);
const TABLE_LO = new Uint32Array(TABLE_SIZE * SLICES);

function buildTables(): void {
  for (let b = 0; b < TABLE_SIZE; b++) {
    let hi = 0;
    let lo = b;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        hi = (hi ^ POLY_HI) >>> 0;
        lo = (lo ^ POLY_LO) >>> 0;
      }
    }
    TABLE_HI[b] = hi;
    TABLE_LO[b] = lo;
  }
  for (let k = 1; k < SLICES; k++) {
    for (let b = 0; b < TABLE_SIZE; b++) {
      const prevHi = TABLE_HI[(k - 1) * TABLE_SIZE + b];
      const prevLo = TABLE_LO[(k - 1) * TABLE_SIZE + b];
      const idx = prevLo & 0xff;
      TABLE_HI[k * TABLE_SIZE + b] = ((prevHi >>> 8) ^ TABLE_HI[idx]) >>> 0;
      TABLE_LO[k * TABLE_SIZE + b] = (((prevLo >>> 8) | (prevHi << 24)) ^ TABLE_LO[idx]) >>> 0;
    }
  }
}
buildTables();

/** Incremental CRC-64/ISO. `digest()` may be called at any point without ending the hash. */
export class Crc64 {
  // The register as stored between calls is already inverted (Go's `^crc` on entry).
  #hi = 0xffffffff;
  #lo = 0xffffffff;

  /** Feeds `data` into the hash and returns `this` for chaining. */
  update(data: Uint8Array): this {
    let hi = this.#hi;
    let lo = this.#lo;
    const length = data.length;
    const end8 = length - (length & 7);
    let i = 0;
    while (i < end8) {
      lo ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
      hi ^= data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
      const nextHi = TABLE_HI[1792 + (lo & 0xff)] ^ TABLE_HI[1536 + ((lo >>> 8) & 0xff)] ^
        TABLE_HI[1280 + ((lo >>> 16) & 0xff)] ^ TABLE_HI[1024 + (lo >>> 24)] ^
        TABLE_HI[768 + (hi & 0xff)] ^ TABLE_HI[512 + ((hi >>> 8) & 0xff)] ^
        TABLE_HI[256 + ((hi >>> 16) & 0xff)] ^ TABLE_HI[hi >>> 24];
      lo = TABLE_LO[1792 + (lo & 0xff)] ^ TABLE_LO[1536 + ((lo >>> 8) & 0xff)] ^
        TABLE_LO[1280 + ((lo >>> 16) & 0xff)] ^ TABLE_LO[1024 + (lo >>> 24)] ^
        TABLE_LO[768 + (hi & 0xff)] ^ TABLE_LO[512 + ((hi >>> 8) & 0xff)] ^
        TABLE_LO[256 + ((hi >>> 16) & 0xff)] ^ TABLE_LO[hi >>> 24];
      hi = nextHi;
      i += 8;
    }
    for (; i < length; i++) {
      const idx = (lo ^ data[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx];
      hi = (hi >>> 8) ^ TABLE_HI[idx];
    }
    this.#hi = hi >>> 0;
    this.#lo = lo >>> 0;
    return this;
  }

  /** The CRC of everything fed so far, as an unsigned 64-bit value. */
  digest(): bigint {
    return (BigInt(~this.#hi >>> 0) << 32n) | BigInt(~this.#lo >>> 0);
  }

  /** The CRC written as 8 big-endian bytes into `out` at `offset` (LTX stores it that way). */
  digestInto(out: Uint8Array, offset = 0): void {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(offset, ~this.#hi >>> 0);
    view.setUint32(offset + 4, ~this.#lo >>> 0);
  }

  /** Forgets everything fed so far. */
  reset(): void {
    this.#hi = 0xffffffff;
    this.#lo = 0xffffffff;
  }
}

/** CRC-64/ISO of `data` in one call. */
export function crc64(data: Uint8Array): bigint {
  return new Crc64().update(data).digest();
}
