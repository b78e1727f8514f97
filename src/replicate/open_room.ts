/**
 * How many databases hold files open, under the file-descriptor budget and `max_open`: room
 * for one more is made by releasing the longest-idle fully shipped database; when none can
 * go, the one asking waits (`FdBudgetError`) and opens as soon as another lets go.
 */
import type { Logger } from "../log.ts";
import type { DatabaseSlot } from "./database_slot.ts";
import { type FdBudget, FdBudgetError, isFdExhaustion } from "./fd_budget.ts";

/** After no database could be released for room, waiting ones look again after this. */
const NO_ROOM_RETRY_MS = 250;

export class OpenRoom {
  #budget: FdBudget;
  #log: Logger;
  /** Databases holding files open, or being opened (they count against the budget). */
  #open = 0;
  /** No database could be released for room until then (so waiting ones fail fast). */
  #noRoomUntilMs = 0;
  /** Slots waiting for a file descriptor, longest-waiting first. */
  #waiting = new Set<DatabaseSlot>();
  #warned = false;

  constructor(budget: FdBudget, log: Logger) {
    this.#budget = budget;
    this.#log = log;
  }

  /** Databases holding files open, and how many may (file-descriptor budget, max_open). */
  get usage(): { open: number; maxOpen: number; fdLimit: number | null } {
    return { open: this.#open, maxOpen: this.#budget.maxOpen, fdLimit: this.#budget.limit };
  }

  /**
   * Runs `open` for `requester` once there is room for it among `slots` (the longest-idle
   * releasable ones let go as needed); throws `FdBudgetError` when none can go now. `slots`
   * counts the databases for the warning (`quiet`: say nothing now, see `report`).
   */
  async opening<T>(
    requester: DatabaseSlot,
    slots: Map<string, DatabaseSlot>,
    quiet: boolean,
    open: () => Promise<T>,
  ): Promise<T> {
    await this.#makeRoom(requester, slots, quiet);
    this.#open++;
    let opened = false;
    try {
      const result = await open();
      opened = true;
      return result;
    } catch (error) {
      if (isFdExhaustion(error)) {
        // The budget was too generous for this process: plan for no more than are open.
        this.#budget.shrinkTo(this.#open - 1);
        this.warn(slots.size + 1);
      }
      throw error;
    } finally {
      if (!opened) this.#open--;
    }
  }

  /** A database let go of its files: the longest-waiting one (if any) may open now. */
  closed(): DatabaseSlot | null {
    this.#open--;
    this.#noRoomUntilMs = 0;
    for (const slot of this.#waiting) {
      this.#waiting.delete(slot);
      if (slot.removed || slot.replicator) continue;
      return slot;
    }
    return null;
  }

  /** `slot` waits for a file descriptor (see `closed`). */
  wait(slot: DatabaseSlot): void {
    this.#waiting.add(slot);
  }

  async #makeRoom(
    requester: DatabaseSlot,
    slots: Map<string, DatabaseSlot>,
    quiet: boolean,
  ): Promise<void> {
    const tried = new Set<DatabaseSlot>([requester]);
    while (this.#open + 1 > this.#budget.maxOpen) {
      let candidate: DatabaseSlot | null = null;
      if (Date.now() >= this.#noRoomUntilMs) {
        for (const slot of slots.values()) {
          if (tried.has(slot) || !slot.releasable()) continue;
          if (!candidate || slot.lastChangeAtMs < candidate.lastChangeAtMs) candidate = slot;
        }
      }
      if (!candidate) {
        // Until a database lets go or a moment passes, others waiting fail fast.
        if (Date.now() >= this.#noRoomUntilMs) this.#noRoomUntilMs = Date.now() + NO_ROOM_RETRY_MS;
        if (!quiet) this.warn(slots.size + 1);
        throw new FdBudgetError(
          `"${requester.path}" waits to be opened: ${this.#open} databases are open, the most ${
            this.#budget.limitsBelow(this.#open + 1)
              ? `the file-descriptor limit (ulimit -n ${this.#budget.limit}) allows`
              : "max_open allows"
          } (${this.#budget.maxOpen}); it opens as soon as another is released`,
        );
      }
      tried.add(candidate);
      const run = candidate.busy.then(() => candidate.release("fds"));
      candidate.busy = run.catch(() => {});
      await run;
    }
  }

  /**
   * Says once that the databases do not all fit under the file-descriptor limit, with the
   * limit that would keep every one of them open.
   */
  warn(databases: number): void {
    if (this.#warned) return;
    this.#warned = true;
    if (!this.#budget.limitsBelow(databases)) {
      this.#log.info("more databases than max_open: idle ones are released and opened in turn", {
        maxOpen: this.#budget.maxOpen,
        databases,
      });
      return;
    }
    this.#log.warn(
      "the file-descriptor limit does not let every database stay open: idle ones are released and opened in turn",
      {
        limit: this.#budget.limit,
        openAtOnce: this.#budget.maxOpen,
        databases,
        limitForAll: this.#budget.limitFor(databases, 0),
      },
    );
  }

  /** After start-up, with every database known: `warn` if they do not all fit. */
  report(databases: number): void {
    if (databases > this.#budget.maxOpen) this.warn(databases);
  }
}
