/** Small helpers the S3 replica's modules share: bounded concurrency, backoff, env lookup. */

/** First backoff step between resumed reads and conflicting conditional writes. */
const BACKOFF_BASE_DELAY_MS = 100;

/** Runs `fn` over `items` with at most `limit` calls in flight; the first failure rejects. */
export async function mapLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

/** Exponential backoff with full jitter, as the SDK does between retries. */
export function backoffMs(attempt: number): number {
  return Math.random() * BACKOFF_BASE_DELAY_MS * 2 ** Math.min(attempt, 8);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `Deno.env.get`, or undefined without --allow-env. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}
