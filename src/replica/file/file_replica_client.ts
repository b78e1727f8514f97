/**
 * A replica in a local directory, laid out exactly as Litestream 0.5's file replica:
 * `<root>/<name>/ltx/<level>/<min>-<max>.ltx`, each file's mtime set to its LTX timestamp.
 * walsync's metadata (SHA-256, database checksum) sits beside each file as
 * `<min>-<max>.ltx.meta.json`, a name Litestream's listing skips.
 * Every write is durable: temp file, fsync, rename, fsync the directory. Given a
 * `fileMode` (the database's), a write gives it to the file and its metadata, and makes the
 * database's directories readable by no one the database file is not (`directoryModeFor`).
 */
import { ChecksumMismatchError } from "../../errors.ts";
import { formatLtxFilename, parseLtxFilename } from "../../ltx/ltx_header.ts";
import {
  compareLtxFiles,
  type ListFilesOptions,
  listFilesOptions,
  type LtxFileInfo,
  type LtxFileKey,
  type LtxFileMetadata,
  type ReplicaClient,
  ReplicaFileNotFoundError,
  sortsAfter,
} from "../replica_client.ts";
import { type StoredMetadata, validateReplicaName } from "../replica_path.ts";
import {
  directoryModeFor,
  makeDirectories,
  syncDirectory,
  writeFileDurably,
} from "../../durable.ts";

const META_SUFFIX = ".meta.json";

export class FileReplicaClient implements ReplicaClient {
  readonly kind = "file";
  readonly root: string;

  constructor(root: string) {
    this.root = root.replace(/\/+$/, "") || "/";
  }

  get location(): string {
    return `file://${this.root}`;
  }

  levelDir(name: string, level: number): string {
    return `${this.root}/${validateReplicaName(name)}/ltx/${level}`;
  }

  filePath(name: string, key: LtxFileKey): string {
    return `${this.levelDir(name, key.level)}/${formatLtxFilename(key.minTxid, key.maxTxid)}`;
  }

  async listDatabases(): Promise<string[]> {
    const names: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return;
        throw error;
      }
      for (const entry of entries) {
        if (!entry.isDirectory) continue;
        if (entry.name === "ltx" && prefix !== "") names.push(prefix.slice(0, -1));
        else await walk(`${dir}/${entry.name}`, `${prefix}${entry.name}/`);
      }
    };
    await walk(this.root, "");
    return names.sort();
  }

  async maxTxid(name: string): Promise<number> {
    let max = 0;
    let levels: Deno.DirEntry[];
    try {
      levels = await Array.fromAsync(Deno.readDir(`${this.root}/${validateReplicaName(name)}/ltx`));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
    for (const level of levels) {
      if (!level.isDirectory || !/^\d+$/.test(level.name)) continue;
      for await (const entry of Deno.readDir(this.levelDir(name, Number(level.name)))) {
        const range = entry.isFile ? parseLtxFilename(entry.name) : null;
        if (range) max = Math.max(max, range.maxTxid);
      }
    }
    return max;
  }

  async listFiles(
    name: string,
    level: number,
    options?: AbortSignal | ListFilesOptions,
  ): Promise<LtxFileInfo[]> {
    const { startAfter, metadata } = listFilesOptions(options);
    const dir = this.levelDir(name, level);
    const files: LtxFileInfo[] = [];
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    for (const entry of entries) {
      const range = entry.isFile ? parseLtxFilename(entry.name) : null;
      if (!range || !sortsAfter(range as LtxFileKey, startAfter)) continue;
      let stat: Deno.FileInfo;
      try {
        stat = await Deno.stat(`${dir}/${entry.name}`);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue; // deleted while listing
        throw error;
      }
      const info: LtxFileInfo = {
        level,
        ...range,
        sizeBytes: stat.size,
        createdAt: stat.mtime ?? new Date(0),
      };
      if (stat.mode !== null) info.fileMode = stat.mode & 0o777;
      // The file's mtime is its recorded timestamp; the rest waits for `statFile`.
      const meta = metadata === false
        ? null
        : await readMetadata(`${dir}/${entry.name}${META_SUFFIX}`);
      if (meta) {
        info.sha256 = meta.sha256;
        if (meta.databaseChecksum !== undefined) {
          info.databaseChecksum = BigInt(`0x${meta.databaseChecksum}`);
        }
        info.createdAt = new Date(meta.createdAt);
      }
      files.push(info);
    }
    return files.sort(compareLtxFiles);
  }

  async statFile(name: string, key: LtxFileKey): Promise<LtxFileInfo | null> {
    const path = this.filePath(name, key);
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    const info: LtxFileInfo = {
      ...key,
      sizeBytes: stat.size,
      createdAt: stat.mtime ?? new Date(0),
    };
    if (stat.mode !== null) info.fileMode = stat.mode & 0o777;
    const meta = await readMetadata(`${path}${META_SUFFIX}`);
    if (meta) {
      info.sha256 = meta.sha256;
      if (meta.databaseChecksum !== undefined) {
        info.databaseChecksum = BigInt(`0x${meta.databaseChecksum}`);
      }
      info.createdAt = new Date(meta.createdAt);
    }
    return info;
  }

  async openFile(
    name: string,
    key: LtxFileKey,
    options: { offset?: number; length?: number } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const path = this.filePath(name, key);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new ReplicaFileNotFoundError(`Replica file "${path}" does not exist`, {
          cause: error,
        });
      }
      throw error;
    }
    const offset = options.offset ?? 0;
    if (offset > 0) await file.seek(offset, Deno.SeekMode.Start);
    if (options.length === undefined) return file.readable;
    return limitStream(file, options.length);
  }

  async writeFile(
    name: string,
    key: LtxFileKey,
    body: Uint8Array | ReadableStream<Uint8Array>,
    metadata: LtxFileMetadata,
  ): Promise<LtxFileInfo> {
    const path = this.filePath(name, key);
    const dir = path.slice(0, path.lastIndexOf("/"));
    const mode = metadata.fileMode;
    if (mode === undefined) {
      Deno.mkdirSync(dir, { recursive: true });
    } else {
      // The replica root is shared by every database: only the database's own directories
      // (`<name>/ltx/<level>`) take its mode.
      await makeDirectories(dir, this.root, directoryModeFor(mode));
    }
    const stored: StoredMetadata = {
      sha256: metadata.sha256,
      databaseChecksum: metadata.databaseChecksum?.toString(16).padStart(16, "0"),
      createdAt: metadata.createdAt.toISOString(),
    };
    // Metadata first: a visible LTX file always has its checksums beside it.
    await writeFileDurably(
      `${path}${META_SUFFIX}`,
      new TextEncoder().encode(JSON.stringify(stored)),
      { syncDir: false, mode },
    );
    const sizeBytes = await writeFileDurably(path, body, { mtime: metadata.createdAt, mode });
    const { sha256, databaseChecksum, createdAt } = metadata;
    return { ...key, sizeBytes, sha256, databaseChecksum, createdAt };
  }

  async deleteFiles(name: string, keys: LtxFileKey[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const path = this.filePath(name, key);
      for (const p of [path, `${path}${META_SUFFIX}`]) {
        try {
          await Deno.remove(p);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
      dirs.add(path.slice(0, path.lastIndexOf("/")));
    }
    for (const dir of dirs) await syncDirectory(dir).catch(() => {});
  }

  async createExclusive(path: string, data: Uint8Array): Promise<boolean> {
    const target = `${this.root}/${validateReplicaName(path)}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    const temp = `${target}.${crypto.randomUUID()}.tmp`;
    await writeFileDurably(temp, data, { syncDir: false, rename: false });
    try {
      // link() fails if the target exists: an atomic create-if-absent with complete content.
      await Deno.link(temp, target);
      await syncDirectory(target.slice(0, target.lastIndexOf("/")));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    } finally {
      await Deno.remove(temp).catch(() => {});
    }
  }

  async readObject(path: string): Promise<Uint8Array | null> {
    try {
      return await Deno.readFile(`${this.root}/${validateReplicaName(path)}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  async deleteObject(path: string): Promise<void> {
    try {
      await Deno.remove(`${this.root}/${validateReplicaName(path)}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

async function readMetadata(path: string): Promise<StoredMetadata | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const meta = JSON.parse(text) as StoredMetadata;
    if (
      typeof meta.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(meta.sha256) ||
      (meta.databaseChecksum !== undefined &&
        (typeof meta.databaseChecksum !== "string" ||
          !/^[0-9a-f]{16}$/.test(meta.databaseChecksum))) ||
      typeof meta.createdAt !== "string" || Number.isNaN(Date.parse(meta.createdAt))
    ) {
      throw new Error("missing or malformed fields");
    }
    return meta;
  } catch (error) {
    throw new ChecksumMismatchError(`Replica metadata "${path}" is unreadable: ${error}`, 0, {
      cause: error,
    });
  }
}

function limitStream(file: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
  let remaining = length;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (remaining <= 0) {
        file.close();
        controller.close();
        return;
      }
      const buffer = new Uint8Array(Math.min(remaining, 64 * 1024));
      const n = await file.read(buffer);
      if (n === null) {
        file.close();
        controller.close();
        return;
      }
      remaining -= n;
      controller.enqueue(buffer.subarray(0, n));
    },
    cancel() {
      file.close();
    },
  });
}
