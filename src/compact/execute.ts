/**
 * Runs one planned merge against a replica: opens the input files, streams them through
 * `mergeLtx` into a spool, uploads the result under `<level>/<min>-<max>.ltx` with its SHA-256,
 * the database checksum after it (the last input's, which the merged file reproduces) and its
 * header timestamp.
 */
import { WalsyncError } from "../errors.ts";
import type { PageEncoding } from "../ltx/ltx_encoder.ts";
import { chunksOf } from "../ltx/byte_reader.ts";
import { type LtxFileInfo, readAll, type ReplicaClient } from "../replica/replica_client.ts";
import { MERGE_BUFFER_INPUT_BYTES } from "./policy.ts";
import { mergeLtx } from "./merge.ts";
import { Spool } from "./spool.ts";

export interface ExecuteMergeOptions {
  pageEncoding?: PageEncoding;
  /** Where a large output waits for upload (default: the system's temp directory). */
  tempDir?: string;
  /** Output bytes held in memory before spilling to a temp file. */
  spoolMemoryBytes?: number;
  /** Permission bits for a file replica (default: the inputs'; the database's in the daemon). */
  fileMode?: number;
  signal?: AbortSignal;
}

/** Merges `inputs` (a chain, in TXID order) into one file at `level` and uploads it. */
export async function executeMerge(
  client: ReplicaClient,
  name: string,
  inputs: LtxFileInfo[],
  level: number,
  options: ExecuteMergeOptions = {},
): Promise<LtxFileInfo> {
  if (inputs.length === 0) throw new WalsyncError("A merge needs at least one input file");
  const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  const sources: AsyncIterable<Uint8Array>[] = [];
  const spool = new Spool({ memoryBytes: options.spoolMemoryBytes, tempDir: options.tempDir });
  try {
    for (const input of inputs) {
      const stream = await client.openFile(name, input, { signal: options.signal });
      if (input.sizeBytes <= MERGE_BUFFER_INPUT_BYTES) {
        // Small: read whole now, so its connection is free for the next one.
        sources.push(chunksOf(await readAll(stream)));
      } else {
        const reader = stream.getReader();
        readers.push(reader);
        sources.push(chunksFrom(reader));
      }
    }
    const outcome = await mergeLtx(sources, (chunk) => spool.write(chunk), {
      pageEncoding: options.pageEncoding,
      signal: options.signal,
    });
    const { header } = outcome;
    const last = inputs[inputs.length - 1];
    const databaseChecksum = last.databaseChecksum ?? outcome.result.databaseChecksum ??
      undefined;
    const { body, sizeBytes, sha256 } = await spool.finish();
    const key = { level, minTxid: header.minTxid, maxTxid: header.maxTxid };
    const fileMode = options.fileMode ?? inputs.find((f) => f.fileMode !== undefined)?.fileMode;
    try {
      const stored = await client.writeFile(name, key, body, {
        sha256,
        databaseChecksum,
        createdAt: new Date(header.timestampMs),
        sizeBytes,
        fileMode,
      }, options.signal);
      return client.kind === "file" && fileMode !== undefined ? { ...stored, fileMode } : stored;
    } catch (error) {
      if (!(body instanceof Uint8Array)) await body.cancel().catch(() => {});
      throw error;
    }
  } catch (error) {
    for (const reader of readers) await reader.cancel().catch(() => {});
    throw error;
  } finally {
    spool.discard();
  }
}

async function* chunksFrom(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  while (true) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}
