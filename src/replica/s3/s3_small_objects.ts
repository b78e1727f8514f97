/**
 * Small whole objects read and written by key, such as the single-writer lease: conditional
 * writes (If-None-Match, If-Match) and deletes whose precondition failures are results, not
 * errors, and reads that return the ETag to condition the next write on.
 */
import type { S3Connection } from "./s3_connection.ts";
import {
  isConditionalConflict,
  isNotFound,
  isNotImplemented,
  isPreconditionFailed,
} from "./s3_errors.ts";
import { writeParams, type WriteSettings } from "./s3_upload.ts";
import { backoffMs, delay } from "./s3_util.ts";

/** Retries of a conditional write that AWS refused with 409 while another was in flight. */
const CONDITIONAL_CONFLICT_RETRIES = 5;

/** Outcome of a conditional small-object write. */
export type ConditionalPutResult =
  | { ok: true; etag: string | undefined }
  | { ok: false; reason: "exists" | "changed" | "unsupported" };

export interface PutSmallObjectOptions {
  /** Write only if no object exists at the key. */
  ifNoneMatch?: boolean;
  /** Write only if the object still has this ETag. */
  ifMatch?: string;
  /** Storage class and encryption, as for every write. */
  write: WriteSettings;
  signal?: AbortSignal;
}

/**
 * Writes `data` at `key`, under the given condition. Precondition failures are results, not
 * errors; so is a server that does not implement the condition.
 */
export async function putSmallObject(
  connection: S3Connection,
  key: string,
  data: Uint8Array,
  options: PutSmallObjectOptions,
): Promise<ConditionalPutResult> {
  const { s3 } = await connection.loaded();
  for (let attempt = 0;; attempt++) {
    try {
      const out = await connection.send("PutObject", key, (sdk) =>
        sdk.client.send(
          new s3.PutObjectCommand({
            Bucket: connection.bucket,
            Key: key,
            Body: data,
            ContentLength: data.length,
            ContentType: "application/json",
            IfNoneMatch: options.ifNoneMatch ? "*" : undefined,
            IfMatch: options.ifMatch,
            ...writeParams(connection, options.write),
          }),
          { abortSignal: options.signal },
        ));
      return { ok: true, etag: out.ETag };
    } catch (error) {
      if (isPreconditionFailed(error)) {
        return { ok: false, reason: options.ifNoneMatch ? "exists" : "changed" };
      }
      if (isNotFound(error) && options.ifMatch !== undefined) {
        return { ok: false, reason: "changed" }; // If-Match on a deleted object
      }
      if (isNotImplemented(error)) return { ok: false, reason: "unsupported" };
      // AWS answers 409 while another conditional write to the key is in flight.
      if (isConditionalConflict(error) && attempt < CONDITIONAL_CONFLICT_RETRIES) {
        await delay(backoffMs(attempt + 1), options.signal);
        continue;
      }
      throw error;
    }
  }
}

/** Reads the object at `key` and its ETag, or null when it does not exist. */
export async function getSmallObject(
  connection: S3Connection,
  key: string,
  signal?: AbortSignal,
): Promise<{ data: Uint8Array; etag: string | undefined } | null> {
  const { s3 } = await connection.loaded();
  try {
    const out = await connection.send("GetObject", key, (sdk) =>
      sdk.client.send(
        new s3.GetObjectCommand({
          Bucket: connection.bucket,
          Key: key,
          ...connection.sseCustomerParams(),
        }),
        { abortSignal: signal },
      ));
    const data = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    return { data, etag: out.ETag };
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/**
 * Deletes the object at `key`; with `ifMatch` only that version, or unconditionally where
 * the server does not implement the condition. False when the object has changed.
 */
export async function removeSmallObject(
  connection: S3Connection,
  key: string,
  options: { ifMatch?: string; signal?: AbortSignal } = {},
): Promise<boolean> {
  const { s3 } = await connection.loaded();
  try {
    await connection.send("DeleteObject", key, (sdk) =>
      sdk.client.send(
        new s3.DeleteObjectCommand({
          Bucket: connection.bucket,
          Key: key,
          IfMatch: options.ifMatch,
        }),
        { abortSignal: options.signal },
      ));
    return true;
  } catch (error) {
    if (isPreconditionFailed(error)) return false;
    if (isNotFound(error)) return true;
    if (isNotImplemented(error) && options.ifMatch !== undefined) {
      return await removeSmallObject(connection, key, { signal: options.signal });
    }
    throw error;
  }
}
