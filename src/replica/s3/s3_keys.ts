/**
 * Keys in bulk: listing everything under a prefix page by page (ListObjectsV2), and deleting
 * keys in batches of up to 1,000 (DeleteObjects), where a key already gone is no error.
 */
import type { S3Connection } from "./s3_connection.ts";
import { isUnparsableResponse, S3ReplicaError } from "./s3_errors.ts";
import { backoffMs, delay } from "./s3_util.ts";

/** Keys per DeleteObjects request, the most S3 accepts. */
export const S3_DELETE_BATCH = 1000;

/** One object from a listing. */
export interface ListedObject {
  key: string;
  sizeBytes: number;
  lastModified: Date;
  etag?: string;
}

export interface ListKeysOptions {
  /** With "/", only the objects directly under `prefix`. */
  delimiter?: string;
  /** MaxKeys per LIST page. */
  pageSize: number;
  signal?: AbortSignal;
  /** List only keys after this one (S3 StartAfter). */
  startAfter?: string;
}

/** Every object under `prefix`, one LIST request per page. */
export async function* listKeys(
  connection: S3Connection,
  prefix: string,
  options: ListKeysOptions,
): AsyncGenerator<ListedObject> {
  const { s3 } = await connection.loaded();
  let token: string | undefined;
  do {
    const page = await connection.send(
      "ListObjectsV2",
      prefix || undefined,
      (sdk) =>
        retryUnparsable(async () => {
          const out = await sdk.client.send(
            new s3.ListObjectsV2Command({
              Bucket: connection.bucket,
              Prefix: prefix,
              Delimiter: options.delimiter,
              MaxKeys: options.pageSize,
              ContinuationToken: token,
              StartAfter: token ? undefined : options.startAfter,
            }),
            { abortSignal: options.signal },
          );
          // An empty or foreign 200 body parses as an empty listing: every store sends these.
          if (out.Name === undefined && out.IsTruncated === undefined) {
            throw unparsable(out.$metadata, "the body holds no ListBucketResult");
          }
          return out;
        }, { attempts: connection.maxAttempts, signal: options.signal }),
    );
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined) continue;
      yield {
        key: object.Key,
        sizeBytes: object.Size ?? 0,
        lastModified: object.LastModified ?? new Date(0),
        etag: object.ETag,
      };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/**
 * Runs a read until its answer parses: the SDK retries 5xx and network errors but not a 200
 * whose body is damaged (a proxy cutting it, a server bug). At most `attempts` tries; the
 * last error reports how many were made.
 */
async function retryUnparsable<T>(
  run: () => Promise<T>,
  options: { attempts: number; signal?: AbortSignal },
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!isUnparsableResponse(error)) throw error;
      const metadata = (error as { $metadata?: { attempts?: number } }).$metadata;
      if (metadata) metadata.attempts = attempt;
      if (attempt >= options.attempts) throw error;
      await delay(backoffMs(attempt), options.signal);
    }
  }
}

/** An error shaped like the SDK's deserialization errors (a 2xx that did not parse). */
function unparsable(
  metadata: { httpStatusCode?: number } | undefined,
  message: string,
): Error {
  return Object.assign(new Error(message), {
    $metadata: { httpStatusCode: metadata?.httpStatusCode ?? 200, attempts: 1 },
  });
}

export interface DeleteKeysOptions {
  signal?: AbortSignal;
  /** Called with each batch the server answered, before its per-key errors are checked. */
  onBatchDeleted?: (keys: string[]) => void;
}

/** Deletes `keys`; fails on the first batch with a key the server could not delete. */
export async function deleteKeys(
  connection: S3Connection,
  keys: string[],
  options: DeleteKeysOptions = {},
): Promise<void> {
  if (keys.length === 0) return;
  const { s3 } = await connection.loaded();
  for (let i = 0; i < keys.length; i += S3_DELETE_BATCH) {
    const batch = keys.slice(i, i + S3_DELETE_BATCH);
    const out = await connection.send("DeleteObjects", batch[0], (sdk) =>
      sdk.client.send(
        new s3.DeleteObjectsCommand({
          Bucket: connection.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
        { abortSignal: options.signal },
      ));
    options.onBatchDeleted?.(batch);
    const errors = (out.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
    if (errors.length > 0) {
      const [first] = errors;
      throw new S3ReplicaError(
        `S3 DeleteObjects failed for ${errors.length} object(s), first "${first.Key}": ${first.Code} ${
          first.Message ?? ""
        }`.trim(),
        { code: first.Code },
      );
    }
  }
}
