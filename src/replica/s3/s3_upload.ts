/**
 * Writes LTX objects. A byte array of up to one part goes up in one PutObject; anything
 * larger, and every stream, through lib-storage's multipart Upload with the declared
 * ContentLength. A stream is counted on the way so one shorter or longer than declared
 * fails instead of storing a wrong object, and is fed to the SDK as a Node Readable.
 */
import type { PutObjectCommandInput, S3Client } from "@aws-sdk/client-s3";
import type { S3Connection } from "./s3_connection.ts";
import { S3ReplicaError, translateS3Error } from "./s3_errors.ts";
import { loadLibStorage } from "./s3_sdk.ts";

/** S3 limits: parts per multipart upload, and the size of every part but the last. */
const S3_MAX_PARTS = 10_000;
export const S3_MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;

export interface UploadOptions {
  /** Length of a stream body (required for streams); a byte array's own length wins. */
  sizeBytes?: number;
  /** Bodies up to this size go up in one PutObject; larger ones in parts of this size. */
  partSizeBytes: number;
  /** Parts in flight. */
  uploadConcurrency: number;
  signal?: AbortSignal;
}

/** How every object write is stored, whatever its body. */
export interface WriteSettings {
  /** e.g. "STANDARD_IA"; default the bucket's. */
  storageClass?: string;
  /** SSE-KMS key id or ARN; sets ServerSideEncryption=aws:kms. */
  sseKmsKeyId?: string;
}

/** Stores `body` under `params.Key` and returns its ETag and length. */
export async function uploadObject(
  connection: S3Connection,
  params: PutObjectCommandInput,
  body: Uint8Array | ReadableStream<Uint8Array>,
  options: UploadOptions,
): Promise<{ etag: string | undefined; sizeBytes: number }> {
  const { signal } = options;
  if (body instanceof Uint8Array && body.length <= options.partSizeBytes) {
    const { s3 } = await connection.loaded();
    const out = await connection.send("PutObject", params.Key, (sdk) =>
      sdk.client.send(
        new s3.PutObjectCommand({ ...params, Body: body, ContentLength: body.length }),
        { abortSignal: signal },
      ));
    return { etag: out.ETag, sizeBytes: body.length };
  }
  const sizeBytes = body instanceof Uint8Array ? body.length : options.sizeBytes;
  if (sizeBytes === undefined) {
    throw new S3ReplicaError(
      `Cannot upload "${params.Key}" from a stream without metadata.sizeBytes`,
    );
  }
  return { etag: await multipartUpload(connection, params, body, sizeBytes, options), sizeBytes };
}

/** The storage class and encryption parameters every write carries. */
export function writeParams(
  connection: S3Connection,
  settings: WriteSettings,
): Partial<PutObjectCommandInput> {
  const params: Partial<PutObjectCommandInput> = { ...connection.sseCustomerParams() };
  const { storageClass, sseKmsKeyId } = settings;
  if (storageClass) params.StorageClass = storageClass as PutObjectCommandInput["StorageClass"];
  if (sseKmsKeyId) {
    params.ServerSideEncryption = "aws:kms";
    params.SSEKMSKeyId = sseKmsKeyId;
  }
  return params;
}

/** Multipart (or, below one part, a single PUT) from a stream, bounded in memory. */
async function multipartUpload(
  connection: S3Connection,
  params: PutObjectCommandInput,
  body: Uint8Array | ReadableStream<Uint8Array>,
  sizeBytes: number,
  options: UploadOptions,
): Promise<string | undefined> {
  const { signal } = options;
  const sdk = await connection.loaded();
  const [{ Upload }, { Readable }] = await Promise.all([loadLibStorage(), import("node:stream")]);
  let source: Uint8Array | InstanceType<typeof Readable>;
  if (body instanceof Uint8Array) {
    source = body;
  } else {
    // A web ReadableStream body fails inside the SDK under Deno; a Node Readable works.
    // deno-lint-ignore no-explicit-any
    source = Readable.fromWeb(countBytes(body, sizeBytes, params.Key) as any);
  }
  const upload = new Upload({
    client: sdk.client as S3Client,
    params: { ...params, Body: source, ContentLength: sizeBytes },
    partSize: Math.max(options.partSizeBytes, Math.ceil(sizeBytes / S3_MAX_PARTS)),
    queueSize: options.uploadConcurrency,
    leavePartsOnError: false,
  });
  const onAbort = () => void upload.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const out = await upload.done();
    return out.ETag;
  } catch (error) {
    throw translateS3Error(error, {
      operation: "Upload",
      bucket: connection.bucket,
      key: params.Key,
      endpoint: connection.printableEndpoint,
    });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Passes `body` through, failing it once it proves longer or shorter than `sizeBytes`. */
function countBytes(
  body: ReadableStream<Uint8Array>,
  sizeBytes: number,
  key: string | undefined,
): ReadableStream<Uint8Array> {
  let counted = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        counted += chunk.length;
        if (counted > sizeBytes) {
          controller.error(
            new S3ReplicaError(
              `Upload of "${key}" has more than the ${sizeBytes} bytes declared`,
            ),
          );
          return;
        }
        controller.enqueue(chunk);
      },
      flush(controller) {
        if (counted !== sizeBytes) {
          controller.error(
            new S3ReplicaError(
              `Upload of "${key}" ended after ${counted} of the ${sizeBytes} bytes declared`,
            ),
          );
        }
      },
    }),
  );
}
