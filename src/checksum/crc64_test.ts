import assert from "node:assert/strict";
import { Random } from "../../tests/support/random.ts";
import { Crc64, crc64 } from "./crc64.ts";

/** Bit-at-a-time reference with BigInt: slow, obviously right, independent of the tables. */
function referenceCrc64(data: Uint8Array): bigint {
  const poly = 0xd800000000000000n;
  const mask = 0xffffffffffffffffn;
  let crc = mask;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let bit = 0; bit < 8; bit++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc ^ mask;
}

Deno.test("crc64 matches the CRC-64/GO-ISO check value for '123456789'", () => {
  assert.equal(crc64(new TextEncoder().encode("123456789")), 0xb90956c775a41001n);
});

Deno.test("crc64 of nothing is zero", () => {
  assert.equal(crc64(new Uint8Array()), 0n);
});

Deno.test("crc64 matches a bitwise reference for every length up to 70 and random data", () => {
  const data = new Random(1).bytes(4096);
  for (let length = 0; length <= 70; length++) {
    const slice = data.subarray(0, length);
    assert.equal(crc64(slice), referenceCrc64(slice), `length ${length}`);
  }
  assert.equal(crc64(data), referenceCrc64(data));
});

Deno.test("Crc64 gives the same result fed in uneven chunks as in one call", () => {
  const data = new Random(2).bytes(10_000);
  const hash = new Crc64();
  for (let at = 0, step = 1; at < data.length; at += step, step = (step * 7 + 3) % 97 + 1) {
    hash.update(data.subarray(at, Math.min(data.length, at + step)));
  }
  assert.equal(hash.digest(), crc64(data));
  const out = new Uint8Array(8);
  hash.digestInto(out);
  assert.equal(new DataView(out.buffer).getBigUint64(0), crc64(data));
  hash.reset();
  assert.equal(hash.digest(), 0n);
});
