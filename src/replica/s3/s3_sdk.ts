/**
 * Loads `@aws-sdk/client-s3` on first use (a process that replicates only to files never
 * pays for it) and builds a client with defaults that work on every S3-compatible store.
 */
import type { S3Client } from "@aws-sdk/client-s3";

export type S3Module = typeof import("@aws-sdk/client-s3");
export type LibStorageModule = typeof import("@aws-sdk/lib-storage");

export interface S3ClientConfig {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxSockets: number;
  /** Called once per HTTP attempt with the command name (e.g. "PutObjectCommand"). */
  onRequest?: (commandName: string) => void;
}

export interface LoadedSdk {
  s3: S3Module;
  client: S3Client;
}

export async function loadS3Sdk(config: S3ClientConfig): Promise<LoadedSdk> {
  const s3 = await import("@aws-sdk/client-s3");
  const client = new s3.S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials: config.credentials,
    // Without these, SDK ≥ 3.729 sends aws-chunked bodies with CRC32 trailers, which many
    // S3-compatible servers reject or store verbatim inside the object.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // The SDK's standard retry strategy: exponential backoff with full jitter on 5xx,
    // throttling (503 SlowDown) and network errors; 4xx such as 403 are not retried.
    maxAttempts: config.maxAttempts,
    // Only AWS itself redirects to a bucket's real region; custom endpoints never do.
    followRegionRedirects: config.endpoint === undefined,
    requestHandler: {
      connectionTimeout: config.connectTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      httpAgent: { keepAlive: true, maxSockets: config.maxSockets },
      httpsAgent: { keepAlive: true, maxSockets: config.maxSockets },
    },
  });
  client.middlewareStack.add(contentMd5Middleware(), {
    step: "build",
    name: "walsyncDeleteObjectsContentMd5",
    priority: "low",
  });
  if (config.onRequest) {
    const onRequest = config.onRequest;
    client.middlewareStack.add(
      (next, context) => (args) => {
        onRequest(context.commandName ?? "unknown");
        return next(args);
      },
      // Inside the retry middleware, so every attempt counts.
      { step: "finalizeRequest", name: "walsyncRequestCounter", priority: "low" },
    );
  }
  return { s3, client };
}

export async function loadLibStorage(): Promise<LibStorageModule> {
  return await import("@aws-sdk/lib-storage");
}

/**
 * DeleteObjects must carry an integrity header. With checksums "WHEN_REQUIRED" the SDK sends
 * only x-amz-checksum-crc32, which stores predating flexible checksums (older MinIO, Swift's
 * s3api, some hosted providers) reject: they want Content-MD5, so send both.
 */
// deno-lint-ignore no-explicit-any
function contentMd5Middleware(): any {
  // deno-lint-ignore no-explicit-any
  return (next: (args: any) => Promise<unknown>, context: { commandName?: string }) =>
  // deno-lint-ignore no-explicit-any
  async (args: any) => {
    const request = args.request as
      | { headers?: Record<string, string>; body?: unknown }
      | undefined;
    if (context.commandName === "DeleteObjectsCommand" && request?.headers) {
      const body = request.body;
      const bytes = typeof body === "string"
        ? new TextEncoder().encode(body)
        : body instanceof Uint8Array
        ? body
        : null;
      if (bytes && !hasHeader(request.headers, "content-md5")) {
        const { createHash } = await import("node:crypto");
        request.headers["content-md5"] = createHash("md5").update(bytes).digest("base64");
      }
    }
    return next(args);
  };
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}
