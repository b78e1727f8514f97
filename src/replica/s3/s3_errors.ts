/**
 * Turns SDK errors into walsync errors an operator can act on: which operation, which
 * bucket and key, what the server said, and a hint. Messages never include credentials
 * (the SDK's errors do not carry them; endpoints are printed without user info).
 */
import { WalsyncError } from "../../errors.ts";

/** Any failure talking to an S3-compatible store. */
export class S3ReplicaError extends WalsyncError {
  /** The S3 error code (e.g. "AccessDenied") or Node network code (e.g. "ECONNREFUSED"). */
  readonly code?: string;
  readonly statusCode?: number;
  /** How many requests were made, retries included. */
  readonly attempts?: number;

  constructor(
    message: string,
    options: ErrorOptions & { code?: string; statusCode?: number; attempts?: number } = {},
  ) {
    super(message, options);
    this.code = options.code;
    this.statusCode = options.statusCode;
    this.attempts = options.attempts;
  }
}

/** The bucket does not exist: not retried, the operator must act. */
export class S3BucketNotFoundError extends S3ReplicaError {}

/** Credentials or permissions were refused (403): not retried. */
export class S3AccessDeniedError extends S3ReplicaError {}

/** The object does not exist. */
export class S3ObjectNotFoundError extends S3ReplicaError {
  /** See `isFileNotFound`. */
  readonly fileNotFound = true;
}

/** The store could not be reached at all, even after retries. */
export class S3UnreachableError extends S3ReplicaError {}

/** What an SDK (or Node network) error looks like, loosely. */
interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $response?: { statusCode?: number };
  $retryable?: unknown;
}

export function errorCode(error: unknown): string | undefined {
  const e = error as SdkErrorShape | null;
  if (!e || typeof e !== "object") return undefined;
  return e.Code ?? (typeof e.code === "string" ? e.code : undefined) ?? e.name;
}

export function statusCode(error: unknown): number | undefined {
  const e = error as SdkErrorShape | null;
  if (!e || typeof e !== "object") return undefined;
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

function attempts(error: unknown): number | undefined {
  return (error as SdkErrorShape | null)?.$metadata?.attempts;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "TimeoutError",
  "RequestTimeout",
]);

/** The error code walsync gives a 2xx answer whose body the SDK could not parse. */
export const UNPARSABLE_RESPONSE = "UnparsableResponse";

/**
 * A success status with a body the SDK could not parse (truncated or damaged by a proxy, or a
 * server bug): the request itself worked, so asking again is safe for reads.
 */
export function isUnparsableResponse(error: unknown): boolean {
  const status = statusCode(error);
  return status !== undefined && status >= 200 && status < 300;
}

/**
 * A failure that says nothing about the replica or its settings: the store did not answer,
 * answered 5xx, 408 or 429, or its answer was damaged. Waiting and retrying can fix these;
 * refused credentials, a missing bucket or a bad region cannot.
 */
export function isTransientS3Error(error: unknown): boolean {
  if (error instanceof S3UnreachableError) return true;
  const name = (error as { name?: string } | null)?.name;
  if (name === "AbortError" || name === "TimeoutError") return true; // an attempt's time limit
  const code = error instanceof S3ReplicaError ? error.code : errorCode(error);
  if (code === UNPARSABLE_RESPONSE || (code !== undefined && NETWORK_CODES.has(code))) return true;
  const status = error instanceof S3ReplicaError ? error.statusCode : statusCode(error);
  return status !== undefined && (status >= 500 || status === 408 || status === 429);
}

export function isPreconditionFailed(error: unknown): boolean {
  return statusCode(error) === 412 || errorCode(error) === "PreconditionFailed";
}

/** A conditional write raced with another one (AWS answers 409 and asks to retry). */
export function isConditionalConflict(error: unknown): boolean {
  return statusCode(error) === 409 && errorCode(error) === "ConditionalRequestConflict";
}

export function isNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code === "NoSuchKey" || code === "NotFound" ||
    (statusCode(error) === 404 && code !== "NoSuchBucket");
}

/** The server does not implement a header we sent (conditional writes on older stores). */
export function isNotImplemented(error: unknown): boolean {
  const code = errorCode(error);
  return statusCode(error) === 501 || code === "NotImplemented";
}

export interface S3ErrorContext {
  operation: string;
  bucket: string;
  key?: string;
  /** Printable endpoint (no user info), or undefined for AWS's default. */
  endpoint?: string;
}

/** Wraps any error from the SDK into an `S3ReplicaError` subclass with a clear message. */
export function translateS3Error(error: unknown, context: S3ErrorContext): Error {
  if (error instanceof S3ReplicaError) return error;
  if (error instanceof DOMException && error.name === "AbortError") return error;
  const e = error as SdkErrorShape;
  if (e?.name === "AbortError") return error as Error;
  const code = errorCode(error);
  const status = statusCode(error);
  const tries = attempts(error);
  const where = context.key === undefined
    ? `bucket "${context.bucket}"`
    : `"${context.key}" in bucket "${context.bucket}"`;
  const server = context.endpoint ?? "AWS S3";
  const said = [status, code].filter((x) => x !== undefined).join(" ");
  const after = tries !== undefined && tries > 1 ? ` after ${tries} attempts` : "";
  const options = { cause: error, code, statusCode: status, attempts: tries };

  if (code === "NoSuchBucket") {
    return new S3BucketNotFoundError(
      `Bucket "${context.bucket}" does not exist at ${server}; create it or fix the replica URL`,
      options,
    );
  }
  if (
    status === 403 || code === "AccessDenied" || code === "InvalidAccessKeyId" ||
    code === "SignatureDoesNotMatch" || code === "InvalidToken" || code === "ExpiredToken"
  ) {
    return new S3AccessDeniedError(
      `S3 ${context.operation} of ${where} was refused (${said}); check credentials ` +
        "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance role) " +
        "and the bucket policy",
      options,
    );
  }
  if (code === "CredentialsProviderError" || /Could not load credentials/i.test(e?.message ?? "")) {
    return new S3AccessDeniedError(
      `No S3 credentials found for bucket "${context.bucket}"; set AWS_ACCESS_KEY_ID and ` +
        "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance or container role",
      options,
    );
  }
  if (/Region is missing/i.test(e?.message ?? "")) {
    return new S3ReplicaError(
      `No AWS region configured for bucket "${context.bucket}"; set AWS_REGION or ?region= in the replica URL, ` +
        "or for an S3-compatible server give its endpoint with --endpoint, [s3] endpoint or AWS_ENDPOINT_URL_S3",
      options,
    );
  }
  if (isNotFound(error)) {
    return new S3ObjectNotFoundError(`Replica object ${where} does not exist`, options);
  }
  if (code !== undefined && NETWORK_CODES.has(code) && status === undefined) {
    return new S3UnreachableError(
      `Cannot reach ${server} for S3 ${context.operation} of ${where} (${code})${after}; ` +
        "check the endpoint (AWS_ENDPOINT_URL_S3) and the network",
      options,
    );
  }
  if (isUnparsableResponse(error)) {
    const what = context.operation.startsWith("List") ? "a valid listing" : "a valid answer";
    const why = sdkMessage(e?.message);
    return new S3ReplicaError(
      `S3 ${context.operation} of ${where} returned a response that is not ${what} (HTTP ${status}${
        why ? `: ${why}` : ""
      })${after}; the server or a proxy in between damaged it`,
      { ...options, code: UNPARSABLE_RESPONSE },
    );
  }
  const message = sdkMessage(e?.message);
  const detail = message && message !== code ? `: ${message}` : "";
  return new S3ReplicaError(
    `S3 ${context.operation} of ${where} failed (${said || "unknown error"})${after}${detail}`,
    options,
  );
}

/**
 * The SDK's message on one line, without its own advice (e.g. "Deserialization error: to see
 * the raw response, inspect the hidden field {error}.$response"), which is for SDK users.
 */
function sdkMessage(message: string | undefined): string {
  const first = (message ?? "").split("\n")[0].trim();
  return first.replace(/^@aws-sdk /, "").replace(/\.$/, "");
}
