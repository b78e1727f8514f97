/**
 * Replica URLs: the one parser for `-b URL` and walsync.toml's `[s3] bucket`, and opening the
 * client a parsed URL names. Only `s3://bucket/prefix`, `file:///dir` and paths starting with
 * `/`, `./` or `../` are replica URLs: anything else is a usage error with a suggestion, never a
 * directory nobody asked for (`-b s3:/bucket` once wrote to `./s3:/bucket/`).
 */
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { FileReplicaClient } from "./file/file_replica_client.ts";
import type { ReplicaClient } from "./replica_client.ts";
import { parseS3Url, type S3UrlOptions } from "./s3/s3_layout.ts";

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

/** A parsed replica URL. `url` is canonical: parsing it again gives the same replica. */
export type ReplicaUrl =
  | { kind: "s3"; url: string; s3: S3UrlOptions }
  | { kind: "file"; url: string; root: string };

export interface ParseReplicaUrlOptions {
  /** Where `./dir` and `../dir` start: the working directory, or the config file's directory. */
  baseDir: string;
  /**
   * `[s3] bucket = "name"` means `s3://name`: in an S3 section a bare name is unambiguous. On
   * the command line `-b name` could be a bucket or a directory, so it is refused with both.
   */
  bareBucket?: boolean;
}

/** The accepted forms, as every message about a bad replica URL ends. */
export const REPLICA_URL_FORMS = "s3://bucket/prefix, file:///dir, or a path starting with / or ./";

/** A bucket name walsync takes without `s3://` (lower case, as S3 requires of new buckets). */
const BARE_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses a replica URL; a `UsageError` says what is wrong and what was probably meant. */
export function parseReplicaUrl(value: string, options: ParseReplicaUrlOptions): ReplicaUrl {
  if (value.trim() === "") throw new UsageError(`Replica URL is empty; use ${REPLICA_URL_FORMS}`);
  if (/^s3:\/\/(?:[?#]|$)/i.test(value)) {
    throw new UsageError(`Replica URL "${value}" has no bucket name; use ${REPLICA_URL_FORMS}`);
  }
  if (/^s3:\/\/(?!\/)/i.test(value)) return { kind: "s3", url: value, s3: parseS3Url(value) };
  if (/^file:\/\/\//i.test(value)) return fileReplicaUrl(filePathOf(value));
  if (value.startsWith("/")) return fileReplicaUrl(normalizePath(value));
  if (/^\.\.?(\/|$)/.test(value)) {
    return fileReplicaUrl(normalizePath(`${options.baseDir}/${value}`));
  }
  if (options.bareBucket && BARE_BUCKET.test(value)) {
    const url = `s3://${value}`;
    return { kind: "s3", url, s3: parseS3Url(url) };
  }
  throw invalidReplicaUrl(value);
}

/** The error for a string that is none of the accepted forms, with what it probably meant. */
function invalidReplicaUrl(value: string): UsageError {
  const not = `Replica URL "${value}" is not valid`;
  const s3 = /^s3(?::\/*|\/+)(.*)$/is.exec(value);
  const file = /^file(?::\/*|\/+)(.*)$/is.exec(value);
  let suggestions: string[];
  if (s3) {
    suggestions = [`s3://${s3[1]}`];
  } else if (file) {
    suggestions = [`file:///${file[1]}`];
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(value)) {
    const scheme = value.slice(0, value.indexOf(":"));
    return new UsageError(
      `${not}: scheme "${scheme}" is not supported; use ${REPLICA_URL_FORMS}`,
    );
  } else if (value.startsWith("~")) {
    return new UsageError(
      `${not}: "~" is a shell feature and is not expanded here; use ${REPLICA_URL_FORMS}`,
    );
  } else {
    const slash = value.indexOf("/");
    const first = slash < 0 ? value : value.slice(0, slash);
    suggestions = BARE_BUCKET.test(first) ? [`s3://${value}`, `./${value}`] : [`./${value}`];
  }
  const meant = suggestions.map((s) => `"${s}"`).join(" or ");
  return new UsageError(`${not}; did you mean ${meant}? Use ${REPLICA_URL_FORMS}`);
}

function filePathOf(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new UsageError(`Replica URL "${value}" is not valid; use ${REPLICA_URL_FORMS}`, {
      cause: error,
    });
  }
  if (url.search !== "" || url.hash !== "") {
    throw new UsageError(
      `Replica URL "${value}" is not valid: a file:// URL takes no ?query or #fragment; use ${REPLICA_URL_FORMS}`,
    );
  }
  try {
    return normalizePath(decodeURIComponent(url.pathname));
  } catch (error) {
    throw new UsageError(`Replica URL "${value}" has a bad %-escape; use ${REPLICA_URL_FORMS}`, {
      cause: error,
    });
  }
}

function fileReplicaUrl(root: string): ReplicaUrl {
  // Escaped so that the canonical URL parses back to the same directory.
  return { kind: "file", url: `file://${root.replace(/[%?#]/g, encodeURIComponent)}`, root };
}

/** An absolute path with empty and `.` segments dropped and `..` applied. */
function normalizePath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join("/")}`;
}

/**
 * Opens the replica a parsed URL names. For `s3://`, endpoint, region and credentials come from
 * `overrides`, then the URL's query, then the standard AWS way (`AWS_ENDPOINT_URL_S3`,
 * `AWS_REGION`, the SDK's credential chain). The S3 modules load only for an s3:// URL: a file
 * replica never pays for them (or for `node:stream`).
 */
export async function openReplica(
  replica: ReplicaUrl,
  overrides: ReplicaOverrides = {},
): Promise<ReplicaClient> {
  if (replica.kind === "file") {
    if (overrides.endpoint !== undefined) {
      throw new UsageError(
        `Endpoint "${overrides.endpoint}" applies to s3:// replicas only, not to "${replica.url}"`,
      );
    }
    return new FileReplicaClient(replica.root);
  }
  const options = { ...replica.s3 };
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

/** Parses `url` (relative paths start at the working directory) and opens it. */
export async function openReplicaUrl(
  url: string,
  overrides: ReplicaOverrides = {},
): Promise<ReplicaClient> {
  return await openReplica(parseReplicaUrl(url, { baseDir: Deno.cwd() }), overrides);
}
