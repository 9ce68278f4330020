// Data-layer cases the mutation run (docs/mutation.md) showed untested. The tokenizer is checked
// on a tokenizer.json written here by hand (GPT-2's byte alphabet and one merge), whose ids follow
// from the BPE rules; the generators against the published algorithms (FNV-1a, murmur3's fmix32,
// mulberry32) run in Python; the split's grouping on cases traced by hand.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { hashString, mixSeed, permutation, Rng } from '../../../src/data/rng.ts';
import { assignGroups, groupItems } from '../../../src/data/split.ts';
import { byteAlphabet, Tokenizer, trainTokenizer } from '../../../src/data/tokenizer.ts';

/** GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to 256 + n in byte order. */
function gpt2Alphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let n = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + n++));
}

// ids: [PAD] 0, [SOT] 1, [EOT] 2, byte b → 3 + b, the merge "a"+"b" → 259. So "a" = 100, "b" = 101,
// a space (byte 32, "Ġ") = 35, "," = 47, "?" = 66.
function handTokenizerJson(specials: Record<string, number> = { '[PAD]': 0, '[SOT]': 1, '[EOT]': 2 }) {
  const vocab: Record<string, number> = { ...specials };
  gpt2Alphabet().forEach((ch, b) => (vocab[ch] = 3 + b));
  vocab['ab'] = 259;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(specials).map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [['a', 'b']] },
  };
}
type Json = Parameters<typeof Tokenizer.fromJSON>[0];
const hand = () => Tokenizer.fromJSON(handTokenizerJson() as unknown as Json);

describe('tokenizer on a hand-written vocabulary', () => {
  it("byteAlphabet is GPT-2's bytes_to_unicode", () => {
    expect(byteAlphabet()).toEqual(gpt2Alphabet());
    expect([byteAlphabet()[32], byteAlphabet()[126], byteAlphabet()[173], byteAlphabet()[255]]).toEqual(['Ġ', '~', 'Ń', 'ÿ']);
  });

  it('encodes by the BPE rules: [SOT], merged and single bytes, [EOT]; the vocabulary is 260', () => {
    const t = hand();
    expect(t.vocabSize).toBe(260);
    expect(t.encode('ab a')).toEqual([1, 259, 35, 100, 2]);
    expect(t.encode('AB')).toEqual([1, 259, 2]); // lower-cased first
    expect(t.pieces('ab a')).toEqual(['ab', 'Ġ', 'a']);
  });

  it('reads a literal [SOT], [EOT] or [PAD] in text as a space, never as the token', () => {
    const t = hand();
    const spaced = t.encode('a b');
    expect(spaced).toEqual([1, 100, 35, 101, 2]);
    for (const special of ['[SOT]', '[EOT]', '[PAD]']) expect(t.encode(`a${special}b`)).toEqual(spaced);
  });

  it('writes a padded row into a shared buffer without touching the rest of it', () => {
    const t = hand();
    const out = new Int32Array(10).fill(7);
    t.encodePadded('ab', 4, out, 3);
    expect([...out]).toEqual([7, 7, 7, 1, 259, 2, 0, 7, 7, 7]);
    // Truncated to the row (context 4: [SOT] ab Ġ [EOT]), the next element is left alone.
    const full = new Int32Array(8).fill(7);
    t.encodePadded('ab ab', 4, full, 0);
    expect([...full]).toEqual([1, 259, 35, 2, 7, 7, 7, 7]);
  });

  it('decodes up to the first [EOT], leaving spaces before punctuation as they are', () => {
    const t = hand();
    expect(t.decode([1, 259, 2, 100, 101])).toBe('ab');
    expect(t.decode([1, 259, 35, 100, 0, 0])).toBe('ab a');
    // "wait , what ?" must come back as written: Hugging Face's clean-up would make it "wait, what?".
    const text = 'wait , what ?';
    expect(t.decode(t.encode(text))).toBe(text);
  });

  it("refuses specials at other ids than 0, 1, 2 — each of the three on its own — in one line", () => {
    const cases = [
      { '[PAD]': 3, '[SOT]': 1, '[EOT]': 2 },
      { '[PAD]': 0, '[SOT]': 4, '[EOT]': 2 },
      { '[PAD]': 0, '[SOT]': 1, '[EOT]': 5 },
    ];
    for (const specials of cases) {
      expect(() => Tokenizer.fromJSON(handTokenizerJson(specials) as unknown as Json)).toThrow(
        "tokenizer.json has neither coca's special tokens [PAD] [SOT] [EOT] at ids 0 1 2 nor CLIP's <start_of_text> <end_of_text>; train one with 'coca data build' or 'coca data tokenizer'",
      );
    }
  });

  it('refuses what is not a BPE tokenizer.json, and names an unreadable file with the reason', () => {
    const notBpe = 'tokenizer.json is not a BPE tokenizer; coca expects the byte-level BPE written by coca data build';
    expect(() => Tokenizer.fromJSON({} as unknown as Json)).toThrow(notBpe);
    expect(() => Tokenizer.fromJSON(null as unknown as Json)).toThrow(notBpe);
    const missing = path.join(os.tmpdir(), `coca-no-such-tokenizer-${process.pid}.json`);
    expect(() => Tokenizer.load(missing)).toThrow(`cannot read tokenizer ${missing} (ENOENT: no such file or directory, open '${missing}'); build the dataset again or pass another tokenizer.json`);
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-tok-'));
    try {
      fs.writeFileSync(path.join(bad, 'tokenizer.json'), '{');
      expect(() => Tokenizer.load(path.join(bad, 'tokenizer.json'))).toThrow(DataError);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });

  it('training refuses a vocabulary below 3 specials + 256 bytes + 1, and an empty corpus', () => {
    expect(() => trainTokenizer(['a b'], 259)).toThrow('vocabulary size 259 is too small: byte-level BPE needs at least 260');
    expect(() => trainTokenizer(['  ', ''], 400)).toThrow('no captions to learn a tokenizer from; the training split is empty');
    // 260 is enough: the alphabet and room for one merge; blank captions are left out, not fatal.
    const t = trainTokenizer(['ab ab ab', '  '], 260);
    expect(t.vocabSize).toBe(260);
    expect(t.encode('ab')).toEqual([1, 259, 2]);
  });
});

describe('seeded generators against the published algorithms', () => {
  // Python: fnv1a32 then murmur3 fmix32; FNV-1a("a") = 0xe40c292c is the published test vector.
  it('hashString is fmix32(FNV-1a) over UTF-16 code units, seed xored into the offset basis', () => {
    expect([hashString(''), hashString('a'), hashString('coca')]).toEqual([2872998923, 444641715, 2467559960]);
    expect(hashString('coca', 7)).toBe(198789018);
  });

  it('mixSeed folds each key in with h ^ k + 0x6a09e667 + (h << 6) + (h >>> 2), then fmix32', () => {
    expect(mixSeed()).toBe(0x9e3779b9);
    expect([mixSeed(0), mixSeed(1, 2, 3), mixSeed(3, 2, 1), mixSeed(-1)]).toEqual([3708292970, 2775135618, 3169732069, 953745760]);
  });

  it('Rng is mulberry32', () => {
    const r = new Rng(1);
    expect([r.next(), r.next(), r.next()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
    expect(new Rng(0xffffffff).next()).toBe(0.8964226141106337);
    expect(new Rng(1).uniform(2, 5)).toBeCloseTo(2 + 3 * 0.6270739405881613, 15);
  });

  it('permutation is Fisher–Yates from the top, one draw per position above 0', () => {
    const r = new Rng(42);
    expect([...permutation(6, r)]).toEqual([1, 0, 4, 5, 2, 3]);
    expect(r.next()).toBe(0.5265925421845168); // the sixth draw: none was spent on position 0
  });
});

describe('concept-grouped split: grouping', () => {
  it('joins through a shared key and then a shared link, labelled by the smallest key of the group', () => {
    // b's first caption shares a key with a's; b's second joins through the link only.
    const items = [
      { link: 'a', caption: 'red apple' },
      { link: 'b', caption: 'red apple' },
      { link: 'b', caption: 'apple' },
    ];
    expect(groupItems(items)).toEqual(['apple', 'apple', 'apple']);
    expect(groupItems([...items].reverse())).toEqual(['apple', 'apple', 'apple']);
    expect(groupItems([{ link: 'x', caption: 'zebra' }, ...items])).toEqual(['zebra', 'apple', 'apple', 'apple']);
  });

  it('orders groups whose hashes collide by name', () => {
    // Two names with the same 32-bit hash (found by a birthday search): the smaller name ranks first.
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const name = `g${i}`;
      const h = hashString(name, 3);
      const other = seen.get(h);
      if (other !== undefined) pair = [other, name];
      seen.set(h, name);
    }
    const [a, b] = pair.sort();
    for (const order of [[a, b], [b, a]]) {
      const side = assignGroups(order, 3, { val: 0.5, test: 0 });
      expect([side.get(a!), side.get(b!)]).toEqual(['val', 'train']);
    }
  });
});
