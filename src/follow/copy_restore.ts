/**
 * A follower's copy from scratch or on restart. Scratch: `restore` (every object and the final
 * database checksum verified, integrity-checked) into `PATH.walsync-follow-new`, page 1 turned
 * into the copy's (copy_header.ts), position recorded, then the copy replaced: in place under
 * SQLite's lock with a journal when one exists with the same page size (readers keep their
 * file), else by a rename. Restart: a journal left by a killed apply is played back first,
 * then the copy must match one of the two positions recorded.
 */
import { syncDirectory } from "../durable.ts";
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ReplicaClient } from "../replica/replica_client.ts";
import { restore } from "../restore/apply.ts";
import { hasJournal, readCopyState, rollBackHotJournal } from "./copy_check.ts";
import { readFullySync } from "../db/database.ts";
import { replaceAtomically } from "./atomic_apply.ts";
import { changeCounterOf, nextChangeCounter, patchPage1, primaryFieldsOf } from "./copy_header.ts";
import {
  type FollowPosition,
  FollowPositionError,
  type FollowRecord,
  readFollowRecord,
  removeFollowRecord,
  writeFollowRecord,
} from "./follow_position.ts";

export const RESTORE_SUFFIX = ".walsync-follow-new";
/** The database header's size: page size at 16, change counter at 24. */
const HEADER_BYTES = 100;

export interface CopyOptions {
  client: ReplicaClient;
  name: string;
  path: string;
  logger: Logger;
}

/** A file at PATH that walsync did not write: never touched. */
export class ForeignCopyError extends UsageError {}

/** Throws unless PATH is missing or a copy of `name` that walsync wrote. */
export function refuseForeignCopy(
  path: string,
  options: { name: string; record?: FollowRecord | null },
): void {
  const name = options.name;
  const record = options.record === undefined ? readFollowRecordOrNull(path) : options.record;
  if (!exists(path) || record?.name === name) return;
  throw new ForeignCopyError(
    record
      ? `"${path}" follows "${record.name}", not "${name}"; choose another -o`
      : `"${path}" exists and is not a walsync follower copy (no "${path}.walsync-follow"); remove it or choose another -o`,
  );
}

function readFollowRecordOrNull(path: string): FollowRecord | null {
  try {
    return readFollowRecord(path);
  } catch {
    return null;
  }
}

/** The copy's verified position at start-up, restoring or repairing it as needed. */
export async function openCopy(
  options: CopyOptions,
  signal?: AbortSignal,
): Promise<FollowPosition> {
  const { path, name, logger: log } = options;
  let record: FollowRecord | null = null;
  try {
    record = readFollowRecord(path);
  } catch (error) {
    if (!(error instanceof FollowPositionError)) throw error;
    log.warn("position file damaged; restoring the copy again", { reason: error.message });
    return await restoreCopy(options, { old: null, signal });
  }
  if (!exists(path)) {
    if (record) removeFollowRecord(path);
    return await restoreCopy(options, { old: null, signal });
  }
  refuseForeignCopy(path, { name, record });
  if (record === null) throw new ForeignCopyError(`"${path}" has no position file`);
  if (hasJournal(path)) {
    log.warn("a killed apply left a journal; rolling it back", { path });
    rollBackHotJournal(path);
  }
  for (const candidate of [record.current, record.previous]) {
    if (candidate === null) continue;
    const state = await readCopyState(path, candidate.primaryFields);
    if (state && state.pageSize === candidate.pageSize && state.checksum === candidate.checksum) {
      log.info("copy verified", { txid: candidate.txid, path });
      return { ...candidate, pageCount: state.pageCount, changeCounter: state.changeCounter };
    }
  }
  log.warn("the copy does not match its recorded position; restoring it again", {
    txid: record.current.txid,
    path,
  });
  return await restoreCopy(options, { old: record.current, signal });
}

/** Restores the latest state into a new file, then replaces the copy with it (see below). */
export async function restoreCopy(
  options: CopyOptions,
  { old, signal }: { old: FollowPosition | null; signal?: AbortSignal },
): Promise<FollowPosition> {
  const { client, name, path, logger } = options;
  const staging = `${path}${RESTORE_SUFFIX}`;
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  Deno.mkdirSync(dir, { recursive: true });
  for (const stale of [staging, `${staging}-wal`, `${staging}-shm`, `${staging}-journal`]) {
    removeIfExists(stale);
  }
  const result = await restore({ client, name, output: staging, force: true, logger, signal });
  // Same page size: the copy is replaced in place under the lock with a journal, like any
  // apply, so readers keep their file. Otherwise (a new copy, a page-size change) a rename.
  const current = exists(path) ? currentHeader(path, logger) : null;
  const inPlace = current !== null && current.pageSize === result.pageSize;
  const changeCounter = nextChangeCounter(
    Math.max(old?.changeCounter ?? 0, current?.changeCounter ?? 0),
  );
  const page1 = new Uint8Array(result.pageSize);
  const file = Deno.openSync(staging, { read: true, write: true });
  let position: FollowPosition;
  try {
    readFullySync(file, page1, 0);
    position = {
      txid: result.txid,
      checksum: result.databaseChecksum,
      pageSize: result.pageSize,
      pageCount: result.pageCount,
      primaryFields: primaryFieldsOf(page1),
      changeCounter,
    };
    patchPage1(page1, { changeCounter, pageCount: result.pageCount });
    file.seekSync(0, Deno.SeekMode.Start);
    let at = 0;
    while (at < page1.length) at += file.writeSync(page1.subarray(at));
    file.syncSync();
  } finally {
    file.close();
  }
  await writeFollowRecord(path, { name, current: position, previous: old });
  if (inPlace) {
    try {
      await replaceAtomically({ path, sourcePath: staging, pageSize: result.pageSize });
    } finally {
      removeIfExists(staging);
    }
  } else {
    if (exists(path)) {
      const mode = Deno.statSync(path).mode;
      if (mode !== null) Deno.chmodSync(staging, mode & 0o777);
    }
    Deno.renameSync(staging, path);
    await syncDirectory(dir);
  }
  logger.info("copy restored", { txid: position.txid, path, inPlace });
  return position;
}

/**
 * The existing copy's page size and change counter, once any journal a killed apply left is
 * rolled back (else it would be played back onto the new content); null if it is not a
 * database SQLite can open.
 */
function currentHeader(
  path: string,
  log: Logger,
): { pageSize: number; changeCounter: number } | null {
  try {
    if (hasJournal(path)) rollBackHotJournal(path);
    const file = Deno.openSync(path, { read: true });
    try {
      const header = new Uint8Array(HEADER_BYTES);
      if (readFullySync(file, header, 0) < HEADER_BYTES) return null;
      const raw = (header[16] << 8) | header[17];
      return { pageSize: raw === 1 ? 65536 : raw, changeCounter: changeCounterOf(header) };
    } finally {
      file.close();
    }
  } catch (error) {
    log.warn("the copy cannot be opened; replacing the file", { path, error });
    return null;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
