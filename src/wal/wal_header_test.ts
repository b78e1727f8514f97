import assert from "node:assert/strict";
import { FormatError } from "../errors.ts";
import {
  encodeWalFrameHeader,
  encodeWalHeader,
  parseWalFrameHeader,
  parseWalHeader,
  WAL_FRAME_HEADER_SIZE,
  WAL_MAGIC_BE,
  WAL_MAGIC_LE,
} from "./wal_header.ts";

const base = { pageSize: 4096, checkpointSeq: 7, salt1: 0xdeadbeef, salt2: 0x01020304 };

Deno.test("parseWalHeader reads both checksum byte orders and every field", () => {
  for (const bigEndianChecksum of [false, true]) {
    const header = parseWalHeader(encodeWalHeader({ ...base, bigEndianChecksum }));
    assert.equal(header.magic, bigEndianChecksum ? WAL_MAGIC_BE : WAL_MAGIC_LE);
    assert.equal(header.bigEndianChecksum, bigEndianChecksum);
    assert.equal(header.pageSize, 4096);
    assert.equal(header.checkpointSeq, 7);
    assert.equal(header.salt1, 0xdeadbeef);
    assert.equal(header.salt2, 0x01020304);
  }
});

Deno.test("parseWalHeader accepts every page size from 512 to 65536 stored as a plain integer", () => {
  for (let pageSize = 512; pageSize <= 65536; pageSize *= 2) {
    const bytes = encodeWalHeader({ ...base, pageSize, bigEndianChecksum: false });
    assert.equal(parseWalHeader(bytes).pageSize, pageSize);
  }
});

Deno.test("parseWalHeader names the bad field and its offset", () => {
  const cases: [string, (b: Uint8Array) => void, RegExp][] = [
    ["magic", (b) => (b[3] = 0x80), /WAL magic "0x377f0680".*offset 0/],
    ["version", (b) => (b[7] = 0), /WAL format version .* \(at offset 4\)/],
    ["page size", (b) => (b[10] = 0x11), /WAL page size "4352" .*offset 8/],
    ["checksum", (b) => (b[16] ^= 1), /checksum does not match.*offset 24/],
  ];
  for (const [name, damage, message] of cases) {
    const bytes = encodeWalHeader({ ...base, bigEndianChecksum: false });
    damage(bytes);
    assert.throws(() => parseWalHeader(bytes), (e: unknown) => {
      assert.ok(e instanceof FormatError, name);
      assert.match(e.message, message, name);
      return true;
    });
  }
  assert.throws(() => parseWalHeader(new Uint8Array(10)), /needs 32 bytes, got 10/);
});

Deno.test("parseWalFrameHeader reads what encodeWalFrameHeader wrote at an offset", () => {
  const bytes = new Uint8Array(8 + WAL_FRAME_HEADER_SIZE);
  const frame = {
    pgno: 0xfffffffe,
    commit: 12,
    salt1: 1,
    salt2: 0x80000000,
    checksum1: 3,
    checksum2: 4,
  };
  encodeWalFrameHeader(bytes, 8, frame);
  assert.deepEqual(parseWalFrameHeader(bytes, 8), frame);
});
