/** "Did you mean …?" hints for misspelt config keys, section names and enum values. */

/**
 * Edit distance counting insertions, deletions, substitutions and swaps of two adjacent
 * characters (optimal string alignment), so "sycn" is one edit from "sync".
 */
export function editDistance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the dynamic-programming table.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, before[j - 2] + 1);
      }
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length];
}

/**
 * The candidate closest to `word`, if it is close enough to be a likely typo: at most two
 * edits, or a third of the word's length for long words. Words of three characters or fewer
 * allow one edit, or "xy" would be "corrected" to any two-letter key. Case is ignored when
 * measuring; ties go to the earlier candidate.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length <= 3 ? 1 : Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
