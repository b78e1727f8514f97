/**
 * The checksum side of `verify`: follows the walk (verify_walk.ts) with a table of page CRCs
 * (page_crc_table.ts) and checks the database checksum at every TXID the walk passes
 * against the one recorded with the object that ends there, so a restore to any of those
 * positions is known to verify. Other objects are checked against the same state without
 * changing it: a compaction [a..b] must give, applied there, the checksum recorded at b; a
 * snapshot's own pages must; and all objects that end at one TXID must agree. A complete file
 * (a snapshot, or a level-0 file holding every page) starts a new chain, so a page size may
 * change there and only there. The steps' pages are also written to a database file, so the
 * latest state gets SQLite's integrity check without a second download.
 */
import { CHECKSUM_FLAG, formatChecksum, lockPgno } from "../checksum/database_checksum.ts";
import { hasChecksums, isSnapshot, type LtxHeader, type LtxTrailer } from "../ltx/ltx_header.ts";
import { formatTxid } from "../ltx/ltx_header.ts";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { AppliedChecksum, PageCrcTable } from "./page_crc_table.ts";
import { PageWriter } from "./page_writer.ts";
import { describeFile } from "./plan.ts";
import type { WalkItem } from "./verify_walk.ts";

/** What the chain found; problems and notes in the order they were found. */
export interface ChainFindings {
  problems: string[];
  /** Objects without a database checksum to compare with (no metadata, no LTX checksums). */
  unrecorded: LtxFileInfo[];
  /** Objects the walk never reaches: only the object itself could be checked. */
  unreached: LtxFileInfo[];
}

/** One object being read: takes its pages, then tells what they give. */
export interface ObjectApply {
  page(pgno: number, page: Uint8Array): Promise<void>;
}

interface Applying extends ObjectApply {
  item: WalkItem;
  header: LtxHeader;
  /** The checksum at the object's MinTXID − 1, when the state is there (its pre-apply checksum). */
  before?: bigint;
  pageCount: number;
  /** XOR of the object's own page CRCs: the checksum it gives if it holds every page. */
  selfXor: bigint;
  /** The table the object's pages go into: the walk's own, or a new one. */
  table?: PageCrcTable;
  fresh: boolean;
  applied?: AppliedChecksum;
  writer?: PageWriter;
}

/** The TXIDs `from..to` as words: "TXID x" or "TXIDs x..y". */
export function txidRange(from: number, to: number): string {
  return from === to ? `TXID ${formatTxid(from)}` : `TXIDs ${formatTxid(from)}..${formatTxid(to)}`;
}

export class ChainChecker {
  readonly findings: ChainFindings = { problems: [], unrecorded: [], unreached: [] };
  /** The state at `txid`; null before the first snapshot or after an object failed. */
  #table: PageCrcTable | null = null;
  #txid = 0;
  /** Where the walk lost its state: positions from there on are not checked until it heals. */
  #broken: { label: string; from: number } | null = null;
  /** The state disagrees with a recorded checksum since that object; later ones follow it. */
  #diverged: { label: string; count: number; last: number } | null = null;
  /** The first trusted checksum at each TXID still awaited from other objects. */
  #atTxid = new Map<number, { checksum: bigint; label: string }>();
  #remaining = new Map<number, number>();
  /** The database file the steps are written to, and whether it holds the table's state. */
  readonly #db: Deno.FsFile;
  readonly #dbPath: string;
  #dbValid = false;

  constructor(items: WalkItem[], db: { file: Deno.FsFile; path: string }) {
    for (const { file } of items) {
      this.#remaining.set(file.maxTxid, (this.#remaining.get(file.maxTxid) ?? 0) + 1);
    }
    this.#db = db.file;
    this.#dbPath = db.path;
  }

  /** The TXID of the walk's state, and whether the database file holds it, sound. */
  get latest(): { txid: number; checksum: bigint; dbPath: string } | null {
    if (this.#table === null || this.#diverged !== null || !this.#dbValid) return null;
    return { txid: this.#txid, checksum: this.#table.value, dbPath: this.#dbPath };
  }

  /** Starts reading an object whose header is `header`. */
  async begin(item: WalkItem, header: LtxHeader): Promise<ObjectApply> {
    const applying: Applying = {
      item,
      header,
      pageCount: 0,
      selfXor: 0n,
      fresh: false,
      page: (pgno, page) => this.#page(applying, pgno, page),
    };
    const table = this.#table;
    const samePageSize = table !== null && table.pageSize === header.pageSize;
    if (item.role === "step") {
      applying.before = samePageSize && this.#txid === header.minTxid - 1 ? table.value : undefined;
      if (samePageSize) {
        applying.table = table;
      } else {
        applying.table = new PageCrcTable(header.pageSize);
        applying.fresh = true;
      }
      await this.#startWriting(applying);
    } else if (item.role === "check") {
      const replaces = isSnapshot(header) && this.#txid > 0 &&
        (table === null || this.#diverged !== null);
      if (replaces) {
        // A snapshot just before the walk passes its TXID: if the walk's state is lost or
        // wrong, the snapshot's becomes the walk's (it is what a restore would start from).
        applying.table = new PageCrcTable(header.pageSize);
        applying.fresh = true;
        await this.#startWriting(applying);
      } else if (samePageSize && this.#broken === null) {
        if (this.#txid === header.minTxid - 1) applying.before = table.value;
        applying.applied = new AppliedChecksum(table);
      }
    }
    return applying;
  }

  /** The object could not be read to its end: a step takes the walk's state with it. */
  fail(item: WalkItem, applying?: ObjectApply): void {
    const fresh = (applying as Applying | undefined)?.fresh ?? false;
    if (item.role === "step" || fresh) this.#dbValid = false;
    if (item.role === "step") {
      this.#flushDiverged();
      this.#table = null;
      this.#txid = item.file.maxTxid;
      this.#broken ??= { label: describeFile(item.file), from: item.file.maxTxid };
    }
    this.#done(item.file);
  }

  /** The object was read to its end (its LTX checksum verified): check what it gives. */
  async end(applying: ObjectApply, trailer: LtxTrailer): Promise<void> {
    const a = applying as Applying;
    const { item, header } = a;
    const file = item.file;
    const label = describeFile(file);
    const problems = this.findings.problems;
    await a.writer?.flush();
    const lock = lockPgno(header.pageSize);
    const complete = a.pageCount === header.commit - (header.commit >= lock ? 1 : 0);

    const recorded = file.databaseChecksum;
    const postApply = hasChecksums(header) ? trailer.postApplyChecksum : undefined;
    if (recorded !== undefined && postApply !== undefined && recorded !== postApply) {
      problems.push(
        `${label}: its post-apply checksum ${formatChecksum(postApply)} differs from the recorded ${
          formatChecksum(recorded)
        }`,
      );
    }
    const expected = recorded ?? postApply;
    if (expected === undefined) this.findings.unrecorded.push(file);
    if (
      a.before !== undefined && this.#diverged === null && hasChecksums(header) &&
      !isSnapshot(header) && header.preApplyChecksum !== a.before
    ) {
      problems.push(
        `${label}: its pre-apply checksum ${
          formatChecksum(header.preApplyChecksum)
        } differs from the database's ${formatChecksum(a.before)} at TXID ${
          formatTxid(file.minTxid - 1)
        }`,
      );
    }

    // What the object gives at its last TXID, and whether that depends on the walk's state.
    let result: bigint | undefined;
    let dependent = false;
    const self = CHECKSUM_FLAG | a.selfXor;
    if (item.role === "step") {
      if (!a.fresh) {
        a.table!.truncate(header.commit);
        result = a.table!.value;
        dependent = !complete;
        if (complete) this.#healed(file);
      } else if (complete) {
        a.table!.truncate(header.commit);
        this.#table = a.table!;
        result = this.#table.value;
        this.#healed(file);
      } else {
        if (this.#table !== null) {
          problems.push(
            `${label} has page size ${header.pageSize}, but the database at TXID ${
              formatTxid(item.at)
            } it applies to has ${this.#table.pageSize}; only a snapshot can change the page size`,
          );
        }
        this.#flushDiverged();
        this.#table = null;
        this.#dbValid = false;
        this.#broken ??= { label, from: file.maxTxid };
      }
      this.#txid = file.maxTxid;
      if (this.#table !== null) await this.#truncateDb(header);
    } else if (complete) {
      result = self;
    } else if (a.applied !== undefined) {
      result = a.applied.result(header.commit);
      dependent = true;
    } else if (item.role === "alone") {
      this.findings.unreached.push(file);
    } else if (this.#table !== null && this.#broken === null) {
      problems.push(
        `${label} has page size ${header.pageSize}, but the database at TXID ${
          formatTxid(item.at)
        } it applies to has ${this.#table.pageSize}; only a snapshot can change the page size`,
      );
    }

    const trusted = result !== undefined &&
      this.#compare(a, { result, expected, dependent, recorded });
    if (a.fresh && item.role === "check") {
      if (trusted) {
        await this.#adopt(a);
      } else {
        this.#dbValid = false; // it holds the snapshot's pages now, not the walk's state
      }
    }
    this.#done(file);
  }

  /** Ends the walk: what is still open is reported, up to the TXID the walk reached. */
  finish(reach: number): void {
    this.#flushDiverged();
    if (this.#broken !== null && this.#broken.from <= reach) {
      this.#pushBroken(reach);
    }
    this.#broken = null;
  }

  /** Compares what an object gives with what is expected; true when it can be trusted. */
  #compare(
    a: Applying,
    found: { result: bigint; expected?: bigint; dependent: boolean; recorded?: bigint },
  ): boolean {
    const { item } = a;
    const file = item.file;
    const label = describeFile(file);
    const { result, expected, dependent } = found;
    const problems = this.findings.problems;
    if (expected !== undefined && result !== expected) {
      if (dependent && this.#diverged !== null) {
        this.#diverged.count++;
        this.#diverged.last = Math.max(this.#diverged.last, file.maxTxid);
        return false;
      }
      const which = found.recorded !== undefined ? "is recorded" : "is its post-apply checksum";
      const at = formatTxid(file.maxTxid);
      if (!dependent) {
        problems.push(
          `${label}: its pages give database checksum ${
            formatChecksum(result)
          } at TXID ${at}, but ${formatChecksum(expected)} ${which}`,
        );
      } else if (item.role === "step") {
        problems.push(
          `${label}: applied to the database at TXID ${formatTxid(item.at)}, it gives checksum ${
            formatChecksum(result)
          } at TXID ${at}, but ${formatChecksum(expected)} ${which}; a restore to TXID ${at} fails`,
        );
      } else {
        problems.push(
          `${label}: applied to the database at TXID ${formatTxid(item.at)}, it gives checksum ${
            formatChecksum(result)
          } at TXID ${at}, but ${formatChecksum(expected)} ${which}; restores through it fail`,
        );
      }
      if (item.role === "step") {
        this.#flushDiverged();
        this.#diverged = { label, count: 0, last: file.maxTxid };
      }
      return false;
    }
    if (dependent && this.#diverged !== null) {
      // Without a recorded checksum nothing tells whether the state is right again.
      if (expected === undefined || item.role !== "step") return false;
      this.#flushDiverged();
    }
    const other = this.#atTxid.get(file.maxTxid);
    if (other === undefined) {
      this.#atTxid.set(file.maxTxid, { checksum: result, label });
    } else if (other.checksum !== result) {
      problems.push(
        `${other.label} and ${label} give different database checksums at TXID ${
          formatTxid(file.maxTxid)
        } (${formatChecksum(other.checksum)} and ${
          formatChecksum(result)
        }): a restore through one of them is wrong`,
      );
      return false;
    }
    return true;
  }

  /** A snapshot checked against a lost or wrong state becomes the walk's state. */
  async #adopt(a: Applying): Promise<void> {
    a.table!.truncate(a.header.commit);
    this.#table = a.table!;
    this.#txid = a.item.file.maxTxid;
    this.#healed(a.item.file);
    await this.#truncateDb(a.header);
  }

  /** A complete object gave the walk a known state again. */
  #healed(file: LtxFileInfo): void {
    this.#flushDiverged();
    if (this.#broken !== null) {
      if (this.#broken.from < file.maxTxid) this.#pushBroken(file.maxTxid - 1);
      this.#broken = null;
    }
    this.#dbValid = true;
  }

  #pushBroken(to: number): void {
    const { label, from } = this.#broken!;
    this.findings.problems.push(
      `${label} could not be applied, so the database checksums at ${
        txidRange(from, to)
      } were not checked`,
    );
  }

  #flushDiverged(): void {
    const diverged = this.#diverged;
    this.#diverged = null;
    if (diverged === null || diverged.count === 0) return;
    this.findings.problems.push(
      `${diverged.count} later ${diverged.count === 1 ? "position" : "positions"} up to TXID ${
        formatTxid(diverged.last)
      } differ from their recorded checksums too, following ${diverged.label}`,
    );
  }

  async #page(a: Applying, pgno: number, page: Uint8Array): Promise<void> {
    const crc = PageCrcTable.crcOf(pgno, page);
    a.pageCount++;
    a.selfXor ^= crc;
    a.table?.set(pgno, crc);
    a.applied?.add(pgno, crc);
    await a.writer?.write(pgno, page);
  }

  /** Pages of a step (or of a snapshot taking over) go to the database file too. */
  async #startWriting(a: Applying): Promise<void> {
    if (a.fresh) await this.#db.truncate(0);
    a.writer = new PageWriter(this.#db, a.header.pageSize, { path: this.#dbPath });
  }

  async #truncateDb(header: LtxHeader): Promise<void> {
    await this.#db.truncate(header.commit * header.pageSize);
  }

  #done(file: LtxFileInfo): void {
    const left = (this.#remaining.get(file.maxTxid) ?? 1) - 1;
    if (left > 0) {
      this.#remaining.set(file.maxTxid, left);
    } else {
      this.#remaining.delete(file.maxTxid);
      this.#atTxid.delete(file.maxTxid);
    }
  }
}
