// n-gram counting shared by BLEU and CIDEr-D (coco-caption's `precook`). An n-gram is keyed by
// its words joined with a space: tokens come from a whitespace split, so they hold no space and
// the key is unambiguous.

/** counts[k-1] maps each k-gram of `words` (k = 1..n) to how often it occurs. */
export function ngramCounts(words: readonly string[], n: number): Map<string, number>[] {
  const counts: Map<string, number>[] = [];
  for (let k = 1; k <= n; k++) {
    const m = new Map<string, number>();
    for (let i = 0; i + k <= words.length; i++) {
      const key = words.slice(i, i + k).join(' ');
      m.set(key, (m.get(key) ?? 0) + 1);
    }
    counts.push(m);
  }
  return counts;
}
