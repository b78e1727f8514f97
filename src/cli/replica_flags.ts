/**
 * The replica flags every command shares: `-b/--bucket URL` and `--endpoint URL`.
 */
import { UsageError } from "../errors.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { openReplicaUrl } from "../replica/replica_url.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import { stringFlag } from "./args.ts";

export const REPLICA_FLAGS: FlagSpec = {
  bucket: { type: "string", short: "b" },
  endpoint: { type: "string" },
};

export const REPLICA_FLAGS_HELP =
  `  -b, --bucket URL        Replica: file:///dir (a local directory) or s3://bucket/prefix
      --endpoint URL      S3 endpoint (MinIO, SeaweedFS, Tigris, R2…); default
                          AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, else AWS`;

/** Checks `--endpoint`: an http(s) URL without credentials. */
export function validateEndpoint(endpoint: string, what: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`${what} "${endpoint}" is not a URL; use e.g. http://127.0.0.1:9000`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${what} "${endpoint}" must start with http:// or https://`);
  }
  if (url.username || url.password) {
    throw new UsageError(
      `${what} must not carry credentials; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`,
    );
  }
  return endpoint;
}

/** Opens the replica named by `-b` (and `--endpoint`); a usage error when `-b` is missing. */
export async function openReplicaFromFlags(
  command: string,
  parsed: ParsedArgs,
): Promise<ReplicaClient> {
  const url = stringFlag(parsed, "bucket");
  if (!url) {
    throw new UsageError(
      `${command} needs a replica: -b file:///dir or -b s3://bucket/prefix (run "walsync help ${command}")`,
    );
  }
  const endpoint = stringFlag(parsed, "endpoint");
  return await openReplicaUrl(url, {
    endpoint: endpoint === undefined ? undefined : validateEndpoint(endpoint, "--endpoint"),
  });
}
