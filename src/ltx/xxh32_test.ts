import assert from "node:assert/strict";
import { xxh32 } from "./xxh32.ts";

Deno.test("xxh32 matches the reference xxHash32 for every tail length and both seeds", () => {
  // Expected values from python's xxhash package on bytes (i * 131 + 7) & 255.
  const buf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255);
  const seed = 0x9e3779b1;
  const vectors: [number, number, number][] = [
    [0, 0, 0x02cc5d05],
    [0, seed, 0x36b78ae7],
    [1, 0, 0x002e0d32],
    [1, seed, 0xd40fe509],
    [3, 0, 0x7d92e8db],
    [4, 0, 0xf189ec97],
    [4, seed, 0xda1f7e37],
    [15, 0, 0x57055fe6],
    [16, 0, 0x64287c90],
    [16, seed, 0x63edbb26],
    [17, 0, 0x1c63fdc5],
    [31, seed, 0x6782f4d6],
    [32, 0, 0x1e1bff83],
    [100, 0, 0xcc7d31ef],
    [100, seed, 0xd5409737],
    [1000, 0, 0x47c1e8da],
    [1000, seed, 0x1ea19bb5],
  ];
  for (const [n, s, want] of vectors) assert.equal(xxh32(buf(n), s), want, `n=${n} seed=${s}`);
});

Deno.test("xxh32 of a range equals xxh32 of a copy of that range", () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 255);
  for (const [start, end] of [[100, 600], [3, 19], [0, 0], [999, 1000]]) {
    assert.equal(xxh32(data, 0, start, end), xxh32(data.slice(start, end)), `${start}..${end}`);
  }
});
