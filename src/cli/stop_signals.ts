/**
 * How `watch` stops on signals: a clean stop with a final upload, then less and less patient.
 */
import { EXIT_FAILURE } from "./exit_codes.ts";
import type { Logger } from "../log.ts";

/** After the first signal, the final upload gets this long before it is abandoned. */
export const DEFAULT_FINAL_UPLOAD_TIMEOUT_MS = 30_000;
/** A signal this soon after the first is a copy of it (see `StopSignals`). */
const DUPLICATE_SIGNAL_MS = 1_000;
/** After a second signal, walsync exits at once if it has not stopped within this. */
const FORCE_EXIT_GRACE_MS = 5_000;

/**
 * SIGINT/SIGTERM: the first stops walsync with a final sync and upload, bounded by
 * DEFAULT_FINAL_UPLOAD_TIMEOUT_MS. A second abandons the final upload (staged files stay for
 * the next start); should that not end walsync within FORCE_EXIT_GRACE_MS, or a third signal
 * come, the process exits at once: everything on disk is durable, as after a crash.
 */
export class StopSignals {
  readonly #abandon = new AbortController();
  #logger: Logger;
  #controller: AbortController;
  #signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  #firstAt: number | null = null;
  #count = 0;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #onSignal = () => this.#received();

  /** Exec mode: the final upload's time starts when the application has exited. */
  #finalUploadStarts: () => Promise<void>;

  constructor(
    logger: Logger,
    controller: AbortController,
    finalUploadStarts: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.#logger = logger;
    this.#controller = controller;
    this.#finalUploadStarts = finalUploadStarts;
    for (const signal of this.#signals) Deno.addSignalListener(signal, this.#onSignal);
  }

  /** Aborted by a second signal, or when the final upload runs out of time. */
  get abandon(): AbortSignal {
    return this.#abandon.signal;
  }

  /** A second signal asked to quit without the final upload. */
  get forced(): boolean {
    return this.#count >= 2;
  }

  close(): void {
    for (const signal of this.#signals) Deno.removeSignalListener(signal, this.#onSignal);
    for (const timer of this.#timers) clearTimeout(timer);
  }

  #received(): void {
    const now = Date.now();
    if (this.#firstAt === null) {
      this.#firstAt = now;
      this.#count = 1;
      this.#logger.info("stopping: final sync and upload");
      this.#controller.abort();
      void this.#finalUploadStarts().then(() => {
        this.#timers.push(setTimeout(() => {
          this.#logger.warn("the final upload is taking too long; abandoning it", {
            timeoutMs: DEFAULT_FINAL_UPLOAD_TIMEOUT_MS,
          });
          this.#abandon.abort();
        }, DEFAULT_FINAL_UPLOAD_TIMEOUT_MS));
      });
      return;
    }
    // One Ctrl-C reaches every process of the terminal's group, and `deno task` forwards it
    // too: a copy arriving with the first is the same request.
    if (now - this.#firstAt < DUPLICATE_SIGNAL_MS) return;
    this.#count++;
    if (this.#count === 2) {
      this.#abandon.abort();
      this.#timers.push(setTimeout(() => this.#exitNow(), FORCE_EXIT_GRACE_MS));
      return;
    }
    this.#exitNow();
  }

  #exitNow(): never {
    this.#logger.error("exiting at once: the final upload is abandoned, staged files stay");
    Deno.exit(EXIT_FAILURE);
  }
}
