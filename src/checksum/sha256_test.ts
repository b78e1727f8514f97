import assert from "node:assert/strict";
import { Random } from "../../tests/support/random.ts";
import { sha256Hex, Sha256Stream } from "./sha256.ts";

const ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Deno.test("sha256Hex gives the FIPS 180-2 digests of 'abc' and the empty string", async () => {
  assert.equal(await sha256Hex(new TextEncoder().encode("abc")), ABC_SHA256);
  assert.equal(await sha256Hex(new Uint8Array()), EMPTY_SHA256);
});

Deno.test("Sha256Stream fed in chunks equals the one-shot WebCrypto digest", async () => {
  const data = new Random(1).bytes(200_000);
  const stream = new Sha256Stream();
  for (let at = 0; at < data.length; at += 65_536) stream.update(data.subarray(at, at + 65_536));
  assert.equal(stream.sizeBytes, data.length);
  assert.equal(stream.digestHex(), await sha256Hex(data));
});
