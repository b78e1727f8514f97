/**
 * Where a follower's copy stands, kept beside it in `PATH.walsync-follow` (JSON, written
 * durably) so that a restart can prove the copy is what it claims before applying more.
 *
 * It is written before each apply with the position the apply leads to (`current`) and the
 * one it starts from (`previous`): killed before, during or after the apply, the copy is at
 * one of the two, and its database checksum says which. Anything else is re-restored.
 */
import { formatChecksum } from "../checksum/database_checksum.ts";
import { writeFileDurably } from "../durable.ts";
import { WalsyncError } from "../errors.ts";
import { fieldsFromHex, fieldsToHex, type PrimaryFields } from "./copy_header.ts";

export const POSITION_SUFFIX = ".walsync-follow";
const POSITION_VERSION = 1;

export interface FollowPosition {
  txid: number;
  /** The primary's database checksum at `txid` (what the copy gives once page 1 is unpatched). */
  checksum: bigint;
  pageSize: number;
  pageCount: number;
  /** The primary's values of the page-1 fields the copy changes. */
  primaryFields: PrimaryFields;
  /** The change counter walsync last wrote into the copy: another value means another writer. */
  changeCounter: number;
}

export interface FollowRecord {
  /** The database's name in the replica. */
  name: string;
  current: FollowPosition;
  previous: FollowPosition | null;
}

/** The position file is not walsync's or is damaged. */
export class FollowPositionError extends WalsyncError {}

export function positionPathOf(copyPath: string): string {
  return `${copyPath}${POSITION_SUFFIX}`;
}

export async function writeFollowRecord(copyPath: string, record: FollowRecord): Promise<void> {
  const json = JSON.stringify({
    version: POSITION_VERSION,
    name: record.name,
    current: encodePosition(record.current),
    previous: record.previous && encodePosition(record.previous),
  });
  await writeFileDurably(positionPathOf(copyPath), new TextEncoder().encode(json + "\n"));
}

/** The record, or null when there is none; throws when it exists but cannot be trusted. */
export function readFollowRecord(copyPath: string): FollowRecord | null {
  const path = positionPathOf(copyPath);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new FollowPositionError(`Cannot read "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const raw = JSON.parse(text);
    if (raw?.version !== POSITION_VERSION || typeof raw.name !== "string") throw new Error("");
    return {
      name: raw.name,
      current: decodePosition(raw.current),
      previous: raw.previous === null ? null : decodePosition(raw.previous),
    };
  } catch (error) {
    throw new FollowPositionError(`"${path}" is not a walsync follower position file`, {
      cause: error,
    });
  }
}

export function removeFollowRecord(copyPath: string): void {
  try {
    Deno.removeSync(positionPathOf(copyPath));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function encodePosition(p: FollowPosition): Record<string, unknown> {
  return {
    txid: p.txid,
    checksum: formatChecksum(p.checksum),
    pageSize: p.pageSize,
    pageCount: p.pageCount,
    primaryFields: fieldsToHex(p.primaryFields),
    changeCounter: p.changeCounter,
  };
}

function decodePosition(raw: Record<string, unknown>): FollowPosition {
  const fields = typeof raw.primaryFields === "string" ? fieldsFromHex(raw.primaryFields) : null;
  const numbers = [raw.txid, raw.pageSize, raw.pageCount, raw.changeCounter];
  if (
    !fields || typeof raw.checksum !== "string" || !/^[0-9a-f]{16}$/.test(raw.checksum) ||
    !numbers.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
  ) throw new Error("malformed position");
  return {
    txid: raw.txid as number,
    checksum: BigInt(`0x${raw.checksum}`),
    pageSize: raw.pageSize as number,
    pageCount: raw.pageCount as number,
    primaryFields: fields,
    changeCounter: raw.changeCounter as number,
  };
}
