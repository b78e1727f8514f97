/**
 * What one database's replication has done and how far behind the replica is, for metrics,
 * `/health` and `walsync status` (src/observe/ reads it, never the slot's internals).
 *
 * Lag is the age of the oldest commit not yet durable in the replica. Each staged TXID is
 * recorded with the time of the look that captured it (its commit happened at or before
 * then, after the previous look); an upload that makes a TXID durable drops every entry up to
 * it. While nothing is staged but syncs fail (the WAL cannot be read), the first failure's
 * time stands in: commits may wait in the WAL then. A released database whose files changed
 * counts from when that was noticed, also while it waits for a file descriptor to open.
 */

/** Counters of one kind of work: how often it ran and how often it failed. */
export interface WorkCounts {
  count: number;
  errors: number;
}

/** A read-only copy of a database's counters and lag inputs. */
export interface SlotStatsView {
  sync: WorkCounts;
  upload: WorkCounts;
  checkpoint: WorkCounts;
  /** Full snapshots staged (by policy, on request, or for a discontinuity). */
  snapshots: number;
  /** Seconds since the oldest commit not yet durable in the replica (0 when none). */
  lagSeconds: number;
  /** When an upload last succeeded (ms since the epoch), or null. */
  lastUploadAtMs: number | null;
  /** Size of the `-wal` file at the last look (bytes). */
  walSizeBytes: number;
  /** Seconds spent syncing and checkpointing, in total. */
  syncSeconds: number;
  checkpointSeconds: number;
}

export class SlotStats {
  readonly sync: WorkCounts = { count: 0, errors: 0 };
  readonly upload: WorkCounts = { count: 0, errors: 0 };
  readonly checkpoint: WorkCounts = { count: 0, errors: 0 };
  snapshots = 0;
  lastUploadAtMs: number | null = null;
  walSizeBytes = 0;
  syncSeconds = 0;
  checkpointSeconds = 0;
  /** Staged TXIDs not yet durable, oldest first, with when they were captured. */
  #waiting: { txid: number; capturedAtMs: number }[] = [];
  /** When syncs began to fail (null while they succeed). */
  #failingSinceMs: number | null = null;
  /** When a released database's files were seen to change, until a look captures it. */
  #unseenSinceMs: number | null = null;

  /** A released database's files changed (commits wait, not yet looked at). */
  unseen(nowMs: number): void {
    this.#unseenSinceMs ??= nowMs;
  }

  /**
   * TXIDs up to `txid` were staged by a look that began at `lookedAtMs`; `durableTxid` is
   * what the replica holds already.
   */
  captured(txid: number, durableTxid: number, lookedAtMs: number): void {
    const since = Math.min(lookedAtMs, this.#unseenSinceMs ?? lookedAtMs);
    this.#unseenSinceMs = null;
    const last = this.#waiting.at(-1);
    if (txid <= durableTxid || (last && last.txid >= txid)) return;
    this.#waiting.push({ txid, capturedAtMs: since });
  }

  /** The replica holds every TXID up to `txid` durably now. */
  durable(txid: number): void {
    let drop = 0;
    while (drop < this.#waiting.length && this.#waiting[drop].txid <= txid) drop++;
    if (drop > 0) this.#waiting.splice(0, drop);
  }

  syncSucceeded(): void {
    this.#failingSinceMs = null;
  }

  syncFailed(nowMs: number): void {
    this.sync.errors++;
    this.#failingSinceMs ??= Math.min(nowMs, this.#unseenSinceMs ?? nowMs);
  }

  uploaded(nowMs: number, durableTxid: number): void {
    this.upload.count++;
    this.lastUploadAtMs = nowMs;
    this.durable(durableTxid);
  }

  /** Seconds since the oldest commit not yet durable (`durableTxid`: the replica's last). */
  lagSeconds(durableTxid: number, nowMs: number): number {
    this.durable(durableTxid);
    let since = this.#waiting[0]?.capturedAtMs ?? null;
    for (const other of [this.#failingSinceMs, this.#unseenSinceMs]) {
      if (other !== null && (since === null || other < since)) since = other;
    }
    return since === null ? 0 : Math.max(0, (nowMs - since) / 1000);
  }

  view(durableTxid: number, nowMs: number): SlotStatsView {
    return {
      sync: { ...this.sync },
      upload: { ...this.upload },
      checkpoint: { ...this.checkpoint },
      snapshots: this.snapshots,
      lagSeconds: this.lagSeconds(durableTxid, nowMs),
      lastUploadAtMs: this.lastUploadAtMs,
      walSizeBytes: this.walSizeBytes,
      syncSeconds: this.syncSeconds,
      checkpointSeconds: this.checkpointSeconds,
    };
  }
}
