/**
 * Compaction and retention inside the daemon. A database is looked at only after it shipped
 * something new: each upload marks every level pending, and a level runs at its next
 * wall-clock boundary (Litestream's `now.Truncate(interval) + interval`), from the in-memory
 * index. Once every level has run, the database costs nothing again until its next upload:
 * an idle database makes no request. A released database keeps its index on disk, not in
 * memory, and takes it back for its next pass. Passes run one at a time for the whole
 * process (bounded memory); a failure is logged and retried later, never fatal.
 */
import { formatLtxFilename } from "../ltx/ltx_header.ts";
import type { PageEncoding } from "../ltx/ltx_encoder.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/replica_client.ts";
import { LevelIndex } from "./level_index.ts";
import { CompactionCounters } from "./metrics.ts";
import { countByLevel, runMaintenance } from "./maintain.ts";
import { type CompactionPolicy, levelBoundary } from "./policy.ts";

/** A failed pass is tried again after this (doubling up to the maximum). */
const RETRY_MS = 5_000;
const MAX_RETRY_MS = 5 * 60_000;

interface DatabaseCompaction {
  name: string;
  /** The staging directory, where a released database keeps its index. */
  dir: string | null;
  index: LevelIndex | null;
  /** Uploads while the index was not in memory: added when it is loaded or taken back. */
  unindexed: LtxFileInfo[];
  /**
   * Per level (index 0 = level 1): since when it has been pending (an upload after it last
   * ran), or null. It runs at the first wall-clock boundary after that.
   */
  pendingSince: (number | null)[];
  /** The last upload's time. */
  shippedAtMs: number;
  /**
   * When the files the last upload left inside the window and the linger may go (last upload
   * + pitr + l0 linger): one retention pass then, once every level ran; null when none is due.
   */
  retentionAtMs: number | null;
  running: boolean;
  failures: number;
  retryAtMs: number;
  released: boolean;
  /** The notes of the last pass (a lasting condition is warned about once, then at debug). */
  notes: string;
  /** The database's permission bits, for merged files in a file replica. */
  fileMode: number | undefined;
  /** The level-0 hole a snapshot was asked to heal (its first TXID), once per hole. */
  healing: number | null;
}

export interface SchedulerOptions {
  client: ReplicaClient;
  policy: CompactionPolicy;
  logger?: Logger;
  pageEncoding?: PageEncoding;
  /** Aborts a running pass at shutdown. */
  signal?: AbortSignal;
  /** The clock (tests). */
  now?: () => number;
  /**
   * A pass found TXIDs `fromTxid..toTxid` missing from level 0 with no snapshot bridging
   * them: level 1 stops there. The daemon takes a snapshot when staging no longer holds them
   * (true when it did). Asked once per hole; asked again if the answer is false.
   */
  onLevelZeroHole?: (name: string, fromTxid: number, toTxid: number) => Promise<boolean>;
}

export class CompactionScheduler {
  readonly policy: CompactionPolicy;
  readonly counters = new CompactionCounters();
  #client: ReplicaClient;
  #log: Logger;
  #options: SchedulerOptions;
  #databases = new Map<string, DatabaseCompaction>();
  #queue: Promise<void> = Promise.resolve();
  #now: () => number;

  constructor(options: SchedulerOptions) {
    this.#client = options.client;
    this.policy = options.policy;
    this.#log = options.logger ?? silentLogger;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.policy.levelIntervalsMs.length > 0;
  }

  /** The daemon stored `info` for `name` (an upload from staging). */
  shipped(name: string, dir: string | null, info: LtxFileInfo, fileMode?: number): void {
    if (!this.enabled) return;
    const db = this.#database(name, dir);
    if (fileMode !== undefined) db.fileMode = fileMode;
    if (db.index) db.index.add(info);
    else db.unindexed.push(info);
    const now = this.#now();
    db.pendingSince = db.pendingSince.map((since) => since ?? now);
    db.shippedAtMs = now;
    db.retentionAtMs = now + this.policy.pitrMs + this.policy.l0LingerMs;
  }

  /** Starts the passes that are due now; returns at once (they run one at a time). */
  pump(): void {
    const now = this.#now();
    for (const db of this.#databases.values()) {
      if (db.running || now < db.retryAtMs) continue;
      const due = this.#dueLevels(db, now);
      if (due.length > 0) this.#enqueue(db, due);
      else if (this.#retentionDue(db, now)) this.#enqueue(db, []);
    }
  }

  /**
   * The database was released: its index goes to disk once no pass runs. Pending levels still
   * run at their boundaries (taking the index back from disk, no listing).
   */
  release(name: string): void {
    const db = this.#databases.get(name);
    if (!db) return;
    db.released = true;
    this.#park(db);
  }

  /** The database is open again: its index comes back from disk at its next pass. */
  woken(name: string): void {
    const db = this.#databases.get(name);
    if (db) db.released = false;
  }

  /** Forgets a database that is no longer replicated. */
  forget(name: string): void {
    this.#databases.delete(name);
  }

  /** Waits for the passes queued so far. */
  async idle(): Promise<void> {
    await this.#queue;
  }

  /** Known files per database (tests, status). */
  indexSize(name: string): number | null {
    return this.#databases.get(name)?.index?.size ?? null;
  }

  #database(name: string, dir: string | null): DatabaseCompaction {
    let db = this.#databases.get(name);
    if (!db) {
      db = {
        name,
        dir,
        index: null,
        unindexed: [],
        pendingSince: this.policy.levelIntervalsMs.map(() => null),
        shippedAtMs: 0,
        retentionAtMs: null,
        running: false,
        failures: 0,
        retryAtMs: 0,
        released: false,
        notes: "",
        fileMode: undefined,
        healing: null,
      };
      this.#databases.set(name, db);
    }
    if (dir) db.dir = dir;
    db.released = false;
    return db;
  }

  /** Pending levels whose wall-clock boundary passed since the upload that made them so. */
  #dueLevels(db: DatabaseCompaction, now: number): number[] {
    const due: number[] = [];
    this.policy.levelIntervalsMs.forEach((interval, i) => {
      const since = db.pendingSince[i];
      if (since !== null && levelBoundary(interval, now) > since) due.push(i + 1);
    });
    return due;
  }

  /**
   * The retention pass the last upload scheduled: due once its time came and no level is
   * pending any more (a level's pass applies retention too).
   */
  #retentionDue(db: DatabaseCompaction, now: number): boolean {
    return db.retentionAtMs !== null && now >= db.retentionAtMs &&
      db.pendingSince.every((since) => since === null);
  }

  #enqueue(db: DatabaseCompaction, due: number[]): Promise<void> {
    db.running = true;
    const run = this.#queue.then(() => this.#pass(db, due)).finally(() => {
      db.running = false;
      if (db.released) this.#park(db);
    });
    this.#queue = run.catch(() => {});
    return this.#queue;
  }

  async #pass(db: DatabaseCompaction, due: number[]): Promise<void> {
    const now = this.#now();
    const signal = this.#options.signal;
    if (signal?.aborted) return;
    try {
      if (!db.index && db.dir) db.index = LevelIndex.restore(db.dir);
      if (!db.index) {
        db.index = await LevelIndex.load(
          this.#client,
          db.name,
          this.policy.levelIntervalsMs.length,
          signal,
        );
        this.#log.debug("listed the replica for compaction", { db: db.name, files: db.index.size });
      }
      for (const info of db.unindexed) db.index.add(info);
      db.unindexed = [];
      const report = await runMaintenance(this.#client, db.name, db.index, {
        nowMs: now,
        policy: this.policy,
        dueLevels: due,
        pageEncoding: this.#options.pageEncoding,
        tempDir: db.dir ?? undefined,
        fileMode: db.fileMode,
        signal,
        logger: this.#log,
      });
      // A level that ran is done, unless an upload came during the pass (not planned).
      for (const level of due) {
        db.pendingSince[level - 1] = db.shippedAtMs >= now ? db.shippedAtMs : null;
      }
      // A merge into level N leaves work for level N + 1 unless it ran in this pass too (it
      // then took the merge's output): it runs at its next boundary.
      for (const m of report.merges) {
        const above = m.output.level + 1;
        if (above <= db.pendingSince.length && !due.includes(above)) {
          db.pendingSince[above - 1] ??= now;
        }
      }
      // This pass applied retention as of now: the scheduled one is done if its time came.
      if (db.retentionAtMs !== null && now >= db.retentionAtMs) db.retentionAtMs = null;
      db.failures = 0;
      db.retryAtMs = 0;
      this.counters.passes++;
      for (const m of report.merges) this.counters.merged(m.output.level, m.output.sizeBytes);
      for (const f of report.deletions) this.counters.deletedFile(f.level);
      const notes = report.notes.join("\n");
      for (const note of report.notes) {
        if (notes !== db.notes) this.#log.warn(note, { db: db.name });
        else this.#log.debug(note, { db: db.name });
      }
      if (notes === "" && db.notes !== "") {
        this.#log.info("compaction continues normally again", { db: db.name });
      }
      db.notes = notes;
      this.#heal(db, report.gaps.find((g) => g.level === 0));
      if (report.merges.length > 0 || report.deletions.length > 0) {
        this.#log.debug("compaction pass", {
          db: db.name,
          levels: due.join(","),
          merged: report.merges.map((m) =>
            `${m.output.level}:${formatLtxFilename(m.output.minTxid, m.output.maxTxid)}`
          ).join(" "),
          deleted: countByLevel(report.deletions).files,
          files: db.index.size,
        });
      }
    } catch (error) {
      if (signal?.aborted) return;
      db.failures++;
      this.counters.errors++;
      const wait = Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** (db.failures - 1));
      db.retryAtMs = this.#now() + wait;
      // What the replica holds is uncertain after a failure: list it again next time.
      db.index = null;
      this.#log.warn("compaction failed; retrying later", {
        db: db.name,
        error,
        retryInMs: wait,
      });
    }
  }

  /**
   * A hole in level 0 that no snapshot bridges: the daemon may heal it with a snapshot (once
   * per hole; the snapshot's upload makes the levels pending again, and the next pass
   * compacts past it). Not awaited: the snapshot runs in the database's own queue.
   */
  #heal(db: DatabaseCompaction, gap: { fromTxid: number; toTxid: number } | undefined): void {
    const heal = this.#options.onLevelZeroHole;
    if (!gap || !heal || db.healing === gap.fromTxid) return;
    db.healing = gap.fromTxid;
    heal(db.name, gap.fromTxid, gap.toTxid).then(
      (started) => {
        if (!started && db.healing === gap.fromTxid) db.healing = null;
      },
      (error) => {
        if (db.healing === gap.fromTxid) db.healing = null;
        this.#log.warn("could not take the snapshot that heals a hole in level 0", {
          db: db.name,
          error,
        });
      },
    );
  }

  /** A released database keeps its index on disk, not in memory. */
  #park(db: DatabaseCompaction): void {
    if (!db.released || db.running || !db.index) return;
    if (db.dir) {
      try {
        db.index.save(db.dir);
      } catch (error) {
        this.#log.debug("could not keep the compaction index on disk", { db: db.name, error });
      }
    }
    db.index = null;
  }
}
