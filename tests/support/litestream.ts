/**
 * Real Litestream 0.5.x binaries as test peers: find one of a given version, run
 * `litestream replicate` with a file replica, run `litestream restore`, and read the TXIDs a
 * replica directory holds.
 *
 * Binaries are looked up in WALSYNC_LITESTREAM (one path, or several separated by ":", e.g.
 * `WALSYNC_LITESTREAM=/opt/ls-0.5.17/litestream:/opt/ls-0.5.15/litestream`), then as
 * `litestream-<version>` and `litestream` on PATH. Each candidate is asked `litestream version`
 * and used only for the version it reports.
 */
import { formatTxid, parseLtxFilename } from "../../src/ltx/ltx_header.ts";

const versionByBinary = new Map<string, string | null>();

/** Path of a Litestream binary reporting exactly `version` (e.g. "0.5.17"), or null. */
export function findLitestream(version: string): string | null {
  const fromEnv = (Deno.env.get("WALSYNC_LITESTREAM") ?? "").split(":").filter((p) => p !== "");
  const fromPath = [`litestream-${version}`, "litestream"].flatMap((name) => onPath(name));
  for (const candidate of [...fromEnv, ...fromPath]) {
    if (binaryVersion(candidate) === version) return candidate;
  }
  return null;
}

function onPath(name: string): string[] {
  return (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "").map((dir) =>
    `${dir}/${name}`
  ).filter((path) => {
    try {
      const info = Deno.statSync(path);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

function binaryVersion(binary: string): string | null {
  if (!versionByBinary.has(binary)) {
    let version: string | null = null;
    try {
      const out = new Deno.Command(binary, { args: ["version"], stdout: "piped", stderr: "null" })
        .outputSync();
      if (out.success) version = new TextDecoder().decode(out.stdout).trim().replace(/^v/, "");
    } catch { /* not runnable: not a candidate */ }
    versionByBinary.set(binary, version);
  }
  return versionByBinary.get(binary)!;
}

export interface LitestreamReplicateOptions {
  /** The database to replicate (absolute). */
  dbPath: string;
  /** The file replica's directory (absolute): Litestream writes `<replicaPath>/ltx/<level>/`. */
  replicaPath: string;
  /** Where to write the YAML config. */
  configPath: string;
  /** Level-1 compaction interval, e.g. "1s" (Litestream's default is 30s). */
  l1Interval?: string;
}

/** `litestream replicate` as a child process, stopped with SIGTERM like a service manager does. */
export class LitestreamProcess {
  #child: Deno.ChildProcess;
  #output = "";
  #drained: Promise<void>;

  constructor(binary: string, options: LitestreamReplicateOptions) {
    const config = [
      ...(options.l1Interval ? ["levels:", `  - interval: ${options.l1Interval}`] : []),
      "dbs:",
      `  - path: ${options.dbPath}`,
      "    monitor-interval: 50ms",
      "    replica:",
      "      type: file",
      `      path: ${options.replicaPath}`,
      "      sync-interval: 100ms",
      "",
    ].join("\n");
    Deno.writeTextFileSync(options.configPath, config);
    const child = new Deno.Command(binary, {
      args: ["replicate", "-config", options.configPath],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this.#output += chunk;
    };
    this.#drained = Promise.all([collect(child.stdout), collect(child.stderr)]).then(() => {});
  }

  /** Everything Litestream printed so far (its log goes to stdout or stderr by version). */
  get output(): string {
    return this.#output;
  }

  /** SIGTERM, then waits: returns the exit code and everything Litestream printed. */
  stop(): Promise<{ code: number; output: string }> {
    return this.#end("SIGTERM");
  }

  /** SIGKILL, for cleanup after a failure; harmless once the process has ended. */
  async kill(): Promise<void> {
    await this.#end("SIGKILL");
  }

  async #end(signal: Deno.Signal): Promise<{ code: number; output: string }> {
    try {
      this.#child.kill(signal);
    } catch { /* already gone */ }
    const { code } = await this.#child.status;
    await this.#drained;
    return { code, output: this.#output };
  }
}

/** `litestream restore -o OUTPUT [-txid HEX] file://REPLICA`; throws with Litestream's output. */
export async function litestreamRestore(
  binary: string,
  replicaPath: string,
  options: { output: string; txid?: number },
): Promise<void> {
  const args = ["restore", "-o", options.output];
  if (options.txid !== undefined) args.push("-txid", formatTxid(options.txid));
  args.push(`file://${replicaPath}`);
  const out = await new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const decoder = new TextDecoder();
    throw new Error(
      `litestream ${args.join(" ")} exited ${out.code}:\n${decoder.decode(out.stdout)}${
        decoder.decode(out.stderr)
      }`,
    );
  }
}

export interface TxidRange {
  minTxid: number;
  maxTxid: number;
}

/** The LTX files of one level in a Litestream-layout directory (`<path>/ltx/<level>/`). */
export function replicaFiles(replicaPath: string, level: number): TxidRange[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`${replicaPath}/ltx/${level}`)];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return entries.flatMap((entry) => {
    const range = entry.isFile ? parseLtxFilename(entry.name) : null;
    return range ? [range] : [];
  }).sort((a, b) => a.minTxid - b.minTxid || a.maxTxid - b.maxTxid);
}

/** The highest TXID in a replica directory's level 0 (0 when empty). */
export function replicaMaxTxid(replicaPath: string): number {
  return replicaFiles(replicaPath, 0).reduce((max, f) => Math.max(max, f.maxTxid), 0);
}

/**
 * Polls `condition` until it holds. The deadline only turns a hang into a failure naming what
 * was awaited; it is not a performance assertion.
 */
export async function waitFor(
  what: string,
  condition: () => boolean,
  describe: () => string = () => "",
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}\n${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
