/**
 * One bucket as this process reaches it: the SDK client, loaded on the first request (and
 * again after a failed load or `close`), every request's failure translated into an error
 * that names the operation, bucket and key, and the SSE-C key every read and write carries.
 */
import { translateS3Error } from "./s3_errors.ts";
import { type LoadedSdk, loadS3Sdk, type S3ClientConfig } from "./s3_sdk.ts";

export interface S3ConnectionOptions {
  bucket: string;
  client: S3ClientConfig;
  /** SSE-C: a 32-byte key, base64. */
  sseCustomerKey?: string;
}

export class S3Connection {
  readonly bucket: string;
  /** The endpoint without user info, for messages; undefined for AWS. */
  readonly printableEndpoint: string | undefined;
  /** Requests per operation, the first included. */
  readonly maxAttempts: number;

  #client: S3ClientConfig;
  #sseCustomerKey?: string;
  #sdk?: Promise<LoadedSdk>;

  constructor(options: S3ConnectionOptions) {
    this.bucket = options.bucket;
    this.printableEndpoint = printableEndpoint(options.client.endpoint);
    this.maxAttempts = options.client.maxAttempts;
    this.#client = options.client;
    this.#sseCustomerKey = options.sseCustomerKey;
  }

  /** The SDK and its client, loading them on first use. */
  loaded(): Promise<LoadedSdk> {
    this.#sdk ??= loadS3Sdk(this.#client).catch((error) => {
      this.#sdk = undefined; // let the next request try again
      throw error;
    });
    return this.#sdk;
  }

  /** Runs one SDK call; its failure becomes an S3ReplicaError naming `operation` and `key`. */
  async send<T>(
    operation: string,
    key: string | undefined,
    run: (sdk: LoadedSdk) => Promise<T>,
  ): Promise<T> {
    const sdk = await this.loaded();
    try {
      return await run(sdk);
    } catch (error) {
      throw translateS3Error(error, {
        operation,
        bucket: this.bucket,
        key,
        endpoint: this.printableEndpoint,
      });
    }
  }

  /** The SSE-C request parameters, empty without a customer key. */
  sseCustomerParams(): { SSECustomerAlgorithm?: string; SSECustomerKey?: string } {
    const key = this.#sseCustomerKey;
    return key ? { SSECustomerAlgorithm: "AES256", SSECustomerKey: key } : {};
  }

  /** Closes idle connections; the client loads again on the next request. */
  async close(): Promise<void> {
    const sdk = this.#sdk;
    this.#sdk = undefined;
    if (sdk) (await sdk.catch(() => null))?.client.destroy();
  }
}

function printableEndpoint(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  try {
    const url = new URL(endpoint);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return "the configured endpoint";
  }
}
