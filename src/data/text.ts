// Caption text rules shared by the builder, the readers and the tokenizer, so that the string the
// tokenizer round-trips is the same one the split was checked on.

/** NFKC, lower case, single spaces, trimmed: the form every caption is stored and compared in. */
export function normaliseCaption(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

const SKIN_TONE = /(,\s*|:\s*)?(light|medium-light|medium|medium-dark|dark) skin tone/g;
// Words that only say who does the thing: "man firefighter", "woman firefighter" and
// "firefighter" are one concept and must fall on the same side of the split.
const WHO = new Set(['a', 'an', 'the', 'man', 'woman', 'person', 'men', 'women', 'people', 'boy', 'girl', 'male', 'female']);

/**
 * The concept a caption names, with skin tones, gender words, articles and punctuation removed.
 * Captions with the same key are kept in one split group.
 */
export function conceptKey(caption: string): string {
  const base = normaliseCaption(caption).replace(SKIN_TONE, '');
  const words = base
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .split(' ')
    .filter((w) => w.length > 0);
  const kept = words.filter((w) => !WHO.has(w));
  return (kept.length > 0 ? kept : words).join(' ');
}
