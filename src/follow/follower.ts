/**
 * Follows one database of a replica into a local copy: restores it (verified, as `restore`
 * does), then on every `poll` applies each new TXID in order, atomically for SQLite readers
 * (atomic_apply.ts). It bridges from higher levels when level 0 no longer continues from the
 * copy's TXID, and re-restores when the primary was reset (the replica ends before the copy,
 * or nothing continues from it), when the page size changed, or when one object is too large
 * to apply in place.
 */
import { readFullySync } from "../db/database.ts";
import { WalsyncError } from "../errors.ts";
import { type Logger } from "../log.ts";
import { SNAPSHOT_LEVEL } from "../ltx/ltx_header.ts";
import { isFileNotFound, type LtxFileInfo, type ReplicaClient } from "../replica/replica_client.ts";
import { listAllFiles, PLAN_ATTEMPTS } from "../restore/apply.ts";
import { planRestore, RestorePlanError } from "../restore/plan.ts";
import { applyAtomically, CopyWriteError, type PageImage } from "./atomic_apply.ts";
import { changeCounterOf, nextChangeCounter, patchPage1, primaryFieldsOf } from "./copy_header.ts";
import { type FollowPosition, writeFollowRecord } from "./follow_position.ts";
import {
  type ByteBudget,
  checksumAfter,
  DEFAULT_MAX_APPLY_BYTES,
  fetchVerified,
} from "./next_file.ts";
import { openCopy, restoreCopy } from "./copy_restore.ts";

export interface FollowerOptions {
  client: ReplicaClient;
  /** The database's name in the replica. */
  name: string;
  /** The copy. */
  path: string;
  logger: Logger;
  maxApplyBytes?: number;
  /** Shared by every follower of the process: bounds the objects held in memory at once. */
  budget?: ByteBudget;
  /** Tests only: apply without lock or journal (see atomic_apply.ts). */
  unsafe?: boolean;
}

/** Every this many polls, all levels are listed instead of level 0 alone. */
export const FULL_LISTING_POLLS = 60;

/** Bytes reserved per object byte while it is applied: the object plus its decoded pages. */
const PAGES_PER_OBJECT_BYTE = 6;
/** Restores in a row without progress before a poll fails instead (retried with backoff). */
const MAX_RESTORES_IN_A_ROW = 3;

/** Why the copy is rebuilt from a snapshot instead of advanced. */
class RestartFromSnapshot extends WalsyncError {}

export class Follower {
  readonly name: string;
  readonly path: string;
  #options: FollowerOptions;
  #log: Logger;
  #position: FollowPosition | null = null;
  #pollsSinceFullListing = 0;
  /** The highest level-0 TXID at the last poll (-1 before the first). */
  #level0Max = -1;
  /** Restores without a poll that completed in between (a loop guard). */
  #restoresInARow = 0;

  constructor(options: FollowerOptions) {
    this.#options = options;
    this.name = options.name;
    this.path = options.path;
    this.#log = options.logger.with({ db: options.name });
  }

  /**
   * Milliseconds from the newest applied object's creation in the replica to its apply (null
   * before the first): what `status` and metrics can report as follower lag.
   */
  lastLagMs: number | null = null;

  /** The highest TXID the replica held at the last listing (0 before the first). */
  replicaTxid = 0;

  /** The copy's TXID, 0 before it exists. */
  get txid(): number {
    return this.#position?.txid ?? 0;
  }

  /** Applies every TXID the replica has past the copy's; returns how many files it applied. */
  async poll(signal?: AbortSignal): Promise<number> {
    if (this.#position !== null && !copyExists(this.path)) {
      this.#log.warn("the copy disappeared; restoring it", { path: this.path });
      this.#position = null;
    }
    if (this.#position === null) {
      this.#position = await openCopy(this.#copyOptions(), signal);
    }
    try {
      const applied = await this.#advance(signal);
      this.#restoresInARow = 0;
      return applied;
    } catch (error) {
      if (!(error instanceof RestartFromSnapshot)) throw error;
      if (++this.#restoresInARow > MAX_RESTORES_IN_A_ROW) {
        throw new WalsyncError(
          `The copy was restored ${MAX_RESTORES_IN_A_ROW} times in a row and still ${error.message}`,
        );
      }
      this.#log.warn("restoring the copy from the latest snapshot", { reason: error.message });
      this.#position = await restoreCopy(this.#copyOptions(), { old: this.#position, signal });
      return 1;
    }
  }

  #copyOptions() {
    const { client, name, path } = this.#options;
    return { client, name, path, logger: this.#log };
  }

  /** `relists`: listed files that vanished so far; list every level again (a few times). */
  async #advance(signal?: AbortSignal, relists = 0): Promise<number> {
    const { client, name } = this.#options;
    const position = this.#position!;
    // New TXIDs appear at level 0 first; a follower that was stopped (or fell behind a
    // compaction) finds them only higher up, so every level is listed at start-up, every
    // FULL_LISTING_POLLS polls, and when level 0 changed but ends below the copy (a reset
    // primary starts over; a compacted one leaves level 0 behind, unchanged).
    let fullListing = relists > 0 || this.#pollsSinceFullListing++ % FULL_LISTING_POLLS === 0;
    let listed = fullListing
      ? await listAllFiles(client, name, signal)
      : await client.listFiles(name, 0, signal);
    const level0Max = maxTxidOf(listed.filter((f) => f.level === 0));
    if (!fullListing && level0Max < position.txid && level0Max !== this.#level0Max) {
      listed = await listAllFiles(client, name, signal);
      fullListing = true;
    }
    this.#level0Max = level0Max;
    const replicaMax = maxTxidOf(listed);
    this.replicaTxid = replicaMax;
    if (fullListing && listed.length > 0 && replicaMax < position.txid) {
      throw new RestartFromSnapshot(
        `the replica ends at TXID ${replicaMax}, before the copy's ${position.txid}: the primary was reset`,
      );
    }
    if (replicaMax <= position.txid) return 0;
    const level0 = listed.filter((f) => f.level === 0);
    let chain = chainFrom(level0, position.txid);
    if (chain === null) {
      // Level 0 was compacted away past the copy's TXID: bridge through higher levels.
      chain = chainFrom(
        fullListing ? listed : await listAllFiles(client, name, signal),
        position.txid,
      );
      if (chain === null) {
        throw new RestartFromSnapshot(
          `nothing in the replica continues from TXID ${position.txid}`,
        );
      }
      this.#log.info("bridging from higher levels", {
        txid: position.txid,
        levels: [...new Set(chain.map((f) => f.level))],
      });
    }
    let applied = 0;
    for (const info of chain) {
      signal?.throwIfAborted();
      try {
        await this.#apply(info, signal);
      } catch (error) {
        // Retention deleted it after the listing (compaction merged it into a higher level
        // meanwhile): the copy is still at its last applied TXID; list again.
        if (!isFileNotFound(error) || relists >= PLAN_ATTEMPTS - 1 || signal?.aborted) {
          throw error;
        }
        this.#log.debug("a listed replica file vanished; listing again", {
          txid: this.#position!.txid,
          error: (error as Error).message,
        });
        return applied + await this.#advance(signal, relists + 1);
      }
      applied++;
    }
    return applied;
  }

  /** Verifies one object completely, then applies it. */
  async #apply(info: LtxFileInfo, signal?: AbortSignal): Promise<void> {
    const maxBytes = this.#options.maxApplyBytes ?? DEFAULT_MAX_APPLY_BYTES;
    if (info.sizeBytes > maxBytes) {
      throw new RestartFromSnapshot(`TXID ${info.maxTxid} is larger than ${maxBytes} bytes`);
    }
    const budget = this.#options.budget;
    // The object and its decoded pages (each at most `maxBytes`; pages compress 2–4×).
    const heldBytes = Math.min(2 * maxBytes, PAGES_PER_OBJECT_BYTE * info.sizeBytes);
    await budget?.acquire(heldBytes);
    try {
      await this.#applyWithin(info, maxBytes, signal);
    } finally {
      budget?.release(heldBytes);
    }
  }

  async #applyWithin(info: LtxFileInfo, maxBytes: number, signal?: AbortSignal): Promise<void> {
    const { client, name, path } = this.#options;
    const position = this.#position!;
    const fetched = await fetchVerified(client, { name, info, maxBytes, signal });
    if (fetched === "too-large") {
      throw new RestartFromSnapshot(`TXID ${info.maxTxid} is larger than ${maxBytes} bytes`);
    }
    if (fetched.header.pageSize !== position.pageSize) {
      throw new RestartFromSnapshot(
        `the page size changed from ${position.pageSize} to ${fetched.header.pageSize}`,
      );
    }
    const copy = Deno.openSync(path, { read: true });
    let checksum: bigint;
    const page1 = new Uint8Array(position.pageSize);
    try {
      checksum = checksumAfter(copy, { position, file: fetched, name });
      readFullySync(copy, page1, 0);
    } finally {
      copy.close();
    }
    if (changeCounterOf(page1) !== position.changeCounter) {
      throw new RestartFromSnapshot(
        `"${path}" was changed by something other than walsync (its change counter is ${
          changeCounterOf(page1)
        }, walsync wrote ${position.changeCounter})`,
      );
    }
    const pageCount = fetched.header.commit;
    const changeCounter = nextChangeCounter(position.changeCounter);
    const pages: PageImage[] = fetched.pages;
    let primaryFields = position.primaryFields;
    if (pages[0]?.pgno === 1) {
      primaryFields = primaryFieldsOf(pages[0].data);
      page1.set(pages[0].data);
      pages[0] = { pgno: 1, data: page1 };
    } else {
      pages.unshift({ pgno: 1, data: page1 });
    }
    patchPage1(page1, { changeCounter, pageCount });
    const next: FollowPosition = {
      txid: info.maxTxid,
      checksum,
      pageSize: position.pageSize,
      pageCount,
      primaryFields,
      changeCounter,
    };
    await writeFollowRecord(path, { name, current: next, previous: position });
    try {
      await applyAtomically({
        path,
        pageSize: position.pageSize,
        pages,
        pageCount,
        unsafe: this.#options.unsafe,
      });
    } catch (error) {
      // A write that failed half-way left a journal: the next poll starts as a restart does
      // (rolls it back, then checks the copy against the recorded positions).
      if (error instanceof CopyWriteError) this.#position = null;
      throw error;
    }
    this.#position = next;
    this.lastLagMs = Date.now() - info.createdAt.getTime();
    this.#log.debug("applied", {
      txid: next.txid,
      ltxLevel: info.level,
      pages: pages.length,
      lagMs: this.lastLagMs,
    });
  }
}

function copyExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function maxTxidOf(files: LtxFileInfo[]): number {
  return files.reduce((max, f) => Math.max(max, f.maxTxid), 0);
}

/**
 * The files that take a copy at `txid` to the newest TXID, reusing the restore planner: the
 * copy stands in for a snapshot ending at `txid` (a level-9 entry, so it wins a tie), and every
 * later file may continue it. Null when no chain continues from `txid`.
 */
export function chainFrom(files: LtxFileInfo[], txid: number): LtxFileInfo[] | null {
  const copy: LtxFileInfo = {
    level: SNAPSHOT_LEVEL,
    minTxid: 1,
    maxTxid: txid,
    sizeBytes: 0,
    createdAt: new Date(0),
  };
  const later = files.filter((f) => f.level !== SNAPSHOT_LEVEL && f.maxTxid > txid);
  if (later.length === 0) return null;
  try {
    return planRestore([copy, ...later], { kind: "latest" }).files.filter((f) => f !== copy);
  } catch (error) {
    if (error instanceof RestorePlanError) return null;
    throw error;
  }
}
