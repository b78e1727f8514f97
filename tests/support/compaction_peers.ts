/**
 * Helpers of the compaction round trips with Litestream: one replica seen by both tools (a
 * file replica or an S3 prefix), Litestream run with short compaction levels and retention,
 * a writer whose every transaction is recorded by the TXID that ships it, and restores by
 * either tool checked against those recorded states.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { formatLtxFilename, formatTxid } from "../../src/ltx/ltx_header.ts";
import { FileReplicaClient } from "../../src/replica/file/file_replica_client.ts";
import type { LtxFileInfo, ReplicaClient } from "../../src/replica/replica_client.ts";
import { S3ReplicaClient } from "../../src/replica/s3/s3_replica_client.ts";
import { listAllFiles, restore } from "../../src/restore/apply.ts";
import { waitFor } from "./litestream.ts";
import type { S3TestServer } from "./s3_server.ts";
import { dumpDatabase, integrityCheck } from "./sqlite.ts";

export const MOD = new URL("../../mod.ts", import.meta.url).pathname;
export type Dump = Record<string, unknown[]>;

/** One database's replica, addressed the way each tool addresses it. */
export interface PeerReplica {
  label: string;
  client: ReplicaClient;
  /** walsync's database name under `-b walsyncUrl`. */
  name: string;
  walsyncUrl: string;
  /** `litestream restore` URL. */
  litestreamUrl: string;
  /** The `replica:` block of a Litestream config, indented for a `dbs:` entry. */
  litestreamYaml: string[];
  /** Environment of every child process (S3 credentials, nothing of the developer's). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export function fileReplica(dir: string): PeerReplica {
  const root = `${dir}/replica`;
  return {
    label: "file",
    client: new FileReplicaClient(root),
    name: "app.db",
    walsyncUrl: `file://${root}`,
    litestreamUrl: `file://${root}/app.db`,
    litestreamYaml: ["    replica:", "      type: file", `      path: ${root}/app.db`],
    env: Deno.env.toObject(),
    close: () => Promise.resolve(),
  };
}

export function s3Replica(server: S3TestServer): PeerReplica {
  const prefix = `compaction/${crypto.randomUUID()}`;
  const env = Deno.env.toObject();
  for (const key of Object.keys(env)) {
    if (key.startsWith("AWS_") || key.startsWith("LITESTREAM_")) delete env[key];
  }
  const client = new S3ReplicaClient({
    bucket: server.bucket,
    prefix,
    endpoint: server.endpoint,
    region: server.region,
    credentials: server.credentials,
    env: () => undefined,
  });
  return {
    label: server.label,
    client,
    name: "app.db",
    walsyncUrl: `s3://${server.bucket}/${prefix}`,
    litestreamUrl: `s3://${server.bucket}/${prefix}/app.db?endpoint=${
      encodeURIComponent(server.endpoint)
    }&forcePathStyle=true`,
    litestreamYaml: [
      "    replica:",
      "      type: s3",
      `      bucket: ${server.bucket}`,
      `      path: ${prefix}/app.db`,
      `      endpoint: ${server.endpoint}`,
      `      region: ${server.region}`,
      "      force-path-style: true",
    ],
    env: {
      ...env,
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    },
    async close() {
      await client.deleteAll();
      await client.close();
    },
  };
}

/**
 * `litestream replicate` with compaction every 1 s into level 1 and 2 s into level 2,
 * snapshots every 3 s (kept an hour), and level-0 files deleted 1 s after level 1 covers them.
 */
export class CompactingLitestream {
  #child: Deno.ChildProcess;
  #output = "";
  #drained: Promise<void>;

  constructor(binary: string, dbPath: string, replica: PeerReplica, configPath: string) {
    const config = [
      "levels:",
      "  - interval: 1s",
      "  - interval: 2s",
      "snapshot:",
      "  interval: 3s",
      "  retention: 1h",
      "l0-retention: 1s",
      "l0-retention-check-interval: 500ms",
      "dbs:",
      `  - path: ${dbPath}`,
      "    monitor-interval: 50ms",
      ...replica.litestreamYaml,
      "      sync-interval: 100ms",
      "",
    ].join("\n");
    Deno.writeTextFileSync(configPath, config);
    const child = new Deno.Command(binary, {
      args: ["replicate", "-config", configPath],
      env: replica.env,
      clearEnv: true,
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

  get output(): string {
    return this.#output;
  }

  async stop(signal: Deno.Signal = "SIGTERM"): Promise<string> {
    try {
      this.#child.kill(signal);
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#drained;
    return this.#output;
  }
}

/** The highest TXID at any level (0 when empty). */
export async function maxTxid(replica: PeerReplica): Promise<number> {
  return (await listAllFiles(replica.client, replica.name)).reduce(
    (max, f) => Math.max(max, f.maxTxid),
    0,
  );
}

/** Every file of every level, one per line: for failure messages. */
export async function describe(replica: PeerReplica): Promise<string> {
  const files = await listAllFiles(replica.client, replica.name);
  return `${replica.label} replica:\n${
    files.map((f) =>
      `  L${f.level} ${formatLtxFilename(f.minTxid, f.maxTxid)} ${f.createdAt.toISOString()}`
    ).join("\n")
  }`;
}

/** Polls an async condition (a hang detector, not a timing assertion). */
export async function waitForAsync(
  what: string,
  condition: () => Promise<boolean>,
  explain: () => Promise<string>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}\n${await explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The application's state by the TXID that first holds it. */
export type States = Map<number, Dump>;

/**
 * Runs each SQL statement as one transaction and waits until the replicator shipped it as a
 * new TXID, so each recorded state is exactly the database at that TXID.
 */
export async function writeAndRecord(
  db: DatabaseSync,
  replica: PeerReplica,
  states: States,
  statements: string[],
  output: () => string,
): Promise<void> {
  for (const sql of statements) {
    const before = await maxTxid(replica);
    db.exec(sql);
    const dump = dumpDatabase(db);
    let now = before;
    await waitForAsync(
      `a TXID after ${before} holding ${sql.slice(0, 60)}`,
      async () => (now = await maxTxid(replica)) > before,
      async () => `${output()}\n${await describe(replica)}`,
    );
    states.set(now, dump);
  }
}

/** Statements adding, changing and deleting rows; `n` of them, each distinct. */
export function statements(from: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    if (k % 5 === 4) return `DELETE FROM t WHERE id = ${k - 2}`;
    if (k % 5 === 3) return `UPDATE t SET body = 'edited ${k}' || body WHERE id = ${k - 1}`;
    return `INSERT INTO t (id, body) VALUES (${k}, printf('%.*c', ${200 + k * 37}, 'x'))`;
  });
}

export function restoredDump(path: string): Dump {
  const db = new DatabaseSync(path);
  try {
    assert.equal(integrityCheck(db), "ok", path);
    return dumpDatabase(db);
  } finally {
    db.close();
  }
}

export async function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/** `walsync restore` (the CLI) of `replica` into `output`; returns the TXID it reports. */
export async function walsyncRestore(
  replica: PeerReplica,
  output: string,
  target: { txid?: number; timestamp?: Date } = {},
): Promise<{ code: number; output: string; txid: number | null }> {
  const args = ["run", "-A", MOD, "restore", replica.name, "-o", output, "-b", replica.walsyncUrl];
  if (target.txid !== undefined) args.push("--txid", String(target.txid));
  if (target.timestamp) args.push("--timestamp", target.timestamp.toISOString());
  const result = await run(Deno.execPath(), args, replica.env);
  const match = /TXID (\d+)/.exec(result.output);
  return { ...result, txid: match ? Number(match[1]) : null };
}

/** walsync's library restore (no process start-up): the TXID restored, or the error's message. */
export async function walsyncRestoreLib(
  replica: PeerReplica,
  output: string,
  target: { txid?: number; timestamp?: Date } = {},
): Promise<{ txid: number } | { error: string }> {
  try {
    const result = await restore({
      client: replica.client,
      name: replica.name,
      output,
      target: target.txid !== undefined
        ? { kind: "txid", txid: target.txid }
        : target.timestamp
        ? { kind: "timestamp", at: target.timestamp }
        : { kind: "latest" },
      integrityCheck: "full",
    });
    return { txid: result.txid };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

export async function litestreamRestore(
  binary: string,
  replica: PeerReplica,
  output: string,
  target: { txid?: number } = {},
): Promise<{ code: number; output: string }> {
  const args = ["restore", "-o", output];
  if (target.txid !== undefined) args.push("-txid", formatTxid(target.txid));
  args.push(replica.litestreamUrl);
  return await run(binary, args, replica.env);
}

/** TXIDs a chain can end at: the MaxTXIDs of the files below level 9 and of snapshots. */
export function endpoints(files: LtxFileInfo[]): Set<number> {
  return new Set(files.map((f) => f.maxTxid));
}

/** Waits for a condition on the replica's listing (all levels). */
export function waitForFiles(
  replica: PeerReplica,
  what: string,
  condition: (files: LtxFileInfo[]) => boolean,
  output: () => string,
): Promise<void> {
  return waitForAsync(
    what,
    async () => condition(await listAllFiles(replica.client, replica.name)),
    async () => `${output()}\n${await describe(replica)}`,
  );
}

export { waitFor };
