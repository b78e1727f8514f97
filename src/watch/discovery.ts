/**
 * Finds databases that appear at run time (walsync.toml globs, and configured paths that do
 * not exist yet). Polls with directory listings on an interval: a `Deno.watchFs` over the
 * database directories would open and close files on events, and closing any handle on a
 * database file drops this process's SQLite locks.
 */
import type { Logger } from "../log.ts";

/** How often globs are listed again for new databases. */
export const DEFAULT_DISCOVERY_INTERVAL_MS = 10_000;

const SQLITE_MAGIC = "SQLite format 3\0";

export interface Candidate {
  /** Absolute path of the database file. */
  path: string;
}

/**
 * Remembers which candidates were taken, and reports each new one once it is a SQLite
 * database; files that are not (yet) are looked at again next time, and named in the log
 * once.
 */
export interface DiscoveryOptions {
  /**
   * The replica name of a database this process already replicates that `path` also names
   * (a symlink or hard link to it), else null. Such a file is never opened here: closing a
   * handle on it would drop the SQLite locks walsync holds on it.
   */
  sameAs?: (path: string) => string | null;
}

export class Discovery<T extends Candidate> {
  #known = new Set<string>();
  #reported = new Map<string, string>();
  #list: () => Promise<T[]>;
  #log: Logger;
  #sameAs: (path: string) => string | null;

  constructor(list: () => Promise<T[]>, logger: Logger, options: DiscoveryOptions = {}) {
    this.#list = list;
    this.#log = logger;
    this.#sameAs = options.sameAs ?? (() => null);
  }

  /** `path` is replicated already (or was given up on): never report it. */
  markKnown(path: string): void {
    this.#known.add(path);
    this.#reported.delete(path);
  }

  /** `path` is no longer replicated: report it again if it reappears. */
  forget(path: string): void {
    this.#known.delete(path);
  }

  /** Candidates not seen before whose file starts with the SQLite header. */
  async findNew(): Promise<T[]> {
    const found: T[] = [];
    for (const candidate of await this.#list()) {
      if (this.#known.has(candidate.path)) continue;
      const same = this.#sameAs(candidate.path);
      const problem = same !== null
        ? `it is the same database file as "${same}", which is replicated already`
        : await notADatabase(candidate.path);
      if (problem === null) {
        found.push(candidate);
        continue;
      }
      if (this.#reported.get(candidate.path) !== problem) {
        this.#reported.set(candidate.path, problem);
        // A file that is not a database is likely a mistake in the config; missing or empty
        // ones are usually databases about to be created.
        const level = problem.startsWith("the file is not") || same !== null ? "warn" : "info";
        this.#log[level]("not replicating (yet)", { path: candidate.path, reason: problem });
      }
    }
    return found;
  }
}

/**
 * Why `path` cannot be replicated now, or null if it is a SQLite database. Only called for
 * files this process has not opened with SQLite (closing a handle would drop its locks).
 */
async function notADatabase(path: string): Promise<string | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "the file does not exist yet";
    return `it cannot be opened: ${(error as Error).message}`;
  }
  try {
    const head = new Uint8Array(SQLITE_MAGIC.length);
    let filled = 0;
    while (filled < head.length) {
      const n = await file.read(head.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    if (filled === 0) return "the file is empty (a database being created?)";
    if (new TextDecoder().decode(head.subarray(0, filled)) !== SQLITE_MAGIC) {
      return "the file is not a SQLite database";
    }
    return null;
  } finally {
    file.close();
  }
}
