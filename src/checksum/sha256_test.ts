import assert from "node:assert/strict";
import { Random } from "../../tests/support/random.ts";
import { fastSha256Stream, sha256Hex } from "./sha256.ts";

const ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Deno.test("sha256Hex gives the FIPS 180-2 digests of 'abc' and the empty string", async () => {
  assert.equal(await sha256Hex(new TextEncoder().encode("abc")), ABC_SHA256);
  assert.equal(await sha256Hex(new Uint8Array()), EMPTY_SHA256);
});

Deno.test("fastSha256Stream matches WebCrypto at every padding boundary, fed in uneven chunks", async () => {
  const random = new Random(3);
  for (
    const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 200_000]
  ) {
    const data = random.bytes(length);
    const stream = await fastSha256Stream();
    for (let at = 0, step = 1; at < length; at += step, step = (step * 5 + 3) % 211 + 1) {
      stream.update(data.subarray(at, at + step));
    }
    assert.equal(stream.sizeBytes, length);
    assert.equal(stream.digestHex(), await sha256Hex(data), `length ${length}`);
  }
});

Deno.test("sha256Hex hashes exactly the view it is given, not the rest of its buffer", async () => {
  const buffer = new TextEncoder().encode("xxabcyy");
  assert.equal(await sha256Hex(buffer.subarray(2, 5)), ABC_SHA256);
});
