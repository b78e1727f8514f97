/**
 * One file-system watcher for the whole process. Linux allows 128 inotify instances per user
 * by default, so walsync never opens one per database: a single `Deno.watchFs` covers every
 * database's `-wal` file and is rebuilt when that set changes. Events are only hints; the
 * per-database poll is the source of truth (a replaced `-wal` goes unwatched until the next
 * rebuild, and polling still sees it).
 *
 * It watches the `-wal` files, never their directories: with Deno 2.9.6 a watch on the
 * directory holding a live database makes the process lose its SQLite locks on that database
 * at the first event (measured; see tests/pin_test.ts), which would unpin walsync's reader.
 */
import { type Logger, silentLogger } from "../log.ts";

export class ChangeWatcher {
  #onChange: (dbPath: string) => void;
  #log: Logger;
  /** `-wal` path → database path. */
  #dbByWal = new Map<string, string>();
  #watcher: Deno.FsWatcher | null = null;
  #loop: Promise<void> | null = null;
  #closed = false;

  constructor(onChange: (dbPath: string) => void, logger: Logger = silentLogger) {
    this.#onChange = onChange;
    this.#log = logger;
  }

  /** Watches the database at `dbPath` (absolute) through its `-wal` file. */
  add(dbPath: string): void {
    this.#dbByWal.set(`${dbPath}-wal`, dbPath);
    this.#restart();
  }

  remove(dbPath: string): void {
    if (this.#dbByWal.delete(`${dbPath}-wal`)) this.#restart();
  }

  /** Number of OS watchers in use (0 or 1). */
  get watcherCount(): number {
    return this.#watcher ? 1 : 0;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = null;
    await this.#loop;
  }

  #restart(): void {
    if (this.#closed) return;
    this.#watcher?.close();
    this.#watcher = null;
    const paths = [...this.#dbByWal.keys()].filter(exists);
    if (paths.length === 0) return;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(paths, { recursive: false });
    } catch (error) {
      // Polling still finds every change; events only make it sooner.
      this.#log.warn("file-system events unavailable; relying on polling", { error });
      return;
    }
    this.#watcher = watcher;
    const previous = this.#loop;
    this.#loop = (async () => {
      await previous;
      try {
        for await (const event of watcher) {
          for (const path of event.paths) {
            const db = this.#dbByWal.get(path);
            if (db) this.#onChange(db);
          }
        }
      } catch (error) {
        if (!this.#closed) {
          this.#log.warn("file-system watcher stopped; relying on polling", { error });
        }
      }
    })();
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
