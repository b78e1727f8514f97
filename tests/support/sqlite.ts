/** Small helpers over `node:sqlite` for tests: open a WAL database, dump its content. */
import { DatabaseSync } from "node:sqlite";
import { crc64 } from "../../src/checksum/crc64.ts";

/** Opens `path` in WAL mode with SQLite's automatic checkpoints off, so the WAL keeps growing. */
export function openWalDatabase(path: string, pageSize = 4096): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA page_size=${pageSize}`);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA wal_autocheckpoint=0");
  db.exec("PRAGMA busy_timeout=5000");
  return db;
}

/**
 * Every table's rows in rowid order, keyed by table name: a logical image to compare. Rows
 * are plain objects and blobs are summarised as `blob:<length>:<crc64>`, so a dump survives a
 * JSON round trip unchanged and stays small.
 */
export function dumpDatabase(db: DatabaseSync): Record<string, unknown[]> {
  const tables = db.prepare(
    "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  ).all() as { name: string }[];
  const dump: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    const rows = db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}" ORDER BY rowid`).all();
    dump[name] = rows.map((row) =>
      Object.fromEntries(
        Object.entries(row as Record<string, unknown>).map(([column, value]) => [
          column,
          value instanceof Uint8Array ? `blob:${value.length}:${crc64(value).toString(16)}` : value,
        ]),
      )
    );
  }
  return dump;
}

/** `PRAGMA integrity_check` result ("ok" when healthy). */
export function integrityCheck(db: DatabaseSync): string {
  const rows = db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[];
  return rows.map((r) => r.integrity_check).join("\n");
}
