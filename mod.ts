/**
 * walsync: continuous WAL replication for many SQLite databases from one process.
 *
 * This module is the library surface; run as the main module it is the CLI:
 * `deno run -A mod.ts <command> …`.
 * @module
 */
export { VERSION } from "./src/version.ts";
export { ChecksumMismatchError, FormatError, UsageError, WalsyncError } from "./src/errors.ts";
export { Crc64, crc64 } from "./src/checksum/crc64.ts";
export { fastSha256Stream, sha256Hex, type StreamHash, toHex } from "./src/checksum/sha256.ts";
export {
  parseWalFrameHeader,
  parseWalHeader,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  WAL_MAGIC_BE,
  WAL_MAGIC_LE,
  type WalFrameHeader,
  type WalHeader,
} from "./src/wal/wal_header.ts";
export {
  type ReadAt,
  readWalHeader,
  scanWal,
  type WalCommit,
  type WalFrame,
  type WalPosition,
  WalReader,
  type WalScan,
  type WalStop,
  type WalStopReason,
} from "./src/wal/wal_reader.ts";
export { main } from "./src/cli/main.ts";

import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
