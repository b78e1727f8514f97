/**
 * walsync and Litestream 0.5.17 side by side on one SeaweedFS, each behind its own counting
 * proxy (tests/support/s3_fault_proxy.ts in "forward" mode), so every request a tool makes is
 * seen and classified: the compaction benchmarks' storage and idle-cost figures.
 */
import { S3FaultProxy } from "../../tests/support/s3_fault_proxy.ts";
import type { ProxyLogEntry } from "../../tests/support/s3_fault_proxy.ts";
import type { BenchS3 } from "../bench_s3.ts";
import { litestreamBin, MOD_PATH, Proc } from "../harness.ts";
import { childEnv } from "./tools.ts";

export type Tool = "walsync" | "litestream";

/** Litestream 0.5 timers, all optional (its defaults otherwise). */
export interface Schedule {
  syncInterval: string;
  /** Compaction levels 1..N. */
  levels?: string[];
  snapshotInterval?: string;
  snapshotRetention?: string;
  l0Retention?: string;
  l0RetentionCheckInterval?: string;
}

export interface Peer {
  tool: Tool;
  proxy: S3FaultProxy;
  prefix: string;
  proc: Proc;
  stop(): Promise<void>;
}

/** Requests by kind, and bytes sent in PUT bodies. */
export interface RequestCounts {
  put: number;
  putBytes: number;
  get: number;
  head: number;
  list: number;
  delete: number;
  other: number;
  total: number;
}

export function classify(entries: ProxyLogEntry[]): RequestCounts {
  const c: RequestCounts = {
    put: 0,
    putBytes: 0,
    get: 0,
    head: 0,
    list: 0,
    delete: 0,
    other: 0,
    total: 0,
  };
  for (const e of entries) {
    c.total++;
    if (e.method === "PUT") {
      c.put++;
      c.putBytes += Number(e.headers.get("content-length") ?? 0);
    } else if (e.method === "GET" && e.query.has("list-type")) c.list++;
    else if (e.method === "GET") c.get++;
    else if (e.method === "HEAD") c.head++;
    else if (e.method === "DELETE" || (e.method === "POST" && e.query.has("delete"))) c.delete++;
    else c.other++;
  }
  return c;
}

/** Starts one tool over `dbPaths`, replicating below `prefix` through a fresh proxy. */
export function startPeer(
  s3: BenchS3,
  tool: Tool,
  dbPaths: string[],
  schedule: Schedule,
  options: { dir: string; walsyncFlags?: string[] },
): Peer {
  const proxy = S3FaultProxy.start(s3.server.endpoint);
  const prefix = `${tool}/${crypto.randomUUID()}`;
  const env = childEnv(s3.server);
  env.AWS_ENDPOINT_URL_S3 = proxy.endpoint;
  let proc: Proc;
  if (tool === "walsync") {
    proc = new Proc(Deno.execPath(), [
      "run",
      "-A",
      "--v8-flags=--max-semi-space-size=1",
      MOD_PATH,
      "watch",
      ...dbPaths,
      "-b",
      `s3://${s3.server.bucket}/${prefix}`,
      "--endpoint",
      proxy.endpoint,
      "--sync-interval",
      schedule.syncInterval,
      ...(schedule.snapshotInterval ? ["--snapshot-interval", schedule.snapshotInterval] : []),
      ...(options.walsyncFlags ?? []),
      "--log-format",
      "json",
    ], { env, clearEnv: true });
  } else {
    const lines = [
      ...(schedule.levels ? ["levels:", ...schedule.levels.map((i) => `  - interval: ${i}`)] : []),
      ...(schedule.snapshotInterval || schedule.snapshotRetention
        ? [
          "snapshot:",
          ...(schedule.snapshotInterval ? [`  interval: ${schedule.snapshotInterval}`] : []),
          ...(schedule.snapshotRetention ? [`  retention: ${schedule.snapshotRetention}`] : []),
        ]
        : []),
      ...(schedule.l0Retention ? [`l0-retention: ${schedule.l0Retention}`] : []),
      ...(schedule.l0RetentionCheckInterval
        ? [`l0-retention-check-interval: ${schedule.l0RetentionCheckInterval}`]
        : []),
      "dbs:",
    ];
    for (const path of dbPaths) {
      lines.push(
        `  - path: ${path}`,
        // Litestream looks at the WAL once per monitor interval (default 1 s): at most one
        // level-0 file per monitor interval, so it follows the sync interval here.
        `    monitor-interval: ${schedule.syncInterval}`,
        "    replica:",
        "      type: s3",
        `      bucket: ${s3.server.bucket}`,
        `      path: ${prefix}/${path.slice(path.lastIndexOf("/") + 1)}`,
        `      endpoint: ${proxy.endpoint}`,
        `      region: ${s3.server.region}`,
        "      force-path-style: true",
        `      sync-interval: ${schedule.syncInterval}`,
      );
    }
    const config = `${options.dir}/litestream-${crypto.randomUUID().slice(0, 8)}.yml`;
    Deno.writeTextFileSync(config, `${lines.join("\n")}\n`);
    proc = new Proc(litestreamBin(), ["replicate", "-config", config], { env, clearEnv: true });
  }
  return {
    tool,
    proxy,
    prefix,
    proc,
    async stop() {
      try {
        proc.child.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.done;
      proxy.close();
    },
  };
}

/** LTX objects and bytes stored below a prefix, and objects by level (`.../<level %04x>/<min>-<max>.ltx`). */
export async function stored(
  s3: BenchS3,
  prefix: string,
): Promise<{ objects: number; bytes: number; byLevel: Map<string, number> }> {
  const { ListObjectsV2Command } = await import("@aws-sdk/client-s3");
  let objects = 0;
  let bytes = 0;
  const byLevel = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: s3.server.bucket,
        Prefix: `${prefix}/`,
        ContinuationToken: token,
      }),
    );
    for (const o of page.Contents ?? []) {
      const level = /\/([0-9a-f]{4})\/[0-9a-f]{16}-[0-9a-f]{16}\.ltx$/.exec(o.Key ?? "")?.[1];
      if (level === undefined) continue;
      const name = `L${parseInt(level, 16)}`;
      byLevel.set(name, (byLevel.get(name) ?? 0) + 1);
      objects++;
      bytes += o.Size ?? 0;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { objects, bytes, byLevel };
}
