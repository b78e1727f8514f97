/**
 * Uploads of staged files, for every database of a supervisor: at most `concurrency` at
 * once, each one that ends starting the next (a backlog drains at the store's pace, not one
 * round per sync interval), failures backed off per database (capped at a few seconds, so
 * catching up starts soon after the store answers again) while the files wait in staging.
 */
import { WalsyncError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DatabaseSlot } from "./database_slot.ts";

/**
 * Failed uploads are retried at least this often, so catching up starts within seconds of
 * the store answering again (staged files wait safely meanwhile).
 */
const MAX_UPLOAD_BACKOFF_MS = 4_000;
/** How often a waiter looks whether a running upload has finished. */
const UPLOAD_POLL_MS = 10;

/** Thrown by an upload that must wait: the gate is closed. */
export class UploadsPausedError extends WalsyncError {}

export interface UploadQueueOptions {
  concurrency: number;
  log: Logger;
  /** Whether uploads may go ahead now (the replica's lease is held). */
  canUpload: () => boolean;
  /** Aborting it ends running uploads at once; their files stay staged. */
  abandon?: AbortSignal;
  /** Asks the supervisor's loop to run soon (a database must sync first). */
  wake: () => void;
}

export class UploadQueue {
  #options: UploadQueueOptions;
  #free: number;
  /** Databases with staged files, in the order they asked; uploads take them as slots free. */
  #queued = new Set<DatabaseSlot>();
  #closed = false;
  /** False after an upload failed, until one succeeds: new databases then skip the listing. */
  reachable = true;

  constructor(options: UploadQueueOptions) {
    this.#options = options;
    this.#free = options.concurrency;
  }

  /** Uploads at once, at most. */
  get concurrency(): number {
    return this.#options.concurrency;
  }

  /** `slot` has staged files: it uploads when a slot is free and its backoff has passed. */
  enqueue(slot: DatabaseSlot): void {
    if (!slot.uploading) this.#queued.add(slot);
  }

  /** No upload starts from the queue any more (the supervisor stops). */
  close(): void {
    this.#closed = true;
  }

  /** Starts queued uploads while upload slots are free. */
  pump(): void {
    if (this.#closed || !this.#options.canUpload()) return;
    const now = Date.now();
    for (const slot of this.#queued) {
      if (this.#free <= 0) return;
      if (slot.removed || !slot.replicator?.hasPending) {
        this.#queued.delete(slot);
        continue;
      }
      if (slot.uploading || now < slot.nextUploadAt) continue;
      this.#queued.delete(slot);
      void this.upload(slot, false).finally(() => this.pump());
    }
  }

  /** Uploads may resume at once (the gate opened again): forget every backoff. */
  resume(slots: Iterable<DatabaseSlot>): void {
    for (const slot of slots) {
      slot.uploadFailures = 0;
      slot.nextUploadAt = 0;
    }
  }

  /** Waits until `slot` has no upload running. */
  async idle(slot: DatabaseSlot): Promise<void> {
    while (slot.uploading) await new Promise((r) => setTimeout(r, UPLOAD_POLL_MS));
  }

  /**
   * Uploads `slot`'s staged files. `final` (shutdown, `--once`, a snapshot): even with no
   * free slot, and a failure or a closed gate is thrown rather than only backed off.
   */
  async upload(slot: DatabaseSlot, final: boolean): Promise<void> {
    const replicator = slot.replicator;
    if (!replicator || slot.removed || slot.uploading || (this.#free <= 0 && !final)) {
      return;
    }
    if (!this.#options.canUpload()) {
      if (!final) return;
      throw new UploadsPausedError(
        `Uploads of "${slot.name}" are paused: the replica's lease is not held right now (the replica does not answer); its files stay staged`,
      );
    }
    slot.uploading = true;
    this.#free--;
    try {
      await replicator.upload(this.#options.abandon);
      slot.stats.uploaded(Date.now(), replicator.uploadedTxid);
      slot.uploadFailures = 0;
      slot.nextUploadAt = Date.now() + slot.settings.syncIntervalMs;
      this.reachable = true;
      if (replicator.needsSync) {
        // The replica must be re-seeded first: that happens in the database's sync.
        slot.dirty = true;
        slot.nextSyncAt = 0;
        this.#options.wake();
      }
    } catch (error) {
      slot.uploadFailures++;
      slot.stats.upload.errors++;
      this.reachable = false;
      const backoff = Math.min(MAX_UPLOAD_BACKOFF_MS, 1000 * 2 ** (slot.uploadFailures - 1));
      slot.nextUploadAt = Date.now() + backoff * (0.5 + Math.random() / 2);
      slot.lastError = (error as Error).message;
      this.#options.log.warn("upload failed; staged files are kept and retried", {
        db: slot.name,
        error,
        retryInMs: Math.round(slot.nextUploadAt - Date.now()),
      });
      if (final) throw error;
    } finally {
      this.#free++;
      slot.uploading = false;
    }
  }
}
