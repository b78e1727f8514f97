/**
 * One replicator (walsync or Litestream 0.5.17) replicating one database, as the realworld
 * tests use it: started, waited for until its first snapshot is in the replica, watched for
 * marker rows arriving in the replica, restored with its own `restore` and counted.
 *
 * "Arrived" is read from the replica, never from a log: the watcher lists the database's LTX
 * files, decodes each new one (walsync's LTX decoder reads both tools' files) and notes when a
 * marker row's text first shows up in a page. Both tools write replica files whole (temp +
 * rename, or one PUT), so a listed file is complete.
 */
import { DatabaseSync } from "node:sqlite";
import { LtxDecoder } from "../../src/ltx/ltx_decoder.ts";
import { type BenchS3 } from "../bench_s3.ts";
import { sleep } from "../harness.ts";
import {
  classifyReplicaKey,
  isReplicated,
  listFileReplica,
  replicaCensus,
} from "../replica_census.ts";
import {
  type Database,
  launch,
  type Launched,
  type ReplicaRoot,
  type ToolId,
} from "../replicators.ts";

export const DEFAULT_POLL_MS = 10;
/** How long a replicator may take to put its first snapshot in the replica. */
const FIRST_SNAPSHOT_TIMEOUT_MS = 300_000;

/** A tool under test and the command that runs it (a private copy of its executable). */
export interface Subject {
  tool: ToolId;
  command: string[];
}

export interface RealworldContext {
  scratch: string;
  s3: BenchS3 | null;
  syncIntervalSeconds: number;
  fdLimit: number;
}

/** A fresh replica root for one test run of one tool. */
export function freshRoot(context: RealworldContext, label: string): ReplicaRoot {
  const dir = Deno.makeTempDirSync({ dir: context.scratch, prefix: `${label}-replica-` });
  return context.s3
    ? { kind: "s3", s3: context.s3, prefix: `realworld/${dir.split("/").pop()}` }
    : { kind: "file", dir };
}

/** Keys of one database's replica files, relative to the run's root. */
async function listDatabase(root: ReplicaRoot, name: string): Promise<string[]> {
  if (root.kind === "file") {
    return listFileReplica(`${root.dir}/${name}`).map((key) => `${name}/${key}`);
  }
  return (await root.s3.list(`${root.prefix}/${name}`)).map((key) => `${name}/${key}`);
}

async function readKey(root: ReplicaRoot, key: string): Promise<Uint8Array | null> {
  try {
    return root.kind === "file"
      ? Deno.readFileSync(`${root.dir}/${key}`)
      : await root.s3.read(`${root.prefix}/${key}`);
  } catch {
    return null; // compacted away between the listing and the read
  }
}

/** Watches one database's replica for marker rows. */
export class ReplicaWatcher {
  #root: ReplicaRoot;
  #name: string;
  #seen = new Set<string>();
  #expected = new Set<string>();
  #found = new Map<string, number>();
  #page = new Uint8Array(65536);
  #latin1 = new TextDecoder("latin1");

  constructor(root: ReplicaRoot, name: string) {
    this.#root = root;
    this.#name = name;
  }

  /** Call before committing the marker: only files listed after this are searched for it. */
  expect(marker: string): void {
    this.#expected.add(marker);
  }

  /** performance.now() of the listing that first showed a file holding `marker`. */
  foundAt(marker: string): number | undefined {
    return this.#found.get(marker);
  }

  /** Counts every file listed now as seen, without reading it (nothing expected is in it). */
  async skipExisting(): Promise<void> {
    for (const key of await listDatabase(this.#root, this.#name)) this.#seen.add(key);
  }

  /** One round: list, and search each new LTX file for the expected markers. */
  async poll(): Promise<void> {
    const listedAt = performance.now();
    for (const key of await listDatabase(this.#root, this.#name)) {
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      if (this.#expected.size === 0 || classifyReplicaKey(key)?.kind !== "ltx") continue;
      const bytes = await readKey(this.#root, key);
      if (bytes === null) continue;
      const decoder = LtxDecoder.fromBytes(bytes);
      const header = await decoder.readHeader();
      const page = this.#page.subarray(0, header.pageSize);
      while (await decoder.readPage(page) !== null) {
        const text = this.#latin1.decode(page);
        for (const marker of this.#expected) {
          if (!text.includes(marker)) continue;
          this.#found.set(marker, listedAt);
          this.#expected.delete(marker);
        }
      }
    }
  }

  /** Polls until every marker in `markers` was found; false after `timeoutMs`. */
  async waitFor(markers: string[], timeoutMs: number, pollMs = DEFAULT_POLL_MS): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (markers.some((m) => !this.#found.has(m))) {
      if (performance.now() > deadline) return false;
      await this.poll();
      await sleep(pollMs);
    }
    return true;
  }
}

/** A started subject on one database. */
export interface Running {
  subject: Subject;
  launched: Launched;
  database: Database;
  root: ReplicaRoot;
  watcher: ReplicaWatcher;
  /** Launch until the first snapshot was listed in the replica, ms. */
  firstSnapshotMs: number;
}

/**
 * Starts `subject` on `path` and waits for its first snapshot in the replica. `endpoint`
 * points the tool at a fault proxy instead of the S3 server.
 */
export async function startSubject(
  context: RealworldContext,
  subject: Subject,
  options: { path: string; root: ReplicaRoot; endpoint?: string },
): Promise<Running> {
  const name = options.path.split("/").pop()!;
  const database = { path: options.path, name };
  const root: ReplicaRoot = options.endpoint && options.root.kind === "s3"
    ? { ...options.root, endpoint: options.endpoint }
    : options.root;
  const started = performance.now();
  const launched = launch({
    tool: subject.tool,
    command: subject.command,
    databases: [database],
    root,
    configDir: context.scratch,
    syncIntervalSeconds: context.syncIntervalSeconds,
    fdLimit: context.fdLimit,
  });
  let exited = false;
  launched.proc.done.then(() => exited = true);
  while (!isReplicated(replicaCensus(await listDatabase(root, name)).get(name))) {
    if (exited) {
      throw new Error(`${subject.tool} exited before its first snapshot:\n${launched.proc.tail()}`);
    }
    if (performance.now() - started > FIRST_SNAPSHOT_TIMEOUT_MS) {
      await launched.proc.stop(5_000);
      throw new Error(`${subject.tool} wrote no snapshot in ${FIRST_SNAPSHOT_TIMEOUT_MS} ms`);
    }
    await sleep(DEFAULT_POLL_MS);
  }
  const firstSnapshotMs = performance.now() - started;
  const watcher = new ReplicaWatcher(root, name);
  await watcher.skipExisting();
  return { subject, launched, database, root, watcher, firstSnapshotMs };
}

/** Restores with the tool's own `restore` and reads the result. */
export async function restoreAndCount(
  running: Running,
  output: string,
): Promise<{ rows: number; ms: number; integrity: string; sizeBytes: number }> {
  for (const suffix of ["", "-wal", "-shm"]) {
    try {
      Deno.removeSync(`${output}${suffix}`);
    } catch { /* not there */ }
  }
  const started = performance.now();
  await running.launched.restore(running.database, output);
  const ms = performance.now() - started;
  const sizeBytes = Deno.statSync(output).size;
  const db = new DatabaseSync(output, { readOnly: true });
  const rows = (db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n;
  const integrity = (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
    .integrity_check;
  db.close();
  return { rows, ms, integrity, sizeBytes };
}

/** Rows in the application's table. */
export function countRows(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  const rows = (db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n;
  db.close();
  return rows;
}

/** A unique marker row text. */
export function marker(label: string, i: number): string {
  return `MARK-${label}-${String(i).padStart(6, "0")}-${crypto.randomUUID()}`;
}
