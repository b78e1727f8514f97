/**
 * A replica in an S3-compatible bucket, laid out exactly as Litestream 0.5's S3 client:
 * `<prefix>/<name>/<level 4 hex>/<min>-<max>.ltx`, with walsync's SHA-256 and database
 * checksum and Litestream's `litestream-timestamp` in each object's user metadata.
 *
 * This class maps the replica interface onto keys; the work is done beside it. The SDK is
 * loaded on the first request, never at import (`s3_connection.ts`). Listings carry no user
 * metadata, so `listFiles` completes them from a cache keyed by key and ETag, with one HEAD
 * per object not seen before (`s3_metadata_cache.ts`). LTX files go up through
 * `s3_upload.ts` and come back through `s3_read.ts`; keys are listed and deleted in bulk by
 * `s3_keys.ts`, and the lease's small conditional objects go through `s3_small_objects.ts`.
 */
import { Logger } from "../../log.ts";
import {
  compareLtxFiles,
  type ListFilesOptions,
  listFilesOptions,
  type LtxFileInfo,
  type LtxFileKey,
  type LtxFileMetadata,
  type ReplicaClient,
  sortsAfter,
} from "../replica_client.ts";
import {
  databaseKeyPrefix,
  encodeMetadata,
  levelKeyPrefix,
  ltxFileKey,
  normalizePrefix,
  objectKey,
  parseLtxKey,
} from "./s3_layout.ts";
import { S3ReplicaError } from "./s3_errors.ts";
import { parseLtxFilename } from "../../ltx/ltx_header.ts";
import { S3Connection } from "./s3_connection.ts";
import { deleteKeys, type ListedObject, listKeys, S3_DELETE_BATCH } from "./s3_keys.ts";
import { type ListedLtxObject, S3MetadataCache } from "./s3_metadata_cache.ts";
import { openRangedRead } from "./s3_read.ts";
import {
  type ConditionalPutResult,
  getSmallObject,
  putSmallObject,
  removeSmallObject,
} from "./s3_small_objects.ts";
import { S3_MIN_PART_SIZE_BYTES, uploadObject, writeParams } from "./s3_upload.ts";
import { readEnv } from "./s3_util.ts";

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
  /** walsync's logger; the SDK's own warnings go through it too. Default: stderr, level info. */
  logger?: Logger;
}

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
  #connection: S3Connection;
  #metadata: S3MetadataCache;

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
    this.#connection = new S3Connection({
      bucket: this.bucket,
      sseCustomerKey: options.sseCustomerKey,
      client: {
        endpoint: this.endpoint,
        region: this.region,
        forcePathStyle: this.forcePathStyle,
        credentials: options.credentials,
        maxAttempts: this.maxAttempts,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        maxSockets: DEFAULT_MAX_SOCKETS,
        // Without one, the SDK's warnings would go to stderr in its own format.
        logger: options.logger ?? new Logger(),
        onRequest: (command) => {
          const name = command.replace(/Command$/, "");
          this.requestCounts.set(name, (this.requestCounts.get(name) ?? 0) + 1);
        },
      },
    });
    this.#metadata = new S3MetadataCache(this.#connection, {
      maxEntries: options.metadataCacheEntries ?? DEFAULT_METADATA_CACHE_ENTRIES,
      headConcurrency: options.headConcurrency ?? DEFAULT_HEAD_CONCURRENCY,
    });
  }

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  /** The endpoint without user info, for messages. */
  get printableEndpoint(): string | undefined {
    return this.#connection.printableEndpoint;
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

  async listFiles(
    name: string,
    level: number,
    options?: AbortSignal | ListFilesOptions,
  ): Promise<LtxFileInfo[]> {
    const { signal, startAfter, metadata } = listFilesOptions(options);
    const prefix = levelKeyPrefix(this.prefix, name, level);
    const listed: ListedLtxObject[] = [];
    const after = startAfter ? ltxFileKey(this.prefix, name, { ...startAfter, level }) : undefined;
    for await (const object of this.#list(prefix, { delimiter: "/", signal, startAfter: after })) {
      const range = parseLtxFilename(object.key.slice(prefix.length));
      if (!range) continue; // foreign objects are not ours to judge
      if (!sortsAfter(range as LtxFileKey, startAfter)) continue; // a store ignoring StartAfter
      listed.push({
        key: object.key,
        etag: object.etag,
        info: { level, ...range, sizeBytes: object.sizeBytes, createdAt: object.lastModified },
      });
    }
    if (metadata === false) return this.#metadata.completeCached(listed).sort(compareLtxFiles);
    return (await this.#metadata.complete(listed, signal)).sort(compareLtxFiles);
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

  async statFile(
    name: string,
    key: LtxFileKey,
    signal?: AbortSignal,
  ): Promise<LtxFileInfo | null> {
    const head = await this.#metadata.stat(ltxFileKey(this.prefix, name, key), signal);
    if (!head) return null;
    return {
      ...key,
      sizeBytes: head.sizeBytes,
      createdAt: head.createdAt ?? new Date(0),
      ...(head.sha256 !== undefined ? { sha256: head.sha256 } : {}),
      ...(head.databaseChecksum !== undefined ? { databaseChecksum: head.databaseChecksum } : {}),
    };
  }

  async openFile(
    name: string,
    key: LtxFileKey,
    options: { offset?: number; length?: number; signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    return await openRangedRead(this.#connection, ltxFileKey(this.prefix, name, key), {
      ...options,
      maxResumes: this.#options.readResumes ?? DEFAULT_READ_RESUMES,
      logger: this.#options.logger,
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
      ...writeParams(this.#connection, this.#options),
    };
    const result = await uploadObject(this.#connection, params, body, {
      sizeBytes: metadata.sizeBytes,
      partSizeBytes: this.partSizeBytes,
      uploadConcurrency: this.uploadConcurrency,
      signal,
    });
    const { sha256, databaseChecksum, createdAt } = metadata;
    this.#metadata.remember(objectKey, { ...result, sha256, databaseChecksum, createdAt });
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
    return await putSmallObject(this.#connection, key, data, { ...options, write: this.#options });
  }

  /** Reads a small object and its ETag, or null when it does not exist. */
  async getObject(
    path: string,
    signal?: AbortSignal,
  ): Promise<{ data: Uint8Array; etag: string | undefined } | null> {
    return await getSmallObject(this.#connection, objectKey(this.prefix, path), signal);
  }

  /** Deletes a small object; with `ifMatch` only that version (where the server honours it). */
  async removeObject(
    path: string,
    options: { ifMatch?: string; signal?: AbortSignal } = {},
  ): Promise<boolean> {
    return await removeSmallObject(this.#connection, objectKey(this.prefix, path), options);
  }

  /** Closes idle connections; the client loads again on the next request. */
  async close(): Promise<void> {
    await this.#connection.close();
  }

  /** `<prefix>/<name>`, the path a Litestream config names for this database. */
  databasePath(name: string): string {
    return databaseKeyPrefix(this.prefix, name);
  }

  // --- internals -------------------------------------------------------------------------

  #list(
    prefix: string,
    options: { delimiter?: string; signal?: AbortSignal; startAfter?: string },
  ): AsyncGenerator<ListedObject> {
    return listKeys(this.#connection, prefix, { ...options, pageSize: this.listPageSize });
  }

  async #deleteKeys(keys: string[], signal?: AbortSignal): Promise<void> {
    await deleteKeys(this.#connection, keys, {
      signal,
      onBatchDeleted: (batch) => {
        for (const key of batch) this.#metadata.forget(key);
      },
    });
  }
}
