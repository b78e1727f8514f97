/** A replica held in memory, for tests: same semantics as the durable backends. */
import { formatLtxFilename } from "../../ltx/ltx_header.ts";
import {
  compareLtxFiles,
  type ListFilesOptions,
  listFilesOptions,
  type LtxFileInfo,
  type LtxFileKey,
  type LtxFileMetadata,
  readAll,
  type ReplicaClient,
  ReplicaFileNotFoundError,
  sortsAfter,
} from "../replica_client.ts";
import { validateReplicaName } from "../replica_path.ts";

export class MemoryReplicaClient implements ReplicaClient {
  readonly kind = "memory";
  readonly location = "memory:";
  readonly #files = new Map<string, Map<string, { info: LtxFileInfo; data: Uint8Array }>>();
  readonly #objects = new Map<string, Uint8Array>();

  #dir(name: string, level: number): Map<string, { info: LtxFileInfo; data: Uint8Array }> {
    const key = `${validateReplicaName(name)}\0${level}`;
    let dir = this.#files.get(key);
    if (!dir) this.#files.set(key, dir = new Map());
    return dir;
  }

  // deno-lint-ignore require-await
  async listDatabases(): Promise<string[]> {
    const names = new Set<string>();
    for (const [key, dir] of this.#files) if (dir.size > 0) names.add(key.split("\0")[0]);
    return [...names].sort();
  }

  // deno-lint-ignore require-await
  async listFiles(
    name: string,
    level: number,
    options?: AbortSignal | ListFilesOptions,
  ): Promise<LtxFileInfo[]> {
    const { startAfter } = listFilesOptions(options);
    const files = [...this.#dir(name, level).values()].map((f) => ({ ...f.info }));
    return files.filter((f) => sortsAfter(f, startAfter)).sort(compareLtxFiles);
  }

  // deno-lint-ignore require-await
  async statFile(name: string, key: LtxFileKey): Promise<LtxFileInfo | null> {
    const file = this.#dir(name, key.level).get(formatLtxFilename(key.minTxid, key.maxTxid));
    return file ? { ...file.info } : null;
  }

  // deno-lint-ignore require-await
  async openFile(
    name: string,
    key: LtxFileKey,
    options: { offset?: number; length?: number } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const file = this.#dir(name, key.level).get(formatLtxFilename(key.minTxid, key.maxTxid));
    if (!file) {
      throw (new ReplicaFileNotFoundError(
        `Replica file "${name}/${key.level}/${
          formatLtxFilename(key.minTxid, key.maxTxid)
        }" does not exist`,
      ));
    }
    const offset = options.offset ?? 0;
    const end = options.length === undefined ? file.data.length : offset + options.length;
    const bytes = file.data.slice(offset, end);
    return (new ReadableStream({
      start(controller) {
        if (bytes.length > 0) controller.enqueue(bytes);
        controller.close();
      },
    }));
  }

  async writeFile(
    name: string,
    key: LtxFileKey,
    body: Uint8Array | ReadableStream<Uint8Array>,
    metadata: LtxFileMetadata,
  ): Promise<LtxFileInfo> {
    const data = body instanceof Uint8Array ? body.slice() : await readAll(body);
    const { sha256, databaseChecksum, createdAt } = metadata;
    const info: LtxFileInfo = {
      ...key,
      sizeBytes: data.length,
      sha256,
      databaseChecksum,
      createdAt,
    };
    this.#dir(name, key.level).set(formatLtxFilename(key.minTxid, key.maxTxid), { info, data });
    return { ...info };
  }

  // deno-lint-ignore require-await
  async deleteFiles(name: string, keys: LtxFileKey[]): Promise<void> {
    for (const key of keys) {
      this.#dir(name, key.level).delete(formatLtxFilename(key.minTxid, key.maxTxid));
    }
  }

  // deno-lint-ignore require-await
  async createExclusive(path: string, data: Uint8Array): Promise<boolean> {
    validateReplicaName(path);
    if (this.#objects.has(path)) return false;
    this.#objects.set(path, data.slice());
    return true;
  }

  // deno-lint-ignore require-await
  async readObject(path: string): Promise<Uint8Array | null> {
    return this.#objects.get(validateReplicaName(path))?.slice() ?? null;
  }

  // deno-lint-ignore require-await
  async deleteObject(path: string): Promise<void> {
    this.#objects.delete(validateReplicaName(path));
  }

  /** Test hook: flips one byte of a stored file, as bit rot or a broken store would. */
  corrupt(name: string, key: LtxFileKey, offset: number): void {
    const file = this.#dir(name, key.level).get(formatLtxFilename(key.minTxid, key.maxTxid));
    if (!file) throw new Error("no such file");
    if (offset < 0 || offset >= file.data.length) {
      throw new RangeError(`offset ${offset} is outside the file`);
    }
    file.data[offset] ^= 0xff;
  }
}
