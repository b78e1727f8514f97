/** WAL parsing micro-benchmarks; the seed's Rust figures are 47 ns (header) and 32 ns (frame). */
import { parseWalFrameHeader, parseWalHeader } from "../src/wal/wal_header.ts";
import { bytesReadAt, scanWal, WalReader } from "../src/wal/wal_reader.ts";
import { patternPage, WalBuilder } from "../tests/support/wal_builder.ts";

const PAGE_SIZE = 4096;
const FRAME_COUNT = 1000;

const builder = new WalBuilder({ pageSize: PAGE_SIZE });
for (let i = 0; i < FRAME_COUNT; i++) {
  builder.frame({
    pgno: (i % 250) + 1,
    page: patternPage(PAGE_SIZE, i),
    commit: i % 10 === 9 ? 250 : 0,
  });
}
const wal = builder.bytes();
const header = wal.subarray(0, 32);
const frameHeader = wal.subarray(32, 56);

Deno.bench("WAL header parse (32 B, incl. header checksum)", { group: "wal" }, () => {
  parseWalHeader(header);
});

Deno.bench("WAL frame header parse (24 B)", { group: "wal" }, () => {
  parseWalFrameHeader(frameHeader, 0);
});

Deno.bench(`WAL scan + verify ${FRAME_COUNT} frames of 4 KB (in memory)`, async () => {
  await scanWal(await WalReader.open(bytesReadAt(wal)));
});
