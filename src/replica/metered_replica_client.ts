/**
 * A `ReplicaClient` that counts what passes through it: operations by type (Litestream's
 * GET, PUT, DELETE, LIST), their errors, bytes and a duration histogram, for metrics. It
 * wraps any backend, so S3 and file replicas are measured the same way, and costs two
 * `performance.now()` calls and a few additions per operation.
 */
import type { LtxFileInfo, LtxFileKey, LtxFileMetadata, ReplicaClient } from "./replica_client.ts";

export type StoreOperation = "GET" | "PUT" | "DELETE" | "LIST";
export const STORE_OPERATIONS: readonly StoreOperation[] = ["GET", "PUT", "DELETE", "LIST"];

/** Litestream 0.5's buckets for `litestream_replica_operation_duration_seconds`. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60,
];

/** One operation type's totals; `buckets[i]` counts durations <= `DURATION_BUCKETS_SECONDS[i]`. */
export interface OperationStats {
  count: number;
  bytes: number;
  /** Errors by code (the error's `code`, else its class name). */
  errors: Map<string, number>;
  buckets: number[];
  durationSumSeconds: number;
}

/** Totals per operation type, shared by every client one process meters. */
export class StoreStats {
  readonly operations = new Map<StoreOperation, OperationStats>(
    STORE_OPERATIONS.map((op) => [op, {
      count: 0,
      bytes: 0,
      errors: new Map(),
      buckets: DURATION_BUCKETS_SECONDS.map(() => 0),
      durationSumSeconds: 0,
    }]),
  );

  record(op: StoreOperation, seconds: number, bytes: number, error?: unknown): void {
    const stats = this.operations.get(op)!;
    stats.count++;
    stats.bytes += bytes;
    stats.durationSumSeconds += seconds;
    for (let i = 0; i < DURATION_BUCKETS_SECONDS.length; i++) {
      if (seconds <= DURATION_BUCKETS_SECONDS[i]) stats.buckets[i]++;
    }
    if (error !== undefined) {
      const code = errorCode(error);
      stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
    }
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^[A-Za-z0-9_]{1,40}$/.test(code)) return code;
  const name = (error as { name?: unknown })?.name;
  return typeof name === "string" && /^[A-Za-z0-9_]{1,40}$/.test(name) ? name : "Error";
}

export class MeteredReplicaClient implements ReplicaClient {
  readonly kind: string;
  readonly location: string;
  readonly inner: ReplicaClient;
  readonly stats: StoreStats;
  readonly maxTxid?: (name: string, signal?: AbortSignal) => Promise<number>;

  constructor(inner: ReplicaClient, stats: StoreStats) {
    this.inner = inner;
    this.kind = inner.kind;
    this.location = inner.location;
    this.stats = stats;
    if (inner.maxTxid) {
      const maxTxid = inner.maxTxid.bind(inner);
      this.maxTxid = (name, signal) => this.#timed("LIST", () => maxTxid(name, signal));
    }
  }

  listDatabases(signal?: AbortSignal): Promise<string[]> {
    return this.#timed("LIST", () => this.inner.listDatabases(signal));
  }

  listFiles(name: string, level: number, signal?: AbortSignal): Promise<LtxFileInfo[]> {
    return this.#timed("LIST", () => this.inner.listFiles(name, level, signal));
  }

  async openFile(
    name: string,
    key: LtxFileKey,
    options?: { offset?: number; length?: number; signal?: AbortSignal },
  ): Promise<ReadableStream<Uint8Array>> {
    const startedAt = performance.now();
    let stream: ReadableStream<Uint8Array>;
    try {
      stream = await this.inner.openFile(name, key, options);
    } catch (error) {
      this.stats.record("GET", seconds(startedAt), 0, error);
      throw error;
    }
    // The read ends when the body does: count its bytes and time as it streams.
    let bytes = 0;
    let recorded = false;
    const done = (error?: unknown) => {
      if (recorded) return;
      recorded = true;
      this.stats.record("GET", seconds(startedAt), bytes, error);
    };
    return stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.length;
          controller.enqueue(chunk);
        },
        flush() {
          done();
        },
        cancel(reason) {
          done(reason ?? new Error("cancelled"));
        },
      }),
    );
  }

  writeFile(
    name: string,
    key: LtxFileKey,
    body: Uint8Array | ReadableStream<Uint8Array>,
    metadata: LtxFileMetadata,
    signal?: AbortSignal,
  ): Promise<LtxFileInfo> {
    const bytes = body instanceof Uint8Array ? body.length : metadata.sizeBytes ?? 0;
    return this.#timed("PUT", () => this.inner.writeFile(name, key, body, metadata, signal), bytes);
  }

  deleteFiles(name: string, keys: LtxFileKey[], signal?: AbortSignal): Promise<void> {
    return this.#timed("DELETE", () => this.inner.deleteFiles(name, keys, signal));
  }

  createExclusive(path: string, data: Uint8Array, signal?: AbortSignal): Promise<boolean> {
    return this.#timed("PUT", () => this.inner.createExclusive(path, data, signal), data.length);
  }

  async readObject(path: string, signal?: AbortSignal): Promise<Uint8Array | null> {
    const startedAt = performance.now();
    try {
      const data = await this.inner.readObject(path, signal);
      this.stats.record("GET", seconds(startedAt), data?.length ?? 0);
      return data;
    } catch (error) {
      this.stats.record("GET", seconds(startedAt), 0, error);
      throw error;
    }
  }

  deleteObject(path: string, signal?: AbortSignal): Promise<void> {
    return this.#timed("DELETE", () => this.inner.deleteObject(path, signal));
  }

  async #timed<T>(op: StoreOperation, run: () => Promise<T>, bytes = 0): Promise<T> {
    const startedAt = performance.now();
    try {
      const result = await run();
      this.stats.record(op, seconds(startedAt), bytes);
      return result;
    } catch (error) {
      this.stats.record(op, seconds(startedAt), 0, error);
      throw error;
    }
  }
}

function seconds(startedAt: number): number {
  return (performance.now() - startedAt) / 1000;
}
