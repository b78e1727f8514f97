/**
 * Which commands an OS cannot run, and why. walsync ships for Windows with the commands that
 * only read a replica and write plain files (restore, verify, list, explain, version, help);
 * the two that hold live databases open refuse there with the reason rather than run without
 * the guarantees they are built on.
 */

/** `Deno.build.os` values; a parameter so tests can ask about another OS. */
export type OsName = typeof Deno.build.os;

const WINDOWS_REFUSED = new Set(["watch", "snapshot"]);

/**
 * Why `command` cannot run on `os`, as a one-line error message, or null where it can.
 */
export function platformRefusal(command: string, os: OsName): string | null {
  if (os !== "windows" || !WINDOWS_REFUSED.has(command)) return null;
  return `"walsync ${command}" does not run on Windows: it relies on POSIX advisory locks ` +
    `(fcntl) that SQLite and walsync share per process, on SIGUSR1 (how "snapshot" asks a ` +
    `running "watch") and on /proc; run it on Linux or macOS. On Windows, restore, verify, ` +
    `list and explain work`;
}
