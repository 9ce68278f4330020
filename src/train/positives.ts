// `coca train --contrastive-positives concept`: which rows of a batch are positives of each other
// in the contrastive loss. The built-in sets record each item's concept group (all styles, skin
// tones, gender words and translations of one concept: src/data/split.ts), and those are used;
// an item without one (a folder, TSV or shards of the user's) counts as the concept of its
// normalised caption, so identical captions are positives and nothing else is guessed. The group
// named '' (captions with no concept word left, the skin-tone swatches) is no concept either.
import { normaliseCaption, type ItemMeta } from '../data/index.ts';

export const CONTRASTIVE_POSITIVES = ['none', 'concept'] as const;
export type ContrastivePositives = (typeof CONTRASTIVE_POSITIVES)[number];

/**
 * One id per row, equal for rows of one concept (numbered in order of first appearance).
 * `meta` gives a dataset item's record by index (absent for streamed shards).
 */
export function conceptGroups(batch: { indices: Uint32Array; captions: readonly string[] }, meta?: (index: number) => ItemMeta): Int32Array {
  const ids = new Map<string, number>();
  return Int32Array.from(batch.captions, (caption, r) => {
    const group = meta?.(batch.indices[r]!).group;
    const key = group ? `group:${group}` : `caption:${normaliseCaption(caption)}`;
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ids.size));
    return id;
  });
}
