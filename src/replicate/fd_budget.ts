/**
 * How many databases may hold files open at once. An open database costs about six file
 * descriptors (SQLite's database, `-wal` and `-shm` files, walsync's handle on the database
 * file and its staging lock, a short-lived `-wal` handle during a sync); a released one costs
 * none. The budget keeps a reserve for Deno itself, sockets and listings: the Deno runtime
 * panics when it cannot open a file descriptor of its own, so walsync must never use the last.
 */
import { WalsyncError } from "../errors.ts";

/** File descriptors counted for each open database. */
export const DEFAULT_FDS_PER_DATABASE = 6;
/** Kept free for the runtime, sockets and listings: at least this many, or a tenth. */
export const DEFAULT_FD_RESERVE = 128;

/** No room for one more open database now (descriptors or max_open); it waits its turn. */
export class FdBudgetError extends WalsyncError {}

export interface FdBudgetOptions {
  /** The process's limit (soft RLIMIT_NOFILE); null when it cannot be read (no budget). */
  limit: number | null;
  /** Descriptors open before any database (stdio, the runtime, the watcher). */
  baseline: number;
  perDatabase?: number;
  reserve?: number;
}

export class FdBudget {
  readonly limit: number | null;
  /** Databases that may be open at once (Infinity without a known limit). */
  maxOpen: number;
  /** What the descriptors alone allow (before any cap). */
  fromDescriptors: number;
  readonly perDatabase: number;

  constructor(options: FdBudgetOptions) {
    this.limit = options.limit;
    this.perDatabase = options.perDatabase ?? DEFAULT_FDS_PER_DATABASE;
    if (options.limit === null) {
      this.maxOpen = this.fromDescriptors = Infinity;
      return;
    }
    const reserve = options.reserve ?? Math.max(DEFAULT_FD_RESERVE, Math.ceil(options.limit / 10));
    this.maxOpen = this.fromDescriptors = Math.max(
      1,
      Math.floor((options.limit - reserve - options.baseline) / this.perDatabase),
    );
  }

  /** The limit the process would need to keep `databases` open at once. */
  limitFor(databases: number, baseline: number): number {
    return databases * this.perDatabase + baseline +
      Math.max(DEFAULT_FD_RESERVE, Math.ceil((this.limit ?? 0) / 10));
  }

  /** At most `count` databases open at once, whatever the descriptors would allow. */
  capTo(count: number): void {
    this.maxOpen = Math.max(1, Math.min(this.maxOpen, count));
  }

  /** After a real "too many open files": never plan for more than are open now. */
  shrinkTo(openDatabases: number): void {
    this.maxOpen = Math.max(1, Math.min(this.maxOpen, openDatabases));
    this.fromDescriptors = Math.min(this.fromDescriptors, this.maxOpen);
  }

  /** True when the descriptors, not a cap, keep `databases` from all being open at once. */
  limitsBelow(databases: number): boolean {
    return this.fromDescriptors < databases && this.fromDescriptors <= this.maxOpen;
  }

  /**
   * The budget for this process: its soft limit and what is open now (Linux `/proc`; macOS,
   * which has no `/proc`, asks a shell for `ulimit -n` and lists `/dev/fd`).
   */
  static forProcess(): FdBudget {
    return new FdBudget({ limit: readFdLimit(), baseline: countOpenFds() ?? 0 });
  }
}

/** The soft "Max open files" of this process, or null where it cannot be read. */
export function readFdLimit(): number | null {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    return parseFdLimit(soft);
  } catch {
    return Deno.build.os === "windows" ? null : readFdLimitFromShell();
  }
}

/**
 * The soft limit as `sh -c "ulimit -n"` reports it: a child inherits this process's limits.
 * For systems without `/proc` (macOS); null when no shell answers.
 */
export function readFdLimitFromShell(): number | null {
  try {
    const out = new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return out.success ? parseFdLimit(new TextDecoder().decode(out.stdout).trim()) : null;
  } catch {
    return null;
  }
}

function parseFdLimit(soft: string | undefined): number | null {
  if (soft === undefined || soft === "unlimited") return null;
  const value = Number(soft);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/**
 * File descriptors open in this process now (`/proc/self/fd`, else `/dev/fd` as on macOS), or
 * null where they cannot be counted.
 */
export function countOpenFds(): number | null {
  return countEntries("/proc/self/fd") ?? countEntries("/dev/fd");
}

/** The number of entries in `dir`, or null when it cannot be listed. */
export function countEntries(dir: string): number | null {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync(dir)) count++;
    return count;
  } catch {
    return null;
  }
}

/** True for errors that mean the process (or system) ran out of file descriptors. */
export function isFdExhaustion(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (code === "EMFILE" || code === "ENFILE") return true;
    if (/too many open files|EMFILE|ENFILE|os error 24\b/i.test(e.message)) return true;
  }
  return false;
}
