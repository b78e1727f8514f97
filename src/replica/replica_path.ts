/** Validation and formatting shared by every backend's key layout. */
import { UsageError } from "../errors.ts";

/**
 * Checks a replica name (the database's name in the replica): relative, `/`-separated, no
 * empty, `.` or `..` segments, so it can never escape the replica root.
 */
export function validateReplicaName(name: string): string {
  const segments = name.split("/");
  if (
    name.length === 0 || name.length > 512 || name.includes("\\") || name.includes("\0") ||
    segments.some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new UsageError(
      `Replica name "${name}" is invalid; use a relative path of plain segments, e.g. "app.db" or "tenants/a/app.db"`,
    );
  }
  return name;
}

/** Metadata walsync keeps beside each LTX file on backends without object metadata. */
export interface StoredMetadata {
  sha256: string;
  /** 16 hex digits; absent only for a compaction of files another tool wrote. */
  databaseChecksum?: string;
  /** RFC 3339 with milliseconds. */
  createdAt: string;
}
