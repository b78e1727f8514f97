/**
 * A replica in an S3-compatible bucket, laid out exactly as Litestream 0.5's S3 client:
 * `<prefix>/<name>/<level 4 hex>/<min>-<max>.ltx`, with walsync's SHA-256 and database
 * checksum and Litestream's `litestream-timestamp` in each object's user metadata.
 *
 * The SDK is loaded on the first request, never at import. Listings carry no user
 * metadata, so `listFiles` reads it with one HEAD per object it has not seen before and
 * keeps it in a bounded cache keyed by key and ETag (LTX objects are immutable); objects
 * this process wrote are cached from the write, so the replicator's own listings cost one
 * LIST per page and no HEADs.
 */
import type { GetObjectCommandOutput, PutObjectCommandInput, S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "../../log.ts";
import {
  compareLtxFiles,
  type LtxFileInfo,
  type LtxFileKey,
  type LtxFileMetadata,
  type ReplicaClient,
} from "../replica_client.ts";
import {
  databaseKeyPrefix,
  decodeMetadata,
  encodeMetadata,
  levelKeyPrefix,
  ltxFileKey,
  normalizePrefix,
  objectKey,
  parseLtxKey,
} from "./s3_layout.ts";
import {
  isConditionalConflict,
  isNotFound,
  isNotImplemented,
  isPreconditionFailed,
  S3ReplicaError,
  translateS3Error,
} from "./s3_errors.ts";
import { type LoadedSdk, loadLibStorage, loadS3Sdk } from "./s3_sdk.ts";
import { parseLtxFilename } from "../../ltx/ltx_header.ts";

/** Objects up to this size go up in one PutObject; larger ones as multipart parts of it. */
export const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;
/** Parts in flight per upload: memory per upload is about part size × (this + 1). */
export const DEFAULT_UPLOAD_CONCURRENCY = 2;
export const DEFAULT_LIST_PAGE_SIZE = 1000;
/** Requests per operation, the first included (the SDK backs off with jitter in between). */
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_HEAD_CONCURRENCY = 16;
export const DEFAULT_METADATA_CACHE_ENTRIES = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A socket idle this long fails the request (and the SDK retries it). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_SOCKETS = 32;
/** How often a download that broke off mid-body is resumed from where it stopped. */
export const DEFAULT_READ_RESUMES = 5;
/** Region for custom endpoints that do not care (as Litestream does). */
export const DEFAULT_REGION = "us-east-1";

const S3_MAX_PARTS = 10_000;
const S3_MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;
const S3_DELETE_BATCH = 1000;
const CONDITIONAL_CONFLICT_RETRIES = 5;
const RESUME_BASE_DELAY_MS = 100;

export interface S3ReplicaOptions {
  bucket: string;
  /** Key prefix; leading, trailing and doubled slashes are dropped. */
  prefix?: string;
  /** Custom endpoint; default `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, else AWS. */
  endpoint?: string;
  /** Default `AWS_REGION`/`AWS_DEFAULT_REGION`, the shared config, or us-east-1 with an endpoint. */
  region?: string;
  /** Path-style addressing; default on when a custom endpoint is set. */
  forcePathStyle?: boolean;
  /** Explicit credentials; default the SDK's chain (env, profiles, container/instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** e.g. "STANDARD_IA"; default the bucket's. */
  storageClass?: string;
  /** SSE-KMS key id or ARN; sets ServerSideEncryption=aws:kms. */
  sseKmsKeyId?: string;
  /** SSE-C: a 32-byte key, base64; sent with every write and read. */
  sseCustomerKey?: string;
  partSizeBytes?: number;
  uploadConcurrency?: number;
  /** MaxKeys per LIST page (tests use small pages to exercise pagination). */
  listPageSize?: number;
  maxAttempts?: number;
  headConcurrency?: number;
  metadataCacheEntries?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  readResumes?: number;
  /** Environment lookup (tests inject one); default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  logger?: Logger;
}

interface CachedMetadata {
  etag: string | undefined;
  sizeBytes: number;
  sha256?: string;
  databaseChecksum?: bigint;
  createdAt?: Date;
}

/** Outcome of a conditional small-object write. */
export type ConditionalPutResult =
  | { ok: true; etag: string | undefined }
  | { ok: false; reason: "exists" | "changed" | "unsupported" };

export class S3ReplicaClient implements ReplicaClient {
  readonly kind = "s3";
  readonly bucket: string;
  readonly prefix: string;
  /** The endpoint in use, or undefined for AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle: boolean;
  readonly partSizeBytes: number;
  readonly uploadConcurrency: number;
  readonly listPageSize: number;
  readonly maxAttempts: number;
  /** HTTP requests made, retries included, by SDK command name without "Command". */
  readonly requestCounts: Map<string, number> = new Map();

  #options: S3ReplicaOptions;
  #sdk?: Promise<LoadedSdk>;
  #cache = new Map<string, CachedMetadata>();
  #cacheLimit: number;

  constructor(options: S3ReplicaOptions) {
    const env = options.env ?? readEnv;
    this.#options = options;
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? "");
    const endpoint = options.endpoint ?? env("AWS_ENDPOINT_URL_S3") ?? env("AWS_ENDPOINT_URL");
    this.endpoint = endpoint === undefined || endpoint === "" ? undefined : endpoint;
    this.region = options.region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ??
      (this.endpoint !== undefined ? DEFAULT_REGION : undefined);
    this.forcePathStyle = options.forcePathStyle ?? this.endpoint !== undefined;
    this.partSizeBytes = Math.max(
      options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES,
      S3_MIN_PART_SIZE_BYTES,
    );
    this.uploadConcurrency = Math.max(1, options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY);
    this.listPageSize = Math.min(1000, Math.max(1, options.listPageSize ?? DEFAULT_LIST_PAGE_SIZE));
    this.maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.#cacheLimit = options.metadataCacheEntries ?? DEFAULT_METADATA_CACHE_ENTRIES;
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  /** The endpoint without user info, for messages. */
  get printableEndpoint(): string | undefined {
    if (this.endpoint === undefined) return undefined;
    try {
      const url = new URL(this.endpoint);
      url.username = "";
      url.password = "";
      return url.toString().replace(/\/$/, "");
    } catch {
      return "the configured endpoint";
    }
  }

  /** Total HTTP requests made so far (every attempt counts). */
  get requestCount(): number {
    let total = 0;
    for (const count of this.requestCounts.values()) total += count;
    return total;
  }

  async listDatabases(signal?: AbortSignal): Promise<string[]> {
    const names = new Set<string>();
    const root = this.prefix === "" ? "" : `${this.prefix}/`;
    for await (const object of this.#list(root, { signal })) {
      const parsed = parseLtxKey(this.prefix, object.key);
      if (parsed) names.add(parsed.name);
    }
    return [...names].sort();
  }

  async listFiles(name: string, level: number, signal?: AbortSignal): Promise<LtxFileInfo[]> {
    const prefix = levelKeyPrefix(this.prefix, name, level);
    const listed: { key: string; info: LtxFileInfo; etag?: string }[] = [];
    for await (const object of this.#list(prefix, { delimiter: "/", signal })) {
      const range = parseLtxFilename(object.key.slice(prefix.length));
      if (!range) continue; // foreign objects are not ours to judge
      listed.push({
        key: object.key,
        etag: object.etag,
        info: { level, ...range, sizeBytes: object.sizeBytes, createdAt: object.lastModified },
      });
    }
    const missing: typeof listed = [];
    for (const entry of listed) {
      const cached = this.#cached(entry.key, entry.etag, entry.info.sizeBytes);
      if (cached) applyMetadata(entry.info, cached);
      else missing.push(entry);
    }
    const gone = new Set<string>();
    await mapLimit(
      missing,
      this.#options.headConcurrency ?? DEFAULT_HEAD_CONCURRENCY,
      async (entry) => {
        const head = await this.#head(entry.key, signal);
        if (!head) {
          gone.add(entry.key); // deleted between LIST and HEAD
          return;
        }
        applyMetadata(entry.info, head);
        this.#remember(entry.key, head);
      },
    );
    return listed.filter((e) => !gone.has(e.key)).map((e) => e.info).sort(compareLtxFiles);
  }

  /**
   * The highest MaxTXID over every level of `name`, from the listing alone: one LIST per 1,000
   * objects and no HEADs (what a start-up check needs; `listFiles` would read metadata).
   */
  async maxTxid(name: string, signal?: AbortSignal): Promise<number> {
    const prefix = `${databaseKeyPrefix(this.prefix, name)}/`;
    let max = 0;
    for await (const object of this.#list(prefix, { signal })) {
      const match = /^[0-9a-f]{4}\/([0-9a-f]{16}-[0-9a-f]{16}\.ltx)$/.exec(
        object.key.slice(prefix.length),
      );
      const range = match ? parseLtxFilename(match[1]) : null;
      if (range) max = Math.max(max, range.maxTxid);
    }
    return max;
  }

  async openFile(
    name: string,
    key: LtxFileKey,
    options: { offset?: number; length?: number; signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const objectKey = ltxFileKey(this.prefix, name, key);
    const { signal } = options;
    const start = options.offset ?? 0;
    const end = options.length === undefined ? undefined : start + options.length; // exclusive
    if (end !== undefined && end <= start) return new ReadableStream({ start: (c) => c.close() });
    const maxResumes = this.#options.readResumes ?? DEFAULT_READ_RESUMES;
    const { s3 } = await this.#loaded();
    let position = start;
    let etag: string | undefined;
    let expected = 0; // bytes the current response promised
    let received = 0;
    let resumes = 0;

    const open = async () => {
      const range = position === 0 && end === undefined
        ? undefined
        : `bytes=${position}-${end === undefined ? "" : end - 1}`;
      const out: GetObjectCommandOutput = await this.#send(
        "GetObject",
        objectKey,
        (sdk) =>
          sdk.client.send(
            new s3.GetObjectCommand({
              Bucket: this.bucket,
              Key: objectKey,
              Range: range,
              // A resumed read must continue the same object, not a replacement.
              IfMatch: etag,
              ...this.#sseCustomerParams(),
            }),
            { abortSignal: signal },
          ),
      );
      etag ??= out.ETag;
      expected = out.ContentLength ?? Number.POSITIVE_INFINITY;
      received = 0;
      if (!out.Body) throw new S3ReplicaError(`S3 GetObject of "${objectKey}" returned no body`);
      return out.Body.transformToWebStream().getReader() as ReadableStreamDefaultReader<
        Uint8Array
      >;
    };

    let reader = await open();
    const log = this.#options.logger;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (true) {
          try {
            const { done, value } = await reader.read();
            if (done) {
              if (expected !== Number.POSITIVE_INFINITY && received < expected) {
                throw new S3ReplicaError(
                  `S3 object "${objectKey}" ended after ${received} of ${expected} bytes`,
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
                  bucket: this.bucket,
                  key: objectKey,
                  endpoint: this.printableEndpoint,
                }),
              );
              return;
            }
            resumes++;
            log?.warn("S3 download broke off; resuming", {
              key: objectKey,
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

  async writeFile(
    name: string,
    key: LtxFileKey,
    body: Uint8Array | ReadableStream<Uint8Array>,
    metadata: LtxFileMetadata,
    signal?: AbortSignal,
  ): Promise<LtxFileInfo> {
    const objectKey = ltxFileKey(this.prefix, name, key);
    const params = {
      Bucket: this.bucket,
      Key: objectKey,
      Metadata: encodeMetadata(metadata),
      ContentType: "application/octet-stream",
      ...this.#writeParams(),
    };
    let result: { etag: string | undefined; sizeBytes: number };
    if (body instanceof Uint8Array && body.length <= this.partSizeBytes) {
      const { s3 } = await this.#loaded();
      const out = await this.#send("PutObject", objectKey, (sdk) =>
        sdk.client.send(
          new s3.PutObjectCommand({ ...params, Body: body, ContentLength: body.length }),
          { abortSignal: signal },
        ));
      result = { etag: out.ETag, sizeBytes: body.length };
    } else {
      const sizeBytes = body instanceof Uint8Array ? body.length : metadata.sizeBytes;
      if (sizeBytes === undefined) {
        throw new S3ReplicaError(
          `Cannot upload "${objectKey}" from a stream without metadata.sizeBytes`,
        );
      }
      result = { etag: await this.#upload(params, body, sizeBytes, signal), sizeBytes };
    }
    const { sha256, databaseChecksum, createdAt } = metadata;
    this.#remember(objectKey, { ...result, sha256, databaseChecksum, createdAt });
    return { ...key, sizeBytes: result.sizeBytes, sha256, databaseChecksum, createdAt };
  }

  async deleteFiles(name: string, keys: LtxFileKey[], signal?: AbortSignal): Promise<void> {
    const objectKeys = keys.map((key) => ltxFileKey(this.prefix, name, key));
    await this.#deleteKeys(objectKeys, signal);
  }

  /** Deletes every object under the replica prefix (tests and `compact --all` style cleanup). */
  async deleteAll(signal?: AbortSignal): Promise<number> {
    const root = this.prefix === "" ? "" : `${this.prefix}/`;
    let deleted = 0;
    let batch: string[] = [];
    for await (const object of this.#list(root, { signal })) {
      batch.push(object.key);
      if (batch.length === S3_DELETE_BATCH) {
        await this.#deleteKeys(batch, signal);
        deleted += batch.length;
        batch = [];
      }
    }
    await this.#deleteKeys(batch, signal);
    return deleted + batch.length;
  }

  async createExclusive(path: string, data: Uint8Array, signal?: AbortSignal): Promise<boolean> {
    const result = await this.putObject(path, data, { ifNoneMatch: true, signal });
    if (result.ok) return true;
    if (result.reason === "unsupported") {
      throw new S3ReplicaError(
        `The S3 server at ${
          this.printableEndpoint ?? "AWS"
        } does not support conditional writes (If-None-Match)`,
        { code: "NotImplemented" },
      );
    }
    return false;
  }

  async readObject(path: string, signal?: AbortSignal): Promise<Uint8Array | null> {
    return (await this.getObject(path, signal))?.data ?? null;
  }

  async deleteObject(path: string, signal?: AbortSignal): Promise<void> {
    await this.removeObject(path, { signal });
  }

  /**
   * Writes a small object at `path` (relative to the replica root), optionally only if it
   * does not exist (`ifNoneMatch`) or still has ETag `ifMatch`. Precondition failures are
   * results, not errors; so is a server that does not implement the condition.
   */
  async putObject(
    path: string,
    data: Uint8Array,
    options: { ifNoneMatch?: boolean; ifMatch?: string; signal?: AbortSignal } = {},
  ): Promise<ConditionalPutResult> {
    const key = objectKey(this.prefix, path);
    const { s3 } = await this.#loaded();
    for (let attempt = 0;; attempt++) {
      try {
        const out = await this.#send("PutObject", key, (sdk) =>
          sdk.client.send(
            new s3.PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: data,
              ContentLength: data.length,
              ContentType: "application/json",
              IfNoneMatch: options.ifNoneMatch ? "*" : undefined,
              IfMatch: options.ifMatch,
              ...this.#writeParams(),
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

  /** Reads a small object and its ETag, or null when it does not exist. */
  async getObject(
    path: string,
    signal?: AbortSignal,
  ): Promise<{ data: Uint8Array; etag: string | undefined } | null> {
    const key = objectKey(this.prefix, path);
    const { s3 } = await this.#loaded();
    try {
      const out = await this.#send("GetObject", key, (sdk) =>
        sdk.client.send(
          new s3.GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...this.#sseCustomerParams(),
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

  /** Deletes a small object; with `ifMatch` only that version (where the server honours it). */
  async removeObject(
    path: string,
    options: { ifMatch?: string; signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const key = objectKey(this.prefix, path);
    const { s3 } = await this.#loaded();
    try {
      await this.#send("DeleteObject", key, (sdk) =>
        sdk.client.send(
          new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: options.ifMatch }),
          { abortSignal: options.signal },
        ));
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      if (isNotFound(error)) return true;
      if (isNotImplemented(error) && options.ifMatch !== undefined) {
        return await this.removeObject(path, { signal: options.signal });
      }
      throw error;
    }
  }

  /** Closes idle connections; the client loads again on the next request. */
  async close(): Promise<void> {
    const sdk = this.#sdk;
    this.#sdk = undefined;
    if (sdk) (await sdk.catch(() => null))?.client.destroy();
  }

  // --- internals -------------------------------------------------------------------------

  #loaded(): Promise<LoadedSdk> {
    this.#sdk ??= loadS3Sdk({
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: this.forcePathStyle,
      credentials: this.#options.credentials,
      maxAttempts: this.maxAttempts,
      connectTimeoutMs: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: this.#options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      maxSockets: DEFAULT_MAX_SOCKETS,
      onRequest: (command) => {
        const name = command.replace(/Command$/, "");
        this.requestCounts.set(name, (this.requestCounts.get(name) ?? 0) + 1);
      },
    }).catch((error) => {
      this.#sdk = undefined;
      throw error;
    });
    return this.#sdk;
  }

  async #send<T>(
    operation: string,
    key: string | undefined,
    run: (sdk: LoadedSdk) => Promise<T>,
  ): Promise<T> {
    const sdk = await this.#loaded();
    try {
      return await run(sdk);
    } catch (error) {
      throw translateS3Error(error, {
        operation,
        bucket: this.bucket,
        key,
        endpoint: this.printableEndpoint,
      });
    }
  }

  async *#list(
    prefix: string,
    options: { delimiter?: string; signal?: AbortSignal },
  ): AsyncGenerator<{ key: string; sizeBytes: number; lastModified: Date; etag?: string }> {
    const { s3 } = await this.#loaded();
    let token: string | undefined;
    do {
      const page = await this.#send("ListObjectsV2", prefix || undefined, (sdk) =>
        sdk.client.send(
          new s3.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: options.delimiter,
            MaxKeys: this.listPageSize,
            ContinuationToken: token,
          }),
          { abortSignal: options.signal },
        ));
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

  async #head(key: string, signal?: AbortSignal): Promise<CachedMetadata | null> {
    const { s3 } = await this.#loaded();
    try {
      const out = await this.#send("HeadObject", key, (sdk) =>
        sdk.client.send(
          new s3.HeadObjectCommand({ Bucket: this.bucket, Key: key, ...this.#sseCustomerParams() }),
          { abortSignal: signal },
        ));
      return {
        etag: out.ETag,
        sizeBytes: out.ContentLength ?? 0,
        ...decodeMetadata(key, out.Metadata),
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async #deleteKeys(keys: string[], signal?: AbortSignal): Promise<void> {
    if (keys.length === 0) return;
    const { s3 } = await this.#loaded();
    for (let i = 0; i < keys.length; i += S3_DELETE_BATCH) {
      const batch = keys.slice(i, i + S3_DELETE_BATCH);
      const out = await this.#send("DeleteObjects", batch[0], (sdk) =>
        sdk.client.send(
          new s3.DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: signal },
        ));
      for (const key of batch) this.#cache.delete(key);
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

  /** Multipart (or, below one part, a single PUT) from a stream, bounded in memory. */
  async #upload(
    params: PutObjectCommandInput,
    body: Uint8Array | ReadableStream<Uint8Array>,
    sizeBytes: number,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const sdk = await this.#loaded();
    const [{ Upload }, { Readable }] = await Promise.all([loadLibStorage(), import("node:stream")]);
    let source: Uint8Array | InstanceType<typeof Readable>;
    if (body instanceof Uint8Array) {
      source = body;
    } else {
      let counted = 0;
      const key = params.Key;
      const counting = body.pipeThrough(
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
      // A web ReadableStream body fails inside the SDK under Deno; a Node Readable works.
      // deno-lint-ignore no-explicit-any
      source = Readable.fromWeb(counting as any);
    }
    const upload = new Upload({
      client: sdk.client as S3Client,
      params: { ...params, Body: source, ContentLength: sizeBytes },
      partSize: Math.max(this.partSizeBytes, Math.ceil(sizeBytes / S3_MAX_PARTS)),
      queueSize: this.uploadConcurrency,
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
        bucket: this.bucket,
        key: params.Key,
        endpoint: this.printableEndpoint,
      });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  #writeParams(): Partial<PutObjectCommandInput> {
    const params: Partial<PutObjectCommandInput> = { ...this.#sseCustomerParams() };
    const { storageClass, sseKmsKeyId } = this.#options;
    if (storageClass) params.StorageClass = storageClass as PutObjectCommandInput["StorageClass"];
    if (sseKmsKeyId) {
      params.ServerSideEncryption = "aws:kms";
      params.SSEKMSKeyId = sseKmsKeyId;
    }
    return params;
  }

  #sseCustomerParams(): { SSECustomerAlgorithm?: string; SSECustomerKey?: string } {
    const key = this.#options.sseCustomerKey;
    return key ? { SSECustomerAlgorithm: "AES256", SSECustomerKey: key } : {};
  }

  #cached(key: string, etag: string | undefined, sizeBytes: number): CachedMetadata | undefined {
    const entry = this.#cache.get(key);
    if (!entry) return undefined;
    if (entry.sizeBytes !== sizeBytes || (etag && entry.etag && etag !== entry.etag)) {
      this.#cache.delete(key);
      return undefined;
    }
    // Refresh its place in the LRU order.
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    return entry;
  }

  #remember(key: string, entry: CachedMetadata): void {
    if (this.#cacheLimit <= 0) return;
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    while (this.#cache.size > this.#cacheLimit) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
  }

  /** `<prefix>/<name>`, the path a Litestream config names for this database. */
  databasePath(name: string): string {
    return databaseKeyPrefix(this.prefix, name);
  }
}

function applyMetadata(info: LtxFileInfo, metadata: CachedMetadata): void {
  if (metadata.sha256 !== undefined) info.sha256 = metadata.sha256;
  if (metadata.databaseChecksum !== undefined) info.databaseChecksum = metadata.databaseChecksum;
  if (metadata.createdAt !== undefined) info.createdAt = metadata.createdAt;
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

/** Exponential backoff with full jitter, as the SDK does between retries. */
function backoffMs(attempt: number): number {
  return Math.random() * RESUME_BASE_DELAY_MS * 2 ** Math.min(attempt, 8);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

async function mapLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}
