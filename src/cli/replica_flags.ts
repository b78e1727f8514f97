/**
 * The replica flags every command shares: `-b/--bucket URL`, `--endpoint URL` and
 * `-c/--config FILE` (whose `[s3]` section supplies what the flags leave out).
 */
import type { ReplicaClient } from "../replica/replica_client.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import {
  CONFIG_FLAG,
  CONFIG_FLAG_HELP,
  loadCommandConfig,
  openCommandReplica,
} from "./command_config.ts";

export const REPLICA_FLAGS: FlagSpec = {
  bucket: { type: "string", short: "b" },
  endpoint: { type: "string" },
  ...CONFIG_FLAG,
};

export const REPLICA_FLAGS_HELP =
  `  -b, --bucket URL        Replica: s3://bucket/prefix, file:///dir, or a directory path
                          starting with / or ./ (or ../); default [s3] bucket in walsync.toml
      --endpoint URL      S3 endpoint (MinIO, SeaweedFS, Tigris, R2…); default [s3] endpoint,
                          then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, else AWS
${CONFIG_FLAG_HELP}`;

/** Opens the replica named by the flags or, failing them, by walsync.toml. */
export async function openReplicaFromFlags(
  command: string,
  parsed: ParsedArgs,
): Promise<ReplicaClient> {
  return await openCommandReplica(command, parsed, await loadCommandConfig(parsed));
}
