/**
 * Linux /proc readers for the comparison benchmarks: resident memory (RSS and PSS from
 * `smaps_rollup`), CPU time (`stat`), open file descriptors (`fd/`), the descendants of a
 * process, and the fd limits (`limits`). The parsers are pure and tested on text; the readers
 * return zeros for a process that is gone, so a crashed tool shows up as a missing process,
 * not as an exception in the middle of a run.
 */

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (`getconf CLK_TCK`). */
export const DEFAULT_CLOCK_TICKS_PER_SECOND = 100;

/** Memory of one process from /proc/<pid>/smaps_rollup, in KiB. */
export interface SmapsRollupKb {
  rssKb: number;
  /** Proportional set size: each shared page divided by the number of processes mapping it. */
  pssKb: number;
  /** The anonymous part of PSS (heap, stacks): what no executable file backs. */
  pssAnonKb: number;
}

/** Parses the text of /proc/<pid>/smaps_rollup (fields missing on old kernels read as 0). */
export function parseSmapsRollup(text: string): SmapsRollupKb {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text);
    return match ? Number(match[1]) : 0;
  };
  return { rssKb: field("Rss"), pssKb: field("Pss"), pssAnonKb: field("Pss_Anon") };
}

/** The fields of /proc/<pid>/stat the benchmarks use. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself contain
 * spaces and parentheses, so fields are counted from the last ")".
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error(`Not a /proc/<pid>/stat line: "${text.slice(0, 80)}"`);
  const pid = Number(text.slice(0, text.indexOf(" ")));
  // After ") ": state(3) ppid(4) … utime(14) stime(15); index 0 here is field 3.
  const fields = text.slice(close + 2).trim().split(" ");
  return {
    pid,
    ppid: Number(fields[1]),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
  };
}

/** Soft and hard "Max open files" of /proc/<pid>/limits (Infinity for "unlimited"). */
export function parseFdLimits(text: string): { softFds: number; hardFds: number } {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!match) throw new Error('No "Max open files" line in /proc/<pid>/limits');
  const value = (s: string) => s === "unlimited" ? Infinity : Number(s);
  return { softFds: value(match[1]), hardFds: value(match[2]) };
}

/** This process's fd limits (Linux). */
export function ownFdLimits(): { softFds: number; hardFds: number } {
  return parseFdLimits(Deno.readTextFileSync("/proc/self/limits"));
}

/** `getconf CLK_TCK`, or the usual 100. */
export function clockTicksPerSecond(): number {
  try {
    const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped", stderr: "null" })
      .outputSync();
    const ticks = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : DEFAULT_CLOCK_TICKS_PER_SECOND;
  } catch {
    return DEFAULT_CLOCK_TICKS_PER_SECOND;
  }
}

function readOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null; // the process ended (or never existed)
  }
}

/** /proc/<pid>/stat of one process, or null when it is gone. */
export function readProcStat(pid: number): ProcStat | null {
  const text = readOrNull(`/proc/${pid}/stat`);
  return text === null ? null : parseProcStat(text);
}

/** smaps_rollup of one process (zeros when it is gone). */
export function readSmapsRollup(pid: number): SmapsRollupKb {
  const text = readOrNull(`/proc/${pid}/smaps_rollup`);
  return text === null ? { rssKb: 0, pssKb: 0, pssAnonKb: 0 } : parseSmapsRollup(text);
}

/** Open file descriptors of one process (0 when it is gone). */
export function countFds(pid: number): number {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) count++;
    return count;
  } catch {
    return 0;
  }
}

/**
 * `roots` and all their living descendants, from one pass over /proc (a tool started through
 * `sh -c '… exec tool'` is the root itself; a tool that forks helpers brings them along).
 */
export function processTree(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const text = readOrNull(`/proc/${entry.name}/stat`);
    if (text === null) continue;
    const { pid, ppid } = parseProcStat(text);
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const alive = (pid: number) => readOrNull(`/proc/${pid}/stat`) !== null;
  const out: number[] = [];
  const queue = roots.filter(alive);
  while (queue.length > 0) {
    const pid = queue.pop()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Summed memory and CPU of a set of processes at one instant. */
export interface TreeSample {
  processes: number;
  rssKb: number;
  pssKb: number;
  pssAnonKb: number;
  /** CPU ticks per pid, so a window's CPU can be taken per process that lived through it. */
  cpuTicksByPid: Map<number, number>;
}

/** Reads smaps_rollup and stat of each pid (the ones that are gone count as nothing). */
export function sampleProcesses(pids: number[]): TreeSample {
  const sample: TreeSample = {
    processes: 0,
    rssKb: 0,
    pssKb: 0,
    pssAnonKb: 0,
    cpuTicksByPid: new Map(),
  };
  for (const pid of pids) {
    const stat = readProcStat(pid);
    if (stat === null) continue;
    const memory = readSmapsRollup(pid);
    sample.processes++;
    sample.rssKb += memory.rssKb;
    sample.pssKb += memory.pssKb;
    sample.pssAnonKb += memory.pssAnonKb;
    sample.cpuTicksByPid.set(pid, stat.cpuTicks);
  }
  return sample;
}

/**
 * CPU ticks used between two samples: per pid present at the end, minus what it had at the
 * start (a process born in between counts from zero).
 */
export function cpuTicksBetween(start: TreeSample, end: TreeSample): number {
  let ticks = 0;
  for (const [pid, endTicks] of end.cpuTicksByPid) {
    ticks += endTicks - (start.cpuTicksByPid.get(pid) ?? 0);
  }
  return ticks;
}
