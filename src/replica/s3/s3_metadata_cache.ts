/**
 * User metadata of LTX objects (SHA-256, database checksum, timestamp), which listings do not
 * carry. It is read with one HEAD per object not seen before and kept in a bounded LRU keyed
 * by object key, checked against the listed ETag and size: LTX objects are immutable, so an
 * entry holds until its object is replaced or deleted. Objects this process wrote are
 * remembered from the write, so the replicator's own listings need no HEADs.
 */
import type { LtxFileInfo } from "../replica_client.ts";
import type { S3Connection } from "./s3_connection.ts";
import { isNotFound } from "./s3_errors.ts";
import { decodeMetadata } from "./s3_layout.ts";
import { mapLimit } from "./s3_util.ts";

export interface CachedMetadata {
  etag: string | undefined;
  sizeBytes: number;
  sha256?: string;
  databaseChecksum?: bigint;
  createdAt?: Date;
}

/** One LTX object from a listing; `info` still lacks the user metadata. */
export interface ListedLtxObject {
  key: string;
  etag?: string;
  info: LtxFileInfo;
}

export interface S3MetadataCacheOptions {
  /** Entries kept; 0 or less keeps none. */
  maxEntries: number;
  /** HEADs in flight while completing one listing. */
  headConcurrency: number;
}

export class S3MetadataCache {
  #connection: S3Connection;
  #entries = new Map<string, CachedMetadata>();
  #maxEntries: number;
  #headConcurrency: number;

  constructor(connection: S3Connection, options: S3MetadataCacheOptions) {
    this.#connection = connection;
    this.#maxEntries = options.maxEntries;
    this.#headConcurrency = options.headConcurrency;
  }

  /**
   * Fills in each listed object's metadata, from the cache or else a HEAD, and returns the
   * infos, in listing order, of the objects that still exist.
   */
  async complete(listed: ListedLtxObject[], signal?: AbortSignal): Promise<LtxFileInfo[]> {
    const missing: ListedLtxObject[] = [];
    for (const entry of listed) {
      const cached = this.#lookup(entry.key, entry.etag, entry.info.sizeBytes);
      if (cached) applyMetadata(entry.info, cached);
      else missing.push(entry);
    }
    const gone = new Set<string>();
    await mapLimit(missing, this.#headConcurrency, async (entry) => {
      const head = await this.#head(entry.key, signal);
      if (!head) {
        gone.add(entry.key); // deleted between LIST and HEAD
        return;
      }
      applyMetadata(entry.info, head);
      this.remember(entry.key, head);
    });
    return listed.filter((e) => !gone.has(e.key)).map((e) => e.info);
  }

  /** What is known of `key`: from the cache, else one HEAD; null if it does not exist. */
  async stat(key: string, signal?: AbortSignal): Promise<CachedMetadata | null> {
    const cached = this.#entries.get(key);
    if (cached) return cached;
    const head = await this.#head(key, signal);
    if (head) this.remember(key, head);
    return head;
  }

  /** The listed objects' infos, completed only from the cache (no request). */
  completeCached(listed: ListedLtxObject[]): LtxFileInfo[] {
    for (const entry of listed) {
      const cached = this.#lookup(entry.key, entry.etag, entry.info.sizeBytes);
      if (cached) applyMetadata(entry.info, cached);
    }
    return listed.map((e) => e.info);
  }

  /** Records what is known of `key` (after a write or a HEAD), evicting the oldest entries. */
  remember(key: string, entry: CachedMetadata): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /** Drops `key` (it was deleted). */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  #lookup(key: string, etag: string | undefined, sizeBytes: number): CachedMetadata | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.sizeBytes !== sizeBytes || (etag && entry.etag && etag !== entry.etag)) {
      this.#entries.delete(key);
      return undefined;
    }
    // Refresh its place in the LRU order.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  async #head(key: string, signal?: AbortSignal): Promise<CachedMetadata | null> {
    const connection = this.#connection;
    const { s3 } = await connection.loaded();
    try {
      const out = await connection.send("HeadObject", key, (sdk) =>
        sdk.client.send(
          new s3.HeadObjectCommand({
            Bucket: connection.bucket,
            Key: key,
            ...connection.sseCustomerParams(),
          }),
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
}

function applyMetadata(info: LtxFileInfo, metadata: CachedMetadata): void {
  if (metadata.sha256 !== undefined) info.sha256 = metadata.sha256;
  if (metadata.databaseChecksum !== undefined) info.databaseChecksum = metadata.databaseChecksum;
  if (metadata.createdAt !== undefined) info.createdAt = metadata.createdAt;
}
