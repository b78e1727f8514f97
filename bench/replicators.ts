/**
 * The three replicators as the comparison benchmarks run them: walsync (`watch`), Litestream
 * 0.5.17 and Litestream 0.3.13 (`replicate -config`), each as one process over a list of
 * databases, to a file or S3 replica, with the fd soft limit raised as far as the hard limit
 * allows, and each tool's own `restore` for the loss checks.
 *
 * Replica layout, the same for every tool so that one census reads them all: below the run's
 * replica root, each database's files start with a directory named after it. Litestream is
 * given `<root>/<name>` per database; walsync is given `<root>` (one process for all) or
 * `<root>/<name>` (one process per database, which then writes `<root>/<name>/<name>/…`).
 */
import { type BenchS3 } from "./bench_s3.ts";
import { MOD_PATH, Proc } from "./harness.ts";

export type ToolId = "walsync" | "litestream-0.5.17" | "litestream-0.3.13";

export const TOOL_LABELS: Record<ToolId, string> = {
  walsync: "walsync",
  "litestream-0.5.17": "Litestream 0.5.17",
  "litestream-0.3.13": "Litestream 0.3.13",
};

/** Where a run's replicas go: a directory, or a prefix in the bench's S3 bucket. */
export type ReplicaRoot =
  | { kind: "file"; dir: string }
  | {
    kind: "s3";
    s3: BenchS3;
    prefix: string;
    /** The endpoint the tool talks to (a fault proxy), if not the server's own. */
    endpoint?: string;
  };

export interface Database {
  path: string;
  /** The file name: the database's directory below the replica root. */
  name: string;
}

export interface LaunchOptions {
  tool: ToolId;
  /**
   * The command that runs the tool: `[litestream]`, `[deno, "run", "-A", mod.ts]` or
   * `[walsync]` (a compiled binary).
   */
  command: string[];
  databases: Database[];
  /** The replica root of this process (for walsync per database: `<root>/<name>`). */
  root: ReplicaRoot;
  /** Where the Litestream config goes. */
  configDir: string;
  syncIntervalSeconds: number;
  /** The soft fd limit the process starts with (`ulimit -Sn`). */
  fdLimit: number;
}

/** A started replicator process and what is needed to ask it or restore from it. */
export interface Launched {
  tool: ToolId;
  proc: Proc;
  databases: Database[];
  root: ReplicaRoot;
  /** Databases the process says it replicates (walsync: the count its "watching" line gives). */
  readyCount(): number;
  /** True once the process has said it is done starting (walsync: "watching"). */
  started(): boolean;
  restore(database: Database, output: string): Promise<void>;
}

/** The walsync command from this checkout: `deno run -A mod.ts` with the given Deno. */
export function walsyncCommand(deno: string, options: { plainV8?: boolean } = {}): string[] {
  // As `deno task walsync` and the compiled binary run it (see the README's "Memory").
  const v8 = options.plainV8 ? [] : [`--v8-flags=${WALSYNC_V8_FLAGS}`];
  return [deno, "run", "-A", ...v8, MOD_PATH];
}

/** The V8 flags walsync ships with (deno.json's walsync and compile tasks). */
export const WALSYNC_V8_FLAGS = "--max-semi-space-size=1";

/** The replica root one level down (walsync's per-database runs). */
export function subRoot(root: ReplicaRoot, name: string): ReplicaRoot {
  return root.kind === "file"
    ? { kind: "file", dir: `${root.dir}/${name}` }
    : { ...root, prefix: `${root.prefix}/${name}` };
}

function s3Endpoint(root: ReplicaRoot & { kind: "s3" }): string {
  return root.endpoint ?? root.s3.server.endpoint;
}

function walsyncUrl(root: ReplicaRoot): string {
  return root.kind === "file"
    ? `file://${root.dir}`
    : `s3://${root.s3.server.bucket}/${root.prefix}`;
}

/** The environment of a tool: credentials for S3, and no AWS_CA_BUNDLE for Litestream 0.5. */
function toolEnv(tool: ToolId, root: ReplicaRoot): { env: Record<string, string>; clear: boolean } {
  const env = Deno.env.toObject();
  if (root.kind === "s3") {
    env.AWS_ACCESS_KEY_ID = root.s3.server.credentials.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = root.s3.server.credentials.secretAccessKey;
    env.AWS_REGION = root.s3.server.region;
    env.AWS_EC2_METADATA_DISABLED = "true";
  }
  // Litestream 0.5.17 refuses S3 while it is set ("unable to add custom RootCAs HTTPClient").
  if (tool === "litestream-0.5.17") delete env.AWS_CA_BUNDLE;
  return { env, clear: true };
}

/** Litestream's YAML: 0.5 has one `replica:` per database, 0.3 a `replicas:` list. */
export function litestreamConfig(
  tool: ToolId,
  databases: Database[],
  root: ReplicaRoot,
  syncIntervalSeconds: number,
): string {
  const v3 = tool === "litestream-0.3.13";
  const lines = ["dbs:"];
  const pad = v3 ? "        " : "      ";
  for (const database of databases) {
    lines.push(`  - path: ${database.path}`);
    lines.push(v3 ? "    replicas:" : "    replica:");
    if (root.kind === "file") {
      lines.push(`${v3 ? "      - " : pad}type: file`, `${pad}path: ${root.dir}/${database.name}`);
    } else {
      lines.push(
        `${v3 ? "      - " : pad}type: s3`,
        `${pad}bucket: ${root.s3.server.bucket}`,
        `${pad}path: ${root.prefix}/${database.name}`,
        `${pad}endpoint: ${s3Endpoint(root)}`,
        `${pad}region: ${root.s3.server.region}`,
        `${pad}force-path-style: true`,
      );
    }
    lines.push(`${pad}sync-interval: ${syncIntervalSeconds}s`);
  }
  return `${lines.join("\n")}\n`;
}

/** Starts one replicator process over `databases` (returns at once; poll `readyCount`). */
export function launch(options: LaunchOptions): Launched {
  const { tool, command, databases, root } = options;
  const { env, clear } = toolEnv(tool, root);
  let args: string[];
  let configPath = "";
  if (tool === "walsync") {
    args = [
      ...command.slice(1),
      "watch",
      ...databases.map((d) => d.path),
      "-b",
      walsyncUrl(root),
      ...(root.kind === "s3" ? ["--endpoint", s3Endpoint(root)] : []),
      "--sync-interval",
      `${options.syncIntervalSeconds}s`,
      "--log-format",
      "json",
    ];
  } else {
    configPath = `${options.configDir}/${tool}-${crypto.randomUUID().slice(0, 8)}.yml`;
    Deno.writeTextFileSync(
      configPath,
      litestreamConfig(tool, databases, root, options.syncIntervalSeconds),
    );
    args = [...command.slice(1), "replicate", "-config", configPath];
  }
  // sh sets the soft limit and execs, so the tool keeps sh's pid and nothing stays between.
  const proc = new Proc(
    "sh",
    [
      "-c",
      'ulimit -Sn "$1" && shift && exec "$@"',
      "sh",
      String(options.fdLimit),
      command[0],
      ...args,
    ],
    { env, clearEnv: clear },
  );
  const startup = new StartupLog(tool, databases.length);
  let scanned = 0;
  const readyCount = () => {
    for (; scanned < proc.lines.length; scanned++) startup.read(proc.lines[scanned]);
    return startup.ready;
  };
  const restore = async (database: Database, output: string) => {
    const restoreArgs = tool === "walsync"
      ? [
        ...command.slice(1),
        "restore",
        database.name,
        "-o",
        output,
        "-b",
        walsyncUrl(root),
        ...(root.kind === "s3" ? ["--endpoint", root.s3.server.endpoint] : []),
      ]
      : [...command.slice(1), "restore", "-config", configPath, "-o", output, database.path];
    const out = await new Deno.Command(command[0], {
      args: restoreArgs,
      env,
      clearEnv: clear,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const decoder = new TextDecoder();
      const text = `${decoder.decode(out.stdout)}${decoder.decode(out.stderr)}`.trim();
      throw new Error(
        `${TOOL_LABELS[tool]} restore of "${database.name}" exited ${out.code}: ${
          text.split("\n").slice(-3).join(" / ")
        }`,
      );
    }
  };
  const started = () => {
    readyCount();
    return startup.started;
  };
  return { tool, proc, databases, root, readyCount, started, restore };
}

/**
 * What a tool's start-up log says: how many databases it replicates, and whether it is done
 * starting. Litestream logs "replicating to" per database. walsync logs "watching" once, after
 * it tried every database, with the number it could open (those that failed are retried and
 * logged at error level, so "watching" alone does not mean all of them).
 */
export class StartupLog {
  #tool: ToolId;
  #databaseCount: number;
  ready = 0;
  #watching = false;

  constructor(tool: ToolId, databaseCount: number) {
    this.#tool = tool;
    this.#databaseCount = databaseCount;
  }

  read(line: string): void {
    if (this.#tool !== "walsync") {
      if (line.includes('msg="replicating to"')) this.ready++;
    } else if (line.includes('"msg":"watching"')) {
      this.ready = Number((JSON.parse(line) as { databases?: number }).databases ?? 0);
      this.#watching = true;
    }
  }

  get started(): boolean {
    return this.#tool === "walsync" ? this.#watching : this.ready >= this.#databaseCount;
  }
}

/** Error and warning lines a tool logged, and the first few distinct error messages. */
export function logProblems(
  tool: ToolId,
  lines: string[],
): { errors: number; warnings: number; examples: string[]; tooManyOpenFiles: number } {
  let errors = 0;
  let warnings = 0;
  let tooManyOpenFiles = 0;
  const examples = new Set<string>();
  for (const line of lines) {
    if (/too many open files|EMFILE/i.test(line)) tooManyOpenFiles++;
    const level = tool === "walsync"
      ? /"level":"(\w+)"/.exec(line)?.[1]
      : /level=(\w+)/.exec(line)?.[1]?.toLowerCase();
    if (level === "warn" || level === "warning") warnings++;
    else if (level === "error" || level === "fatal" || /panic|fatal error/i.test(line)) {
      errors++;
      if (examples.size < 3) {
        const message = tool === "walsync"
          ? /"msg":"([^"]*)"/.exec(line)?.[1] ?? line
          : /msg="?([^"]*)"?/.exec(line)?.[1] ?? line;
        examples.add(message.slice(0, 160));
      }
    }
  }
  return { errors, warnings, examples: [...examples], tooManyOpenFiles };
}
