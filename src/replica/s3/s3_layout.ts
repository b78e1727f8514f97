/**
 * Where things live in an S3 replica, exactly as Litestream 0.5's S3 client lays them out:
 * `<prefix>/<name>/<level as 4 hex>/<minTXID 16 hex>-<maxTXID 16 hex>.ltx`, and what walsync
 * records in each object's metadata. Pure functions: no SDK, no I/O.
 */
import { ChecksumMismatchError, UsageError } from "../../errors.ts";
import { formatLtxFilename, parseLtxFilename } from "../../ltx/ltx_header.ts";
import type { LtxFileKey, LtxFileMetadata } from "../replica_client.ts";
import { validateReplicaName } from "../replica_path.ts";

/** Object metadata keys (sent as `x-amz-meta-<key>`; S3 lower-cases them). */
export const METADATA_SHA256 = "sha256";
export const METADATA_CHECKSUM = "walsync-checksum";
/** The LTX header timestamp, RFC 3339 with Go's RFC3339Nano shape; Litestream reads it. */
export const METADATA_TIMESTAMP = "litestream-timestamp";

const LEVEL_HEX_DIGITS = 4;
const MAX_LEVEL = 0xffff;

/** A bucket plus a key prefix without leading, trailing or doubled slashes. */
export interface S3Location {
  bucket: string;
  prefix: string;
}

/** Options a replica URL may carry in its query: `?endpoint=…&region=…&force-path-style=true`. */
export interface S3UrlOptions extends S3Location {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

/**
 * Parses `s3://bucket/prefix[?endpoint=URL&region=R&force-path-style=true|false]`.
 * The prefix may be empty (objects then start with the database name).
 */
export function parseS3Url(url: string): S3UrlOptions {
  const hint = "use s3://bucket/prefix, e.g. s3://backups/walsync";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new UsageError(`Replica URL "${url}" is not a valid URL; ${hint}`, { cause: error });
  }
  if (parsed.protocol !== "s3:") {
    throw new UsageError(`Replica URL "${url}" is not an s3:// URL; ${hint}`);
  }
  if (parsed.username || parsed.password) {
    throw new UsageError(
      "Replica URL must not carry credentials; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or an instance role",
    );
  }
  const bucket = decodeURIComponent(parsed.hostname);
  // Rules from the S3 naming spec that matter for addressing; the server checks the rest.
  if (!/^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$/i.test(bucket)) {
    throw new UsageError(`Replica URL "${url}" has no valid bucket name ("${bucket}"); ${hint}`);
  }
  if (parsed.port) {
    throw new UsageError(
      `Replica URL "${url}" has a port; give the server as ?endpoint=http://host:port or AWS_ENDPOINT_URL_S3`,
    );
  }
  const options: S3UrlOptions = {
    bucket,
    prefix: normalizePrefix(decodeURIComponent(parsed.pathname)),
  };
  for (const [key, value] of parsed.searchParams) {
    switch (key) {
      case "endpoint":
        options.endpoint = value;
        break;
      case "region":
        options.region = value;
        break;
      case "force-path-style":
      case "forcePathStyle":
        if (value !== "true" && value !== "false") {
          throw new UsageError(`Replica URL option ${key}="${value}" must be true or false`);
        }
        options.forcePathStyle = value === "true";
        break;
      default:
        throw new UsageError(
          `Replica URL option "${key}" in "${url}" is unknown; use endpoint, region or force-path-style`,
        );
    }
  }
  return options;
}

/** `/a//b/` → `a/b`; every key is then built by joining with exactly one `/`. */
export function normalizePrefix(prefix: string): string {
  return prefix.split("/").filter((segment) => segment !== "").join("/");
}

function join(prefix: string, rest: string): string {
  return prefix === "" ? rest : `${prefix}/${rest}`;
}

/** `<prefix>/<name>`: the path Litestream is configured with for this database. */
export function databaseKeyPrefix(prefix: string, name: string): string {
  return join(prefix, validateReplicaName(name));
}

export function formatLevel(level: number): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL) {
    throw new RangeError(`LTX level ${level} is out of range`);
  }
  return level.toString(16).padStart(LEVEL_HEX_DIGITS, "0");
}

/** `<prefix>/<name>/<level>/` (with the trailing slash, ready for a listing). */
export function levelKeyPrefix(prefix: string, name: string, level: number): string {
  return `${databaseKeyPrefix(prefix, name)}/${formatLevel(level)}/`;
}

export function ltxFileKey(prefix: string, name: string, key: LtxFileKey): string {
  return `${levelKeyPrefix(prefix, name, key.level)}${formatLtxFilename(key.minTxid, key.maxTxid)}`;
}

/** The key of a small object (e.g. the lease) at `path` relative to the replica root. */
export function objectKey(prefix: string, path: string): string {
  return join(prefix, validateReplicaName(path));
}

const LTX_KEY_PATTERN = /^(.+)\/([0-9a-f]{4})\/([0-9a-f]{16}-[0-9a-f]{16}\.ltx)$/;

/**
 * Splits a key below the replica root into database name, level and TXID range; null for
 * anything that is not an LTX file in walsync's (and Litestream's) layout.
 */
export function parseLtxKey(
  prefix: string,
  key: string,
): ({ name: string } & LtxFileKey) | null {
  const root = prefix === "" ? "" : `${prefix}/`;
  if (!key.startsWith(root)) return null;
  const match = LTX_KEY_PATTERN.exec(key.slice(root.length));
  if (!match) return null;
  const range = parseLtxFilename(match[3]);
  if (!range) return null;
  try {
    validateReplicaName(match[1]);
  } catch {
    return null;
  }
  return { name: match[1], level: parseInt(match[2], 16), ...range };
}

/**
 * Formats a time the way Go's `time.RFC3339Nano` does in UTC: the fraction without trailing
 * zeros, and none at all on a whole second (`2023-11-14T22:13:20.12Z`, `…:20Z`).
 */
export function formatRfc3339Nano(date: Date): string {
  const iso = date.toISOString(); // always YYYY-MM-DDTHH:MM:SS.mmmZ for years 0..9999
  const [whole, fraction] = iso.slice(0, -1).split(".");
  const trimmed = fraction.replace(/0+$/, "");
  return trimmed === "" ? `${whole}Z` : `${whole}.${trimmed}Z`;
}

const RFC3339_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses RFC 3339 with up to nanoseconds (kept to milliseconds, truncated); null if invalid. */
export function parseRfc3339(text: string): Date | null {
  const match = RFC3339_PATTERN.exec(text);
  if (!match) return null;
  const [, year, month, day, hour, minute, second, fraction = "", zone] = match;
  let ms = Date.UTC(+year, +month - 1, +day, +hour, +minute, +second) +
    Number(fraction.padEnd(3, "0").slice(0, 3));
  if (zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/** The user metadata walsync writes with every LTX object. */
export function encodeMetadata(metadata: LtxFileMetadata): Record<string, string> {
  const encoded: Record<string, string> = {
    [METADATA_SHA256]: metadata.sha256,
    [METADATA_TIMESTAMP]: formatRfc3339Nano(metadata.createdAt),
  };
  if (metadata.databaseChecksum !== undefined) {
    encoded[METADATA_CHECKSUM] = metadata.databaseChecksum.toString(16).padStart(16, "0");
  }
  return encoded;
}

export interface DecodedMetadata {
  sha256?: string;
  databaseChecksum?: bigint;
  createdAt?: Date;
}

/**
 * Reads walsync's and Litestream's metadata. Missing keys are fine (a Litestream-written
 * object has only the timestamp); a malformed checksum is an error, never a silent skip of
 * verification. A malformed timestamp falls back to the store's time, as Litestream does.
 */
export function decodeMetadata(
  key: string,
  metadata: Record<string, string> | undefined,
): DecodedMetadata {
  const decoded: DecodedMetadata = {};
  if (!metadata) return decoded;
  const lower = new Map(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v.trim()]));
  const sha256 = lower.get(METADATA_SHA256);
  if (sha256 !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      throw new ChecksumMismatchError(
        `Replica object "${key}" has malformed ${METADATA_SHA256} metadata "${sha256}"`,
        0,
      );
    }
    decoded.sha256 = sha256;
  }
  const checksum = lower.get(METADATA_CHECKSUM);
  if (checksum !== undefined) {
    if (!/^[0-9a-f]{16}$/.test(checksum)) {
      throw new ChecksumMismatchError(
        `Replica object "${key}" has malformed ${METADATA_CHECKSUM} metadata "${checksum}"`,
        0,
      );
    }
    decoded.databaseChecksum = BigInt(`0x${checksum}`);
  }
  const timestamp = lower.get(METADATA_TIMESTAMP);
  if (timestamp !== undefined) {
    const createdAt = parseRfc3339(timestamp);
    if (createdAt) decoded.createdAt = createdAt;
  }
  return decoded;
}
