/**
 * The streaming k-way merge of LTX files that a compaction writes, as superfly/ltx's
 * `Compactor` does for Litestream 0.5: inputs in TXID order, decoded page by page in step; for
 * each page number the newest input wins; pages past the last input's commit size are dropped.
 * Memory holds one page and one read window per input, whatever the database or file size.
 *
 * The header follows Litestream's rules: MinTXID of the first input, MaxTXID and commit of the
 * last, the timestamp of the newest (last) input, pre-apply checksum of the first and
 * post-apply of the last, the NoChecksum flag, no WAL fields and no node id.
 */
import { WalsyncError } from "../errors.ts";
import { LtxDecoder, type LtxDecodeSummary } from "../ltx/ltx_decoder.ts";
import { LtxEncoder, type LtxEncodeResult, type PageEncoding } from "../ltx/ltx_encoder.ts";
import {
  formatLtxFilename,
  HEADER_FLAG_NO_CHECKSUM,
  type LtxHeader,
  newLtxHeader,
} from "../ltx/ltx_header.ts";

/** Inputs that do not form one chain of TXIDs, or disagree on the page size. */
export class MergeInputError extends WalsyncError {}

export interface MergeOptions {
  /** How pages are written (default "frame", which every Litestream 0.5.x reads). */
  pageEncoding?: PageEncoding;
  signal?: AbortSignal;
}

export interface MergeOutcome {
  header: LtxHeader;
  result: LtxEncodeResult;
  /** What each input held, in input order (all verified by their file checksums). */
  inputs: LtxDecodeSummary[];
}

/**
 * Litestream's chain rule (`ltx.IsContiguous`): a file continues `prevMax` when it starts at
 * or before `prevMax + 1` and ends after it (overlap allowed).
 */
export function continues(prevMax: number, minTxid: number, maxTxid: number): boolean {
  return minTxid <= prevMax + 1 && maxTxid > prevMax;
}

/**
 * Merges `sources` (LTX files in TXID order) into one LTX file, handing each encoded chunk to
 * `write` before reading on (a chunk is only valid until `write` returns).
 */
export async function mergeLtx(
  sources: AsyncIterable<Uint8Array>[],
  write: (chunk: Uint8Array) => void | Promise<void>,
  options: MergeOptions = {},
): Promise<MergeOutcome> {
  if (sources.length === 0) throw new MergeInputError("A merge needs at least one input file");
  const decoders = sources.map((s) => new LtxDecoder(s));
  const headers: LtxHeader[] = [];
  for (const decoder of decoders) headers.push(await decoder.readHeader());
  for (let i = 1; i < headers.length; i++) {
    const prev = headers[i - 1];
    const next = headers[i];
    if (prev.pageSize !== next.pageSize) {
      throw new MergeInputError(
        `Merge inputs have different page sizes: ${prev.pageSize} and ${next.pageSize}`,
      );
    }
    if (!continues(prev.maxTxid, next.minTxid, next.maxTxid)) {
      throw new MergeInputError(
        `Merge inputs do not chain: ${formatLtxFilename(next.minTxid, next.maxTxid)} does not ` +
          `continue ${formatLtxFilename(prev.minTxid, prev.maxTxid)}`,
      );
    }
  }
  const first = headers[0];
  const last = headers[headers.length - 1];
  const header = newLtxHeader({
    flags: HEADER_FLAG_NO_CHECKSUM,
    pageSize: first.pageSize,
    commit: last.commit,
    minTxid: first.minTxid,
    maxTxid: last.maxTxid,
    timestampMs: last.timestampMs,
    preApplyChecksum: 0n,
  });
  const encoder = new LtxEncoder(header, { pageEncoding: options.pageEncoding });
  await write(encoder.encodeHeader());

  // One page buffer and the page number it holds (0 = empty, -1 = input exhausted) per input.
  const pages = headers.map((h) => new Uint8Array(h.pageSize));
  const held = new Array<number>(decoders.length).fill(0);
  while (true) {
    options.signal?.throwIfAborted();
    let pgno = 0;
    for (let i = 0; i < decoders.length; i++) {
      if (held[i] === 0) held[i] = (await decoders[i].readPage(pages[i])) ?? -1;
      if (held[i] > 0 && (pgno === 0 || held[i] < pgno)) pgno = held[i];
    }
    if (pgno === 0) break;
    let written = false;
    for (let i = decoders.length - 1; i >= 0; i--) {
      if (held[i] !== pgno) continue;
      held[i] = 0;
      if (written || pgno > header.commit) continue;
      written = true;
      await write(encoder.encodePage(pgno, pages[i]));
    }
  }
  const inputs: LtxDecodeSummary[] = [];
  for (const decoder of decoders) inputs.push(await decoder.finish());
  const { bytes, result } = encoder.finish();
  await write(bytes);
  return { header, result, inputs };
}
