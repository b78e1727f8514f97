/**
 * Keys in bulk: listing everything under a prefix page by page (ListObjectsV2), and deleting
 * keys in batches of up to 1,000 (DeleteObjects), where a key already gone is no error.
 */
import type { S3Connection } from "./s3_connection.ts";
import { S3ReplicaError } from "./s3_errors.ts";

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
        sdk.client.send(
          new s3.ListObjectsV2Command({
            Bucket: connection.bucket,
            Prefix: prefix,
            Delimiter: options.delimiter,
            MaxKeys: options.pageSize,
            ContinuationToken: token,
          }),
          { abortSignal: options.signal },
        ),
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
