// Tokenizer training (trainTokenizer): the merges byte-level BPE must learn on a corpus small
// enough to work out by hand, the ids they get, the cut to the vocabulary size, and the
// tokenizer.json it writes read by Hugging Face's own tokenizer as another program would read it.
// The mutation run (docs/mutation.md) left these internals unexamined.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { Tokenizer, trainTokenizer } from '../../../src/data/tokenizer.ts';
import { languageToken } from '../../../src/data/lang.ts';

// ids: [PAD] 0, [SOT] 1, [EOT] 2, byte b → 3 + b in GPT-2's byte order (printable ASCII is
// itself), merges from 259 on. "a" 100, "b" 101, "c" 102, "d" 103.
const A = 100;
const B = 101;
const C = 102;
const D = 103;

describe('trainTokenizer on a corpus worked out by hand', () => {
  // Words (the pre-tokenizer splits before each space, which becomes "Ġ"): "ab" ×1, "Ġab" ×2,
  // "Ġcd" ×1 per line. Pair counts: a b 3, Ġ a 2, Ġ c 1, c d 1. BPE merges the most frequent pair
  // first: a+b (259); then Ġ+ab, now 2 (260).
  const corpus = Array.from({ length: 5 }, () => 'ab ab ab cd');

  it('the most frequent pair first, each merge the next id, as many as the vocabulary allows', () => {
    const one = trainTokenizer(corpus, 260);
    expect(one.vocabSize).toBe(260);
    expect(one.encode('ab ab')).toEqual([1, 259, 35, 259, 2]); // Ġ = byte 32 → 35
    expect(one.encode('cd')).toEqual([1, C, D, 2]);
    const two = trainTokenizer(corpus, 261);
    expect(two.vocabSize).toBe(261);
    expect(two.encode('ab ab')).toEqual([1, 259, 260, 2]);
    expect(two.encode('ba')).toEqual([1, B, A, 2]);
    // The tokenizer.json: specials, 256 bytes and the merges in the order learned.
    const json = two.json as unknown as { model: { vocab: Record<string, number>; merges: ([string, string] | string)[] } };
    expect(json.model.merges.map((m) => (typeof m === 'string' ? m.split(' ') : m))).toEqual([
      ['a', 'b'],
      ['Ġ', 'ab'],
    ]);
    expect(Object.keys(json.model.vocab).length).toBe(261);
    expect(json.model.vocab['ab']).toBe(259);
    expect(json.model.vocab['Ġab']).toBe(260);
  });

  it('a corpus with fewer merges than room stops at what it learned', () => {
    // "aa" has one word and one pair: a single merge, however large the vocabulary asked for.
    const t = trainTokenizer(['aa'], 400);
    expect(t.vocabSize).toBe(260);
    expect(t.encode('aa')).toEqual([1, 259, 2]);
    expect(t.encode('aaa')).toEqual([1, 259, A, 2]);
  });

  it('the tokenizer.json it writes tokenises raw text as coca does when Hugging Face reads it alone', () => {
    const t = trainTokenizer(['a dog and a cat', 'the dog', 'a cat sat'].flatMap((c) => Array.from({ length: 4 }, () => c)), 300);
    const other = new HfTokenizer(JSON.parse(JSON.stringify(t.json)), {});
    // Another program does not normalise first: the file's own normaliser (NFKC, lower case)
    // and pre-tokeniser (no prefix space) must give coca's ids.
    for (const raw of ['A Dog', 'ＴＨＥ ｃａｔ', 'a cat sat', 'dog']) {
      expect(other.encode(raw, { add_special_tokens: false }).ids, raw).toEqual(t.encode(raw).slice(1, -1));
    }
    expect(other.decode(t.encode('the dog').slice(1, -1), { skip_special_tokens: true })).toBe('the dog');
    // Its specials are the added tokens 0, 1, 2, marked special.
    const added = (t.json as unknown as { added_tokens: { id: number; content: string; special: boolean }[] }).added_tokens;
    expect(added.map((a) => [a.id, a.content, a.special])).toEqual([
      [0, '[PAD]', true],
      [1, '[SOT]', true],
      [2, '[EOT]', true],
    ]);
    expect(Tokenizer.fromJSON(JSON.parse(JSON.stringify(t.json))).encode('A DOG')).toEqual(t.encode('a dog'));
  });
});

describe('trainTokenizer with language tokens, and what a caption is (fourth mutation run)', () => {
  const corpus = Array.from({ length: 5 }, () => 'ab ab ab cd');
  const vocabOf = (t: Tokenizer) => (t.json as unknown as { model: { vocab: Record<string, number> } }).model.vocab;

  it('language tokens take the last ids of the size asked for; bytes and merges stay those of the tokenizer without them', () => {
    const plain = trainTokenizer(corpus, 261);
    const withLangs = trainTokenizer(corpus, 263, ['en', 'ru']);
    expect(withLangs.vocabSize).toBe(263);
    // A text of a tokenizer with languages starts [SOT] [lang:en] (the default language).
    expect(withLangs.encode('ab ab cd')).toEqual([1, 261, ...plain.encode('ab ab cd').slice(1)]);
    expect(withLangs.encode('ab ab', undefined, 'ru')).toEqual([1, 262, 259, 260, 2]);
    expect(vocabOf(withLangs)[languageToken('en')]).toBe(261);
    expect(vocabOf(withLangs)[languageToken('ru')]).toBe(262);
    expect(vocabOf(withLangs)['Ġab']).toBe(260);
  });

  it('the smallest vocabulary counts the language tokens: 3 specials + 256 bytes + 1 merge + one per language', () => {
    expect(() => trainTokenizer(corpus, 262, ['en', 'ru', 'zh'])).toThrow('vocabulary size 262 is too small: byte-level BPE needs at least 263');
    expect(trainTokenizer(corpus, 263, ['en', 'ru', 'zh']).vocabSize).toBe(263);
  });

  it('each caption is a text of its own: one-letter captions leave no pair to merge', () => {
    expect(trainTokenizer(['a', 'b', 'a', 'b', 'a', 'b'], 300).vocabSize).toBe(259);
  });
});
