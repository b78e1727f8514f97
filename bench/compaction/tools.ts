/** Helpers of the compaction benchmarks: running a tool timed, S3 env, counting a replica. */
import type { ReplicaClient } from "../../src/replica/replica_client.ts";
import type { S3TestServer } from "../../tests/support/s3_server.ts";

/** The environment a child gets: this process's, with S3 settings for `server` only. */
export function childEnv(server: S3TestServer): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (name.startsWith("AWS_") || name.startsWith("LITESTREAM_")) delete env[name];
  }
  return {
    ...env,
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
  };
}

/** Runs a command to its end; wall time in ms, exit code, and everything it printed. */
export async function timed(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ ms: number; code: number; output: string }> {
  const started = performance.now();
  const out = await new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const decoder = new TextDecoder();
  return { ms, code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/** "L0 10001, L1 12, L9 1": the files of each non-empty level. */
export async function countLevels(client: ReplicaClient, name: string): Promise<string> {
  const parts: string[] = [];
  for (let level = 0; level <= 9; level++) {
    const files = await client.listFiles(name, level);
    if (files.length > 0) parts.push(`L${level} ${files.length}`);
  }
  return parts.join(", ");
}
