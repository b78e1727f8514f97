/**
 * Loads `@aws-sdk/client-s3` on first use (a process that replicates only to files never
 * pays for it) and builds a client with defaults that work on every S3-compatible store.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "../../log.ts";

export type S3Module = typeof import("@aws-sdk/client-s3");
export type LibStorageModule = typeof import("@aws-sdk/lib-storage");

export interface S3ClientConfig {
  endpoint?: string;
  region?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts: number;
  connectTimeoutMs: number;
  /** A socket idle this long (no byte either way) fails the request, and the SDK retries it. */
  requestTimeoutMs: number;
  maxSockets: number;
  /** Where the SDK's own warnings go (never straight to stderr). */
  logger: Logger;
  /** Called once per HTTP attempt with the command name (e.g. "PutObjectCommand"). */
  onRequest?: (commandName: string) => void;
}

export interface LoadedSdk {
  s3: S3Module;
  client: S3Client;
}

export async function loadS3Sdk(config: S3ClientConfig): Promise<LoadedSdk> {
  const s3 = await import("@aws-sdk/client-s3");
  const logger = sdkLogger(config.logger);
  const client = new s3.S3Client({
    logger,
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
      // Not `requestTimeout`: in this SDK it only prints a warning and lets a stalled request
      // hang for ever. An idle socket fails the attempt, and the SDK's retry takes over.
      socketTimeout: config.requestTimeoutMs,
      logger,
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

/** The SDK's logger interface (`@smithy/types` Logger). */
export interface SdkLogger {
  debug(...content: unknown[]): void;
  info(...content: unknown[]): void;
  warn(...content: unknown[]): void;
  error(...content: unknown[]): void;
}

/**
 * Routes the SDK's log calls through walsync's logger, so nothing reaches stderr outside
 * walsync's format. The SDK logs every command at info (and every failed one at error) as an
 * object: walsync reports failures itself, with context, so those go to debug. Text the SDK
 * writes (its warnings: sockets exhausted, odd responses) goes to warn or error.
 */
export function sdkLogger(logger: Logger): SdkLogger {
  const debugging = logger.level === "debug";
  const forward = (level: "debug" | "warn" | "error", content: unknown[]) => {
    const [first] = content;
    if (typeof first === "string") {
      logger[level]("S3 client: " + content.map(String).join(" ").replace(/\s+/g, " ").trim());
      return;
    }
    if (!debugging) return;
    const entry = first as { commandName?: string; metadata?: unknown; error?: unknown } | null;
    logger.debug("S3 client request", {
      command: entry?.commandName,
      metadata: entry?.metadata,
      error: entry?.error instanceof Error ? entry.error.message : undefined,
    });
  };
  return {
    debug: (...content) => forward("debug", content),
    info: (...content) => forward("debug", content),
    warn: (...content) => forward("warn", content),
    error: (...content) => forward("error", content),
  };
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
