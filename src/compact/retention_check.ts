/**
 * What `verify` says about retention: every position a policy retains must have a chain of
 * files a restore can take (the window's first position, the latest, each kept snapshot), and
 * files no retained position needs are worth a note (compaction deletes them).
 */
import { formatLtxFilename, formatTxid } from "../ltx/ltx_header.ts";
import type { LtxFileInfo } from "../replica/replica_client.ts";
import { planRestore, RestorePlanError } from "../restore/plan.ts";
import { planMaintenance } from "./plan.ts";
import type { CompactionPolicy } from "./policy.ts";

/** Files named one by one in the note before the rest are counted. */
const MAX_NAMED = 10;

export function retentionFindings(
  files: readonly LtxFileInfo[],
  policy: CompactionPolicy,
  nowMs: number,
): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  if (files.length === 0) return { problems, notes };
  const plan = planMaintenance(files, { nowMs, policy, dueLevels: [] });
  const positions = new Set<number>([plan.head, ...plan.keptSnapshots]);
  if (plan.windowStart !== null) positions.add(plan.windowStart);
  for (const txid of [...positions].sort((a, b) => a - b)) {
    try {
      planRestore([...files], { kind: "txid", txid });
    } catch (error) {
      if (!(error instanceof RestorePlanError)) throw error;
      problems.push(
        `Retained position TXID ${formatTxid(txid)} cannot be restored: ${error.message}`,
      );
    }
  }
  notes.push(...plan.notes);
  if (plan.deletions.length > 0) {
    const named = plan.deletions.slice(0, MAX_NAMED).map((f) =>
      `level ${f.level} ${formatLtxFilename(f.minTxid, f.maxTxid)}`
    );
    const more = plan.deletions.length - named.length;
    notes.push(
      `${plan.deletions.length} file${
        plan.deletions.length === 1 ? "" : "s"
      } no retained position needs ("walsync compact --force" deletes them): ${named.join(", ")}${
        more > 0 ? ` and ${more} more` : ""
      }`,
    );
  }
  return { problems, notes };
}
