/**
 * Which databases actually reached a replica, read from the replica itself (never from a
 * tool's log), for the layouts of all three tools:
 *
 * - walsync and Litestream 0.5 (LTX): `<name>/ltx/<level>/<min>-<max>.ltx` in a file replica,
 *   `<name>/<level as 4 hex>/<min>-<max>.ltx` in S3 (a walsync run per database nests one more
 *   `<name>/` level: its replica root is `<root>/<name>`);
 * - Litestream 0.3: `<name>/generations/<id>/snapshots/<index>.snapshot.lz4` and
 *   `<name>/generations/<id>/wal/<index>_<offset>.wal.lz4`.
 *
 * Keys are relative to the replica root of one run, and their first segment is the database's
 * name. A database counts as replicated once it has something a restore can start from: an LTX
 * file that starts at TXID 1 (a snapshot, at level 0 or 9, or a compaction that includes one) or
 * a Litestream 0.3 snapshot. Later LTX files without such a start, WAL segments without a
 * snapshot, metadata sidecars, leases and temp files do not count.
 */
import { parseLtxFilename } from "../src/ltx/ltx_header.ts";

export type ReplicaFileKind = "ltx" | "v3-snapshot" | "v3-wal";

export interface ClassifiedKey {
  name: string;
  kind: ReplicaFileKind;
  /** The LTX file's TXID range (LTX files only). */
  minTxid?: number;
  maxTxid?: number;
}

const V3_SNAPSHOT = /^[0-9a-f]{8,16}\.snapshot\.lz4$/;
const V3_WAL = /^[0-9a-f]{8,16}_[0-9a-f]{8,16}\.wal\.lz4$/;

/** What one replica key is, or null for anything that does not make a database restorable. */
export function classifyReplicaKey(key: string): ClassifiedKey | null {
  const segments = key.split("/").filter((s) => s !== "");
  if (segments.length < 3) return null;
  const name = segments[0];
  const base = segments[segments.length - 1];
  const parent = segments[segments.length - 2];
  const generations = segments.indexOf("generations");
  if (generations > 0 && segments.length === generations + 4) {
    if (parent === "snapshots" && V3_SNAPSHOT.test(base)) return { name, kind: "v3-snapshot" };
    if (parent === "wal" && V3_WAL.test(base)) return { name, kind: "v3-wal" };
    return null;
  }
  const range = parseLtxFilename(base);
  // The level directory: decimal in file replicas (`ltx/0`), 4 hex digits in S3 (`0000`).
  if (range === null || !/^(\d|[0-9a-f]{4})$/.test(parent)) return null;
  return { name, kind: "ltx", minTxid: range.minTxid, maxTxid: range.maxTxid };
}

export interface DatabaseReplicaFacts {
  ltxFiles: number;
  /** LTX files starting at TXID 1: a restore can start from each. */
  ltxFromStart: number;
  /** Highest TXID of any LTX file at any level (0 without LTX files). */
  maxTxid: number;
  v3Snapshots: number;
  v3WalSegments: number;
}

/** Replica facts per database name, from every key of one replica root. */
export function replicaCensus(keys: Iterable<string>): Map<string, DatabaseReplicaFacts> {
  const byName = new Map<string, DatabaseReplicaFacts>();
  for (const key of keys) {
    const classified = classifyReplicaKey(key);
    if (classified === null) continue;
    let facts = byName.get(classified.name);
    if (!facts) {
      facts = { ltxFiles: 0, ltxFromStart: 0, maxTxid: 0, v3Snapshots: 0, v3WalSegments: 0 };
      byName.set(classified.name, facts);
    }
    if (classified.kind === "ltx") {
      facts.ltxFiles++;
      if (classified.minTxid === 1) facts.ltxFromStart++;
      facts.maxTxid = Math.max(facts.maxTxid, classified.maxTxid ?? 0);
    } else if (classified.kind === "v3-snapshot") {
      facts.v3Snapshots++;
    } else {
      facts.v3WalSegments++;
    }
  }
  return byName;
}

/** True when a restore of the database has something to start from. */
export function isReplicated(facts: DatabaseReplicaFacts | undefined): boolean {
  return facts !== undefined && (facts.ltxFromStart > 0 || facts.v3Snapshots > 0);
}

/** How many of `names` reached the replica. */
export function countReplicated(
  census: Map<string, DatabaseReplicaFacts>,
  names: Iterable<string>,
): number {
  let count = 0;
  for (const name of names) if (isReplicated(census.get(name))) count++;
  return count;
}

/** Every file below `root`, as paths relative to it ("" when the root does not exist). */
export function listFileReplica(root: string): string[] {
  const out: string[] = [];
  const walk = (relative: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(relative === "" ? root : `${root}/${relative}`)];
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return; // removed meanwhile (compaction)
      throw error;
    }
    for (const entry of entries) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) out.push(path);
    }
  };
  walk("");
  return out;
}
