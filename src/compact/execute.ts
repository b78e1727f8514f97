/**
 * Runs one planned merge against a replica: opens the input files, streams them through
 * `mergeLtx` into a spool, uploads the result under `<level>/<min>-<max>.ltx` with its SHA-256,
 * the database checksum after it (the last input's, which the merged file reproduces) and its
 * header timestamp.
 */
import { WalsyncError } from "../errors.ts";
import type { PageEncoding } from "../ltx/ltx_encoder.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import { mergeLtx } from "./merge.ts";
import { Spool } from "./spool.ts";

export interface ExecuteMergeOptions {
  pageEncoding?: PageEncoding;
  /** Where a large output waits for upload (default: the system's temp directory). */
  tempDir?: string;
  /** Output bytes held in memory before spilling to a temp file. */
  spoolMemoryBytes?: number;
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
  const spool = new Spool({ memoryBytes: options.spoolMemoryBytes, tempDir: options.tempDir });
  try {
    for (const input of inputs) {
      readers.push((await client.openFile(name, input, { signal: options.signal })).getReader());
    }
    const outcome = await mergeLtx(readers.map(chunksFrom), (chunk) => spool.write(chunk), {
      pageEncoding: options.pageEncoding,
      signal: options.signal,
    });
    const { header } = outcome;
    const last = inputs[inputs.length - 1];
    const databaseChecksum = last.databaseChecksum ?? outcome.result.databaseChecksum ??
      undefined;
    const { body, sizeBytes, sha256 } = await spool.finish();
    const key = { level, minTxid: header.minTxid, maxTxid: header.maxTxid };
    try {
      return await client.writeFile(name, key, body, {
        sha256,
        databaseChecksum,
        createdAt: new Date(header.timestampMs),
        sizeBytes,
      }, options.signal);
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
