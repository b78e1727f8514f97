/** Turns a replica URL from the command line or config into a client. */
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { FileReplicaClient } from "./file/file_replica_client.ts";
import type { ReplicaClient } from "./replica_client.ts";
import { parseS3Url } from "./s3/s3_layout.ts";

/** S3 settings given apart from the URL (flags or `[s3]` in walsync.toml). */
export interface ReplicaOverrides {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** e.g. "STANDARD_IA"; default the bucket's. */
  storageClass?: string;
  /** SSE-KMS key id or ARN. */
  sseKmsKeyId?: string;
  /** The command's logger (the S3 SDK's warnings go through it). */
  logger?: Logger;
}

/**
 * `file:///abs/dir` (or a plain directory path) → the file backend; `s3://bucket/prefix`
 * (optionally `?endpoint=…&region=…&force-path-style=…`) → the S3 backend, whose SDK loads
 * on its first request. Endpoint, region and credentials otherwise come the standard AWS
 * way (`AWS_ENDPOINT_URL_S3`, `AWS_REGION`, the SDK's credential chain). The S3 modules load
 * only for an s3:// URL: a file replica never pays for them (or for `node:stream`).
 */
export async function openReplicaUrl(
  url: string,
  overrides: ReplicaOverrides = {},
): Promise<ReplicaClient> {
  if (/^s3:\/\//i.test(url)) {
    const options = { ...parseS3Url(url) };
    // Explicit settings (--endpoint, [s3] endpoint/region/force_path_style) beat the URL's.
    if (overrides.endpoint !== undefined) options.endpoint = overrides.endpoint;
    if (overrides.region !== undefined) options.region = overrides.region;
    if (overrides.forcePathStyle !== undefined) options.forcePathStyle = overrides.forcePathStyle;
    const { S3ReplicaClient } = await import("./s3/s3_replica_client.ts");
    return new S3ReplicaClient({
      ...options,
      storageClass: overrides.storageClass,
      sseKmsKeyId: overrides.sseKmsKeyId,
      logger: overrides.logger,
    });
  }
  if (url.startsWith("file://")) {
    let path: string;
    try {
      path = decodeURIComponent(new URL(url).pathname);
    } catch {
      throw new UsageError(
        `Replica URL "${url}" is not a valid file:// URL; use e.g. file:///var/backups/walsync`,
      );
    }
    if (url.startsWith("file://") && !url.startsWith("file:///")) {
      throw new UsageError(
        `Replica URL "${url}" needs an absolute path: file:///dir (three slashes)`,
      );
    }
    return new FileReplicaClient(path);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const scheme = url.slice(0, url.indexOf(":"));
    throw new UsageError(
      `Replica URL scheme "${scheme}" in "${url}" is not supported; use file:///dir or s3://bucket/prefix`,
    );
  }
  if (url.trim() === "") {
    throw new UsageError("Replica URL is empty; use file:///dir or s3://bucket/prefix");
  }
  return new FileReplicaClient(absolutePath(url));
}

function absolutePath(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}
