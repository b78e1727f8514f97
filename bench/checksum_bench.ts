/** Checksum micro-benchmarks: SHA-256 (seed: 6 µs / 512 µs / 5.23 ms) and CRC-64/ISO. */
import { crc64 } from "../src/checksum/crc64.ts";
import { fastSha256Stream, sha256Hex } from "../src/checksum/sha256.ts";
import { Random } from "../tests/support/random.ts";

const random = new Random(42);
const SIZES: [string, number][] = [["1 KB", 1024], ["100 KB", 100 * 1024], ["1 MB", 1024 * 1024]];

for (const [label, size] of SIZES) {
  const data = random.bytes(size);
  Deno.bench(
    `SHA-256 ${label} (WebCrypto)`,
    { group: `sha256 ${label}`, baseline: true },
    async () => {
      await sha256Hex(data);
    },
  );
  Deno.bench(
    `SHA-256 ${label} (incremental, node:crypto)`,
    { group: `sha256 ${label}` },
    async () => {
      (await fastSha256Stream()).update(data).digestHex();
    },
  );
}

const megabyte = random.bytes(1024 * 1024);
Deno.bench("CRC-64/ISO 1 MB", () => {
  crc64(megabyte);
});
