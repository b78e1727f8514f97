/**
 * Whether a process that wrote a record (a lease, a lock owner) still runs: on Linux its
 * `/proc/<pid>` entry, and, when the record kept it, its start time (so a reused pid is not
 * taken for the writer). Elsewhere a process is assumed alive (the safe side).
 */

/** Whether process `pid` runs on this host: `/proc/<pid>` on Linux; elsewhere assumed alive. */
export function processAlive(pid: number): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** When process `pid` started (clock ticks since boot, `/proc/<pid>/stat`), or null. */
export function processStartTicks(pid: number): number | null {
  if (Deno.build.os !== "linux") return null;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isSafeInteger(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

/** Whether the process a record names still runs: same pid and, when known, same start. */
export function sameProcessAlive(pid: number, startTicks: number | null | undefined): boolean {
  if (!processAlive(pid)) return false;
  if (startTicks === null || startTicks === undefined) return true;
  const now = processStartTicks(pid);
  return now === null || now === startTicks;
}
