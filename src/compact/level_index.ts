/**
 * What the daemon knows of one database's replica, level by level, so compaction and
 * retention plan without listing: seeded by one listing per level at first need (without
 * per-object metadata requests), then kept up to date by the daemon's own uploads, merges and
 * deletions. A released database keeps it on local disk, not in memory, and takes it back
 * at its next pass; the file is only trusted by the process that wrote it (which holds the
 * replica's lease, so nothing else changed the replica meanwhile).
 */
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import {
  compareLtxFiles,
  type LtxFileInfo,
  type LtxFileKey,
  type ReplicaClient,
} from "../replica/replica_client.ts";

/** Identifies this process in saved indexes (a saved index from another run is not used). */
const PROCESS_TOKEN = `${Deno.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
const INDEX_FILE = "compaction-index.json";

type SavedFile = [number, number, number, number, number, string | null];

export class LevelIndex {
  #files = new Map<string, LtxFileInfo>();
  /** The files in order, rebuilt after a change. */
  #sorted: LtxFileInfo[] | null = null;

  constructor(files: LtxFileInfo[] = []) {
    for (const f of files) this.#files.set(keyOf(f), f);
  }

  /** Lists levels 0..`levels` and 9 of `name`, the listing alone. */
  static async load(
    client: ReplicaClient,
    name: string,
    levels: number,
    signal?: AbortSignal,
  ): Promise<LevelIndex> {
    const files: LtxFileInfo[] = [];
    for (const level of [...Array.from({ length: levels + 1 }, (_, i) => i), SNAPSHOT_LEVEL]) {
      files.push(...await client.listFiles(name, level, { signal, metadata: false }));
    }
    return new LevelIndex(files);
  }

  /** Every known file, sorted by MinTXID then MaxTXID. */
  get files(): readonly LtxFileInfo[] {
    this.#sorted ??= [...this.#files.values()].sort(compareLtxFiles);
    return this.#sorted;
  }

  get size(): number {
    return this.#files.size;
  }

  /** Records a stored file (replacing one under the same key). */
  add(info: LtxFileInfo): void {
    this.#files.set(keyOf(info), info);
    this.#sorted = null;
  }

  remove(keys: readonly LtxFileKey[]): void {
    for (const key of keys) this.#files.delete(keyOf(key));
    this.#sorted = null;
  }

  /** Writes the index into `dir` (a database's staging directory) for this process. */
  save(dir: string): void {
    const files: SavedFile[] = [...this.#files.values()].map((f) => [
      f.level,
      f.minTxid,
      f.maxTxid,
      f.sizeBytes,
      f.createdAt.getTime(),
      f.databaseChecksum === undefined ? null : f.databaseChecksum.toString(16),
    ]);
    const path = `${dir}/${INDEX_FILE}`;
    Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify({ owner: PROCESS_TOKEN, files }));
    Deno.renameSync(`${path}.tmp`, path);
  }

  /** The index this process saved in `dir`, or null (none, another run's, unreadable). */
  static restore(dir: string): LevelIndex | null {
    const path = `${dir}/${INDEX_FILE}`;
    try {
      const saved = JSON.parse(Deno.readTextFileSync(path));
      Deno.removeSync(path);
      if (saved?.owner !== PROCESS_TOKEN || !Array.isArray(saved.files)) return null;
      return new LevelIndex(
        (saved.files as SavedFile[]).map(([level, minTxid, maxTxid, sizeBytes, ms, sum]) => ({
          level,
          minTxid,
          maxTxid,
          sizeBytes,
          createdAt: new Date(ms),
          ...(sum === null ? {} : { databaseChecksum: BigInt(`0x${sum}`) }),
        })),
      );
    } catch {
      try {
        Deno.removeSync(path);
      } catch { /* none */ }
      return null;
    }
  }
}

function keyOf(key: LtxFileKey): string {
  return `${key.level}/${key.minTxid}/${key.maxTxid}`;
}
