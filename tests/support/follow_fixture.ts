/**
 * Helpers the follower tests share: start `walsync replicate` as its own process, read the
 * position it recorded beside a copy, compare a copy with its primary.
 */
import { DatabaseSync } from "node:sqlite";
import { dumpDatabase, integrityCheck } from "./sqlite.ts";
import { WalsyncProcess } from "./walsync_process.ts";

/**
 * The follower tests run on Linux and macOS: on Windows, SQLite's locks are mandatory byte-range
 * locks and the tests' reader is Python's sqlite3, neither of which the CI job there has set up.
 */
export const NOT_ON_WINDOWS: boolean = Deno.build.os === "windows";

/** `walsync replicate ARGS…` in its own process, polling every 100 ms. */
export function startReplicate(
  args: string[],
  options: { env?: Record<string, string> } = {},
): WalsyncProcess {
  return new WalsyncProcess(["replicate", ...args, "--interval", "100ms"], options);
}

/** The TXID the follower recorded for `copy` (0 without a position file). */
export function copyTxid(copy: string): number {
  try {
    return JSON.parse(Deno.readTextFileSync(`${copy}.walsync-follow`)).current.txid;
  } catch {
    return 0;
  }
}

/** A database's rows, opened read-only; null while it cannot be read (e.g. not there yet). */
export function dumpOf(path: string): Record<string, unknown[]> | null {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    db.exec("PRAGMA busy_timeout=5000");
    return dumpDatabase(db);
  } catch {
    return null;
  } finally {
    db?.close();
  }
}

/** True once the copy holds exactly the primary's rows. */
export function copyEquals(copy: string, primary: string): boolean {
  const a = dumpOf(copy);
  return a !== null && JSON.stringify(a) === JSON.stringify(dumpOf(primary));
}

/** `PRAGMA integrity_check` and journal mode of a copy, through a read-write connection. */
export function copyHealth(copy: string): { integrity: string; journalMode: string } {
  const db = new DatabaseSync(copy);
  try {
    db.exec("PRAGMA busy_timeout=5000");
    const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
    return { integrity: integrityCheck(db), journalMode: mode.journal_mode };
  } finally {
    db.close();
  }
}

/** The invariant reader (Python's sqlite3) on `copy`, stopped by creating `stopFile`. */
export class InvariantReader {
  #child: Deno.ChildProcess;
  #output = "";
  #done: Promise<void>;
  readonly stopFile: string;

  constructor(copy: string, expectedSum: number, stopFile: string) {
    this.stopFile = stopFile;
    const child = new Deno.Command("python3", {
      args: [
        new URL("./invariant_reader.py", import.meta.url).pathname,
        copy,
        String(expectedSum),
        stopFile,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    this.#done = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#output += chunk;
      }
    })();
  }

  /** Violations reported so far. */
  get violationsSoFar(): number {
    return this.#output.split("\n").filter((l) => l.startsWith("VIOLATION")).length;
  }

  async stop(): Promise<{ reads: number; violations: number; busy: number; errors: string[] }> {
    Deno.writeTextFileSync(this.stopFile, "");
    await this.#child.status;
    await this.#done;
    const last = this.#output.trim().split("\n").at(-1)!;
    return JSON.parse(last);
  }
}
