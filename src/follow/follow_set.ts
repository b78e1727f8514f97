/**
 * Many followers in one process: one database (`replicate NAME -o PATH`) or every database of
 * the replica whose name matches (`--all`, or a glob) into a directory, picking up new ones
 * from a periodic listing. A follower holds no connection or descriptor between polls (a few
 * hundred bytes each), and at most `concurrency` poll at once, so memory stays flat at
 * thousands of databases. A follower whose replica does not verify stops at error level; any
 * other failure is logged and retried with backoff.
 */
import { ChecksumMismatchError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { RestorePlanError } from "../restore/plan.ts";
import { ForeignCopyError } from "./copy_restore.ts";
import { Follower } from "./follower.ts";
import { ByteBudget, DEFAULT_APPLY_BUDGET_BYTES, FollowVerificationError } from "./next_file.ts";

export const DEFAULT_INTERVAL_MS = 1000;
/** How often `--all` lists the replica's databases for new ones. */
export const DEFAULT_DISCOVER_INTERVAL_MS = 10_000;
/** How often a running follower logs one line about all its databases. */
export const DEFAULT_SUMMARY_INTERVAL_MS = 60_000;
/** Followers polling at once. */
export const DEFAULT_CONCURRENCY = 8;
/** Polls a new database may find no restorable file before that is a warning. */
const ARRIVING_POLLS = 3;
/** The longest wait between retries of a failing follower. */
const MAX_BACKOFF_MS = 60_000;

export type FollowTargets =
  | { kind: "one"; name: string; path: string }
  | { kind: "many"; dir: string; match: RegExp | null };

export interface FollowSetOptions {
  client: ReplicaClient;
  logger: Logger;
  targets: FollowTargets;
  intervalMs?: number;
  discoverIntervalMs?: number;
  concurrency?: number;
  /** How often the summary line is logged (default DEFAULT_SUMMARY_INTERVAL_MS). */
  summaryIntervalMs?: number;
  /** Catch every follower up once, then return. */
  once?: boolean;
  /** Tests only: apply without lock or journal. */
  unsafe?: boolean;
}

interface Entry {
  follower: Follower;
  lastPollOkAt: number | null;
  dueAt: number;
  failures: number;
  stopped: boolean;
  /** The last poll's error, null once a poll succeeds. */
  lastError: string | null;
}

export interface FollowStatus {
  name: string;
  path: string;
  txid: number;
  /** The highest TXID in the replica at its last listing. */
  replicaTxid: number;
  state: "following" | "failing" | "stopped";
  lastLagMs: number | null;
  /** When its last poll succeeded (ms since the epoch), null before the first. */
  lastPollOkAt: number | null;
  /** Why its last poll failed (or why it stopped), null while it follows. */
  lastError: string | null;
}

export interface FollowSummary {
  followed: number;
  /** Databases that stopped (did not verify, or a foreign file at their path). */
  stopped: string[];
  /** Databases that failed their last poll and would be retried. */
  failing: string[];
}

export class FollowSet {
  #options: FollowSetOptions;
  #entries = new Map<string, Entry>();
  #budget = new ByteBudget(DEFAULT_APPLY_BUDGET_BYTES);
  /** The last listing of the replica's databases failed. */
  #discoveryFailing = false;
  /** Since the last summary line: files applied, and the highest lag among them. */
  #appliedSinceSummary = 0;
  #maxLagSinceSummaryMs = 0;
  #log: Logger;

  constructor(options: FollowSetOptions) {
    this.#options = options;
    this.#log = options.logger;
    const targets = options.targets;
    if (targets.kind === "one") this.#add(targets.name, targets.path);
  }

  /** Every followed database: its copy's TXID, state and last lag (for status and metrics). */
  status(): FollowStatus[] {
    return [...this.#entries.values()].map((e) => ({
      name: e.follower.name,
      path: e.follower.path,
      txid: e.follower.txid,
      replicaTxid: e.follower.replicaTxid,
      state: e.stopped ? "stopped" : e.failures > 0 ? "failing" : "following",
      lastLagMs: e.follower.lastLagMs,
      lastPollOkAt: e.lastPollOkAt,
      lastError: e.lastError,
    }));
  }

  async run(signal: AbortSignal): Promise<FollowSummary> {
    const intervalMs = this.#options.intervalMs ?? DEFAULT_INTERVAL_MS;
    const discoverMs = this.#options.discoverIntervalMs ?? DEFAULT_DISCOVER_INTERVAL_MS;
    let discoverAt = 0;
    const summaryMs = this.#options.summaryIntervalMs ?? DEFAULT_SUMMARY_INTERVAL_MS;
    let summaryAt = Date.now() + summaryMs;
    while (!signal.aborted) {
      if (Date.now() >= summaryAt) {
        this.#logSummary();
        summaryAt = Date.now() + summaryMs;
      }
      if (this.#options.targets.kind === "many" && Date.now() >= discoverAt) {
        await this.#discover(signal);
        discoverAt = Date.now() + discoverMs;
      }
      const now = Date.now();
      const due = [...this.#entries.values()].filter((e) => !e.stopped && e.dueAt <= now);
      await eachLimited(due, this.#options.concurrency ?? DEFAULT_CONCURRENCY, async (e) => {
        if (this.#options.once) {
          while (!signal.aborted && await this.#step(e, intervalMs, signal) > 0);
        } else {
          await this.#step(e, intervalMs, signal);
        }
      });
      if (this.#options.once) break;
      const next = Math.min(
        discoverAt,
        summaryAt,
        ...[...this.#entries.values()].filter((e) => !e.stopped).map((e) => e.dueAt),
      );
      await sleep(Math.max(0, Math.min(next, Date.now() + intervalMs) - Date.now()), signal);
    }
    const all = [...this.#entries.values()];
    return {
      followed: all.length,
      stopped: all.filter((e) => e.stopped).map((e) => e.follower.name),
      failing: [
        ...(this.#discoveryFailing ? ["(the replica's list of databases)"] : []),
        ...all.filter((e) => !e.stopped && e.failures > 0).map((e) => e.follower.name),
      ],
    };
  }

  /** One poll; returns the files applied, 0 on failure. */
  async #step(entry: Entry, intervalMs: number, signal: AbortSignal): Promise<number> {
    const { follower } = entry;
    try {
      const applied = await follower.poll(signal);
      if (applied > 0) {
        this.#appliedSinceSummary += applied;
        this.#maxLagSinceSummaryMs = Math.max(
          this.#maxLagSinceSummaryMs,
          follower.lastLagMs ?? 0,
        );
      }
      if (entry.failures > 0) this.#log.info("following again", { db: follower.name });
      entry.failures = 0;
      entry.lastError = null;
      entry.lastPollOkAt = Date.now();
      entry.dueAt = Date.now() + intervalMs;
      return applied;
    } catch (error) {
      if (signal.aborted) return 0;
      entry.lastError = error instanceof Error ? error.message : String(error);
      const fields = { db: follower.name, path: follower.path, error };
      if (
        error instanceof FollowVerificationError || error instanceof ChecksumMismatchError ||
        error instanceof ForeignCopyError
      ) {
        entry.stopped = true;
        this.#log.error("stopped following this database", { ...fields, txid: follower.txid });
        return 0;
      }
      entry.failures++;
      const retryMs = Math.min(MAX_BACKOFF_MS, intervalMs * 2 ** Math.min(entry.failures, 16));
      entry.dueAt = Date.now() + retryMs;
      // A database listed while its first file is still being written: not a failure yet.
      const arriving = error instanceof RestorePlanError && follower.txid === 0 &&
        entry.failures <= ARRIVING_POLLS;
      this.#log[arriving ? "debug" : "warn"]("follow failed; will retry", { ...fields, retryMs });
      return 0;
    }
  }

  /** One line a minute: how many databases, how many in trouble, what was applied. */
  #logSummary(): void {
    const states = this.status().map((s) => s.state);
    this.#log.info("follower summary", {
      databases: states.length,
      failing: states.filter((s) => s === "failing").length,
      stopped: states.filter((s) => s === "stopped").length,
      applied: this.#appliedSinceSummary,
      maxLagMs: this.#maxLagSinceSummaryMs,
    });
    this.#appliedSinceSummary = 0;
    this.#maxLagSinceSummaryMs = 0;
  }

  async #discover(signal: AbortSignal): Promise<void> {
    const targets = this.#options.targets;
    if (targets.kind !== "many") return;
    let names: string[];
    try {
      names = await this.#options.client.listDatabases(signal);
      this.#discoveryFailing = false;
    } catch (error) {
      if (!signal.aborted) this.#log.warn("cannot list the replica's databases", { error });
      this.#discoveryFailing = true;
      return;
    }
    for (const name of names) {
      if (this.#entries.has(name) || (targets.match && !targets.match.test(name))) continue;
      if (name.split("/").some((s) => s === ".." || s === "." || s === "")) {
        this.#log.warn("skipping a database whose name is not a safe path", { db: name });
        continue;
      }
      this.#add(name, `${targets.dir}/${name}`);
      this.#log.info("following", { db: name });
    }
  }

  #add(name: string, path: string): void {
    const { client, logger, unsafe } = this.#options;
    const budget = this.#budget;
    const follower = new Follower({ client, name, path, logger, unsafe, budget });
    this.#entries.set(name, {
      follower,
      lastPollOkAt: null,
      dueAt: 0,
      failures: 0,
      stopped: false,
      lastError: null,
    });
  }
}

/** Runs `work` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
