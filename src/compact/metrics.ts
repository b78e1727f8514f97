/**
 * Compaction's counters, kept by the scheduler as passes run, and their Prometheus text
 * (0.0.4) for the daemon's `/metrics` page (the `WatchOps.addMetrics` hook). Rendering reads
 * the counters only: a scrape never lists the replica.
 */

export class CompactionCounters {
  /** Merged files stored, by destination level. */
  readonly merges = new Map<number, number>();
  /** Bytes of merged files stored, by destination level. */
  readonly mergedBytes = new Map<number, number>();
  /** Files retention deleted, by level. */
  readonly deleted = new Map<number, number>();
  /** Passes that failed (retried later). */
  errors = 0;
  /** Passes that completed. */
  passes = 0;

  merged(level: number, sizeBytes: number): void {
    this.merges.set(level, (this.merges.get(level) ?? 0) + 1);
    this.mergedBytes.set(level, (this.mergedBytes.get(level) ?? 0) + sizeBytes);
  }

  deletedFile(level: number): void {
    this.deleted.set(level, (this.deleted.get(level) ?? 0) + 1);
  }

  /** The families in the Prometheus text format, each line ending in a newline. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, help: string, values: [string, number][]) => {
      out.push(`# HELP ${name} ${help}\n# TYPE ${name} counter\n`);
      for (const [labels, value] of values) out.push(`${name}${labels} ${value}\n`);
    };
    const byLevel = (map: Map<number, number>): [string, number][] =>
      [...map].sort((a, b) => a[0] - b[0]).map(([level, n]) => [`{level="${level}"}`, n]);
    family("walsync_compaction_count", "Merged files stored, by level", byLevel(this.merges));
    family(
      "walsync_compaction_bytes_total",
      "Bytes of merged files stored, by level",
      byLevel(this.mergedBytes),
    );
    family(
      "walsync_retention_deleted_files_total",
      "Files retention deleted, by level",
      byLevel(this.deleted),
    );
    family(
      "walsync_l0_retention_files_total",
      "Level-0 files retention deleted (Litestream's name)",
      [["", this.deleted.get(0) ?? 0]],
    );
    family("walsync_compaction_pass_count", "Compaction and retention passes completed", [[
      "",
      this.passes,
    ]]);
    family("walsync_compaction_error_count", "Compaction passes that failed (retried later)", [[
      "",
      this.errors,
    ]]);
    return out.join("");
  }
}
