/**
 * Which commands an OS cannot run, and why. walsync ships for Windows with the commands that
 * only read a replica and write plain files (restore, verify, list, compact, explain, version,
 * help);
 * the two that hold live databases open, and `replicate`, which writes under SQLite's locks,
 * refuse there with the reason rather than run without the guarantees they are built on.
 */

/** `Deno.build.os` values; a parameter so tests can ask about another OS. */
export type OsName = typeof Deno.build.os;

const WINDOWS_REFUSED = new Set(["watch", "snapshot"]);

/**
 * Why `command` cannot run on `os`, as a one-line error message, or null where it can.
 */
export function platformRefusal(command: string, os: OsName): string | null {
  if (os === "windows" && command === "replicate") {
    return `"walsync replicate" does not run on Windows: it writes each copy under SQLite's ` +
      `POSIX advisory locks (fcntl), which SQLite and walsync share per process; run it on ` +
      `Linux or macOS. On Windows, restore, verify, list, compact and explain work`;
  }
  if (os === "windows" && command === "status") {
    return `"walsync status" does not run on Windows: it asks a running "watch", which does not ` +
      `run on Windows (and talks to it over a Unix socket); on Windows, restore, verify, list, ` +
      `compact and explain work`;
  }
  if (os !== "windows" || !WINDOWS_REFUSED.has(command)) return null;
  return `"walsync ${command}" does not run on Windows: it relies on POSIX advisory locks ` +
    `(fcntl) that SQLite and walsync share per process, on SIGUSR1 (how "snapshot" asks a ` +
    `running "watch") and on /proc; run it on Linux or macOS. On Windows, restore, verify, ` +
    `list, compact and explain work`;
}
