// Caption tokenisation for BLEU and CIDEr-D, standing in for coco-caption's PTBTokenizer
// (Stanford CoreNLP 3.4.1 run with -preserveLines -lowerCase, then tokens in its PUNCTUATIONS
// list dropped). We cannot run Java, so this is a small rule-based equivalent:
//   1. lowercase, whitespace split;
//   2. peel punctuation off both ends of each token the way PTB splits it off
//      ("horse." → "horse" "."; "(red)," → "(" "red" ")" ",");
//   3. split PTB's English clitics off the end ("dog's" → "dog" "'s", "don't" → "do" "n't");
//   4. drop the tokens PTB's punctuation list removes (brackets come out of PTB as -LRB- etc.,
//      quotes as `` and '', all of which are in the list).
// Known differences from PTB: abbreviations keep no final period ("u.s." → "u.s"), and PTB's
// rarer rewrites (currency, "cannot" → "can not", fractions) are not done. Captions in our data
// are short plain sentences, where these cases do not arise.
// Chinese has no spaces between words: each Han character is a token of its own (character-level
// BLEU and CIDEr-D, as Chinese captioning benchmarks without a word segmenter report them), and the
// CJK punctuation of U+3000–U+303F (、。「」…) separates tokens like a space. Text without
// either is tokenised exactly as before.

/** coco-caption's PUNCTUATIONS, the tokens removed after PTB tokenisation. */
export const PTB_PUNCTUATION: ReadonlySet<string> = new Set([
  "''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-',
  '.', '?', '!', ',', ':', '-', '--', '...', ';',
]);

// Characters PTB splits off a token's ends. Each becomes a token in PTB_PUNCTUATION once PTB
// has rewritten brackets and quotes, so peeling simply discards them.
const EDGE = `.,!?;:'"\`()[]{}-`;
const CLITIC = /^(.+?)(n't|'s|'m|'d|'ll|'re|'ve)$/;

const HAN = /(\p{Script=Han})/gu;
const CJK_PUNCTUATION = /[\u3000-\u303f]/g;

/** Tokens of one caption, lowercased with punctuation removed (coco-caption's convention). */
export function tokenizeCaption(caption: string): string[] {
  const out: string[] = [];
  const spaced = caption.toLowerCase().replace(CJK_PUNCTUATION, ' ').replace(HAN, ' $1 ');
  for (const raw of spaced.split(/\s+/)) {
    let a = 0;
    let b = raw.length;
    while (a < b && EDGE.includes(raw[a]!)) a++;
    while (b > a && EDGE.includes(raw[b - 1]!)) b--;
    const core = raw.slice(a, b);
    if (core === '') continue;
    const m = CLITIC.exec(core);
    if (m) out.push(m[1]!, m[2]!);
    else out.push(core);
  }
  return out.filter((t) => !PTB_PUNCTUATION.has(t));
}
