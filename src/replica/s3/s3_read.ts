/**
 * Ranged, resumable reads of one object. A body that breaks off mid-transfer is requested
 * again from the byte where it stopped, with If-Match on the first response's ETag so the
 * read continues the same object and never splices in a replacement; after a bounded number
 * of resumes (with backoff) the read fails.
 */
import type { GetObjectCommandOutput } from "@aws-sdk/client-s3";
import type { Logger } from "../../log.ts";
import type { S3Connection } from "./s3_connection.ts";
import { S3ReplicaError, translateS3Error } from "./s3_errors.ts";
import { backoffMs, delay } from "./s3_util.ts";

export interface RangedReadOptions {
  /** First byte to read; default 0. */
  offset?: number;
  /** Bytes to read from `offset`; default to the end of the object. */
  length?: number;
  signal?: AbortSignal;
  /** How often a body that broke off is resumed before the read fails. */
  maxResumes: number;
  logger?: Logger;
}

/** Streams `[offset, offset + length)` of the object at `key`. */
export async function openRangedRead(
  connection: S3Connection,
  key: string,
  options: RangedReadOptions,
): Promise<ReadableStream<Uint8Array>> {
  const { signal, maxResumes } = options;
  const start = options.offset ?? 0;
  const end = options.length === undefined ? undefined : start + options.length; // exclusive
  if (end !== undefined && end <= start) return new ReadableStream({ start: (c) => c.close() });
  const { s3 } = await connection.loaded();
  let position = start;
  let etag: string | undefined;
  let expected = 0; // bytes the current response promised
  let received = 0;
  let resumes = 0;

  const open = async () => {
    const range = position === 0 && end === undefined
      ? undefined
      : `bytes=${position}-${end === undefined ? "" : end - 1}`;
    const out: GetObjectCommandOutput = await connection.send(
      "GetObject",
      key,
      (sdk) =>
        sdk.client.send(
          new s3.GetObjectCommand({
            Bucket: connection.bucket,
            Key: key,
            Range: range,
            // A resumed read must continue the same object, not a replacement.
            IfMatch: etag,
            ...connection.sseCustomerParams(),
          }),
          { abortSignal: signal },
        ),
    );
    etag ??= out.ETag;
    expected = out.ContentLength ?? Number.POSITIVE_INFINITY;
    received = 0;
    if (!out.Body) throw new S3ReplicaError(`S3 GetObject of "${key}" returned no body`);
    return out.Body.transformToWebStream().getReader() as ReadableStreamDefaultReader<
      Uint8Array
    >;
  };

  let reader = await open();
  const log = options.logger;
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      while (true) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            if (expected !== Number.POSITIVE_INFINITY && received < expected) {
              throw new S3ReplicaError(
                `S3 object "${key}" ended after ${received} of ${expected} bytes`,
                { code: "Truncated" },
              );
            }
            controller.close();
            return;
          }
          received += value.length;
          position += value.length;
          controller.enqueue(value);
          return;
        } catch (error) {
          if (signal?.aborted || resumes >= maxResumes || !isResumable(error)) {
            controller.error(
              translateS3Error(error, {
                operation: "GetObject",
                bucket: connection.bucket,
                key,
                endpoint: connection.printableEndpoint,
              }),
            );
            return;
          }
          resumes++;
          log?.warn("S3 download broke off; resuming", {
            key,
            offset: position,
            attempt: resumes,
            error: String(error),
          });
          await delay(backoffMs(resumes), signal);
          try {
            reader = await open();
          } catch (openError) {
            controller.error(openError);
            return;
          }
        }
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** A body that broke off mid-transfer can be resumed; a refused or missing object cannot. */
function isResumable(error: unknown): boolean {
  if (error instanceof S3ReplicaError) return error.code === "Truncated";
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string") {
    return /^(ECONNRESET|EPIPE|ETIMEDOUT|ERR_STREAM_PREMATURE_CLOSE)$/.test(code);
  }
  return /aborted|premature|reset|terminated|socket/i.test(String((error as Error)?.message));
}
