/**
 * Keeps an S3 lease through outages. An outage is not a takeover: while renewals fail, the
 * lease stays "held" until its upload deadline (one renew interval before it expires), then
 * it is "in doubt": uploads pause, because another walsync may take over an expired lease,
 * but capture goes on into staging and renewal is retried with backoff. When the store
 * answers again, the renewal reads the object back: our id → renewed, uploads resume; another
 * holder's id → "lost", the only state that stops the daemon.
 *
 * Started during an outage (and allowed to wait), the keeper is "acquiring": capture runs,
 * uploads wait for the lease, and a live holder found once the store answers still stops
 * walsync, as it would have at start-up.
 */
import type { Logger } from "../../log.ts";
import { LeaseHeldError, LeaseLostError } from "../lease_holder.ts";
import { isTransientS3Error } from "./s3_errors.ts";
import type { S3Lease } from "./s3_lease.ts";
import { delay } from "./s3_util.ts";

/** First retry after a failed renewal; doubles up to DEFAULT_MAX_RETRY_MS. */
export const DEFAULT_RETRY_MS = 500;
/** Retries in doubt come at least this often, so uploads resume within seconds. */
export const DEFAULT_MAX_RETRY_MS = 2_000;
/** While uploads are paused, a reminder this often (an outage is never silent). */
export const DEFAULT_REMINDER_MS = 60_000;
/** One lease request (with the SDK's retries) may take this long before it is retried. */
const MIN_ATTEMPT_TIMEOUT_MS = 5_000;

export type LeaseState = "acquiring" | "held" | "doubt" | "lost";

export interface LeaseKeeperOptions {
  logger: Logger;
  /** Clock in ms (tests move it). */
  now?: () => number;
  /** Called each time the lease is held again after acquiring or doubt: uploads may resume. */
  onHeld?: () => void;
  /** Called once when another walsync holds the replica: stop writing to it. */
  onLost: (error: LeaseLostError | LeaseHeldError) => void;
  retryMs?: number;
  maxRetryMs?: number;
  reminderMs?: number;
}

export class LeaseKeeper {
  #lease: S3Lease;
  #options: LeaseKeeperOptions;
  #log: Logger;
  #now: () => number;
  #state: LeaseState = "acquiring";
  #controller = new AbortController();
  #running: Promise<void> = Promise.resolve();
  #doubtTimer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #pausedAt: number | null = null;
  #lastReminder = 0;
  #lastError: unknown = null;

  constructor(lease: S3Lease, options: LeaseKeeperOptions) {
    this.#lease = lease;
    this.#options = options;
    this.#log = options.logger.with({ replica: lease.location });
    this.#now = options.now ?? Date.now;
  }

  get state(): LeaseState {
    return this.#state;
  }

  /** Uploads may go ahead: the lease is held and not close to expiring. */
  canUpload(): boolean {
    return this.#state === "held" && this.#now() < this.#uploadDeadline();
  }

  /**
   * Takes the lease, then keeps it until `stop`. A live holder, or (unless `waitForStorage`)
   * any failure to take it, is thrown. With `waitForStorage`, a store that does not answer
   * leaves the keeper "acquiring" and retrying in the background.
   */
  async start(options: { waitForStorage: boolean }): Promise<void> {
    const signal = this.#controller.signal;
    try {
      await this.#lease.acquire(this.#attemptSignal(signal));
      this.#becomeHeld();
    } catch (error) {
      if (!options.waitForStorage || !isTransientS3Error(error) || signal.aborted) throw error;
      this.#lastError = error;
      this.#pausedAt = this.#now();
      this.#lastReminder = this.#now();
      this.#log.error(
        "cannot take the replica lease, the replica does not answer: capturing into staging; uploads start once the lease is taken",
        { error },
      );
      this.#failures = 1;
    }
    this.#running = this.#run(signal);
  }

  /** Stops renewing (the lease is left to expire or to `release`). */
  async stop(): Promise<void> {
    this.#controller.abort();
    clearTimeout(this.#doubtTimer);
    await this.#running;
  }

  /** Stops renewing and gives the lease up, if it is ours for sure. */
  async release(signal?: AbortSignal): Promise<void> {
    await this.stop();
    if (this.#state !== "held") return;
    await this.#lease.release(signal);
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const waitMs = this.#failures === 0 && this.#state === "held"
        ? this.#lease.renewIntervalMs
        : this.#retryDelay();
      try {
        await delay(waitMs, signal);
      } catch {
        return; // stopped
      }
      try {
        if (this.#state === "acquiring") await this.#lease.acquire(this.#attemptSignal(signal));
        else await this.#lease.renew(this.#attemptSignal(signal));
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof LeaseLostError || error instanceof LeaseHeldError) {
          this.#lose(error);
          return;
        }
        this.#failed(error);
        continue;
      }
      this.#becomeHeld();
    }
  }

  #becomeHeld(): void {
    const previous = this.#state;
    const failures = this.#failures;
    this.#state = "held";
    this.#failures = 0;
    this.#lastError = null;
    clearTimeout(this.#doubtTimer);
    this.#doubtTimer = setTimeout(
      () => this.#enterDoubt(),
      Math.max(0, this.#uploadDeadline() - this.#now()),
    );
    Deno.unrefTimer(this.#doubtTimer);
    if (previous === "held") {
      if (failures > 0) this.#log.info("replica lease renewed after failed attempts", { failures });
      return;
    }
    const pausedMs = this.#pausedAt === null ? 0 : this.#now() - this.#pausedAt;
    this.#pausedAt = null;
    if (previous === "doubt" || pausedMs > 0) {
      this.#log.warn(
        previous === "doubt"
          ? "replica lease renewed again: uploads resume"
          : "replica lease taken: uploads start",
        { pausedMs },
      );
    }
    this.#options.onHeld?.();
  }

  #failed(error: unknown): void {
    this.#failures++;
    this.#lastError = error;
    if (this.#state === "held" && this.#now() >= this.#uploadDeadline()) this.#enterDoubt();
    if (this.#state === "held") {
      if (this.#failures === 1) {
        this.#log.warn("replica lease renewal failed; retrying", {
          error,
          expiresAt: this.#lease.record?.expiresAt,
        });
      } else this.#log.debug("replica lease renewal failed again", { error });
      return;
    }
    if (this.#now() - this.#lastReminder >= (this.#options.reminderMs ?? DEFAULT_REMINDER_MS)) {
      this.#lastReminder = this.#now();
      this.#log.warn("replica still does not answer: uploads stay paused", {
        pausedMs: this.#now() - (this.#pausedAt ?? this.#now()),
        error,
      });
    } else this.#log.debug("replica lease attempt failed", { error });
  }

  /** The upload deadline passed without a renewal: pause uploads until the store answers. */
  #enterDoubt(): void {
    if (this.#state !== "held") return;
    this.#state = "doubt";
    this.#pausedAt = this.#now();
    this.#lastReminder = this.#now();
    this.#log.error(
      "replica lease could not be renewed in time: uploads pause until the replica answers (capture continues into staging)",
      { expiresAt: this.#lease.record?.expiresAt, error: this.#lastError ?? "renewal pending" },
    );
  }

  #lose(error: LeaseLostError | LeaseHeldError): void {
    this.#state = "lost";
    clearTimeout(this.#doubtTimer);
    this.#options.onLost(error);
  }

  /** One renew interval before expiry: an upload started later could outlive the lease. */
  #uploadDeadline(): number {
    const expiresAt = Date.parse(this.#lease.record?.expiresAt ?? "");
    return Number.isFinite(expiresAt) ? expiresAt - this.#lease.renewIntervalMs : 0;
  }

  #retryDelay(): number {
    const maxMs = Math.min(
      this.#options.maxRetryMs ?? DEFAULT_MAX_RETRY_MS,
      this.#lease.renewIntervalMs,
    );
    const baseMs = (this.#options.retryMs ?? DEFAULT_RETRY_MS) * 2 ** (this.#failures - 1);
    return Math.min(maxMs, baseMs) * (0.5 + Math.random() / 2);
  }

  /** A stalled request must not hold up the next attempt for minutes. */
  #attemptSignal(signal: AbortSignal): AbortSignal {
    const timeoutMs = Math.max(MIN_ATTEMPT_TIMEOUT_MS, this.#lease.renewIntervalMs);
    return AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  }
}
