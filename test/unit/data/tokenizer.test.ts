import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { normaliseCaption } from '../../../src/data/text.ts';
import { Tokenizer, trainTokenizer } from '../../../src/data/tokenizer.ts';
import { tempDir } from './fixtures.ts';

const CAPTIONS = [
  'A pig.',
  'woman rowing boat',
  'flag: Iceland',
  'A spider playing soccer.',
  'dog',
  'hot dog',
  'The yellow light means you should stop if it is safe to do so.',
  'man firefighter: light skin tone',
  'a sitting gnu',
  'eating pelican',
  'axe in stump',
  'piñata',
  'flag: Côte d’Ivoire',
];

describe('byte-level BPE tokenizer', () => {
  let tok: Tokenizer;
  beforeAll(() => {
    // Repeat so that merges have counts to learn from.
    tok = trainTokenizer(Array.from({ length: 20 }, () => CAPTIONS).flat(), 400);
  });

  it('puts the specials at 0, 1, 2 and respects the vocabulary size', () => {
    expect([tok.padId, tok.bosId, tok.eosId]).toEqual([0, 1, 2]);
    expect(tok.vocabSize).toBeLessThanOrEqual(400);
    expect(tok.vocabSize).toBeGreaterThan(3 + 256);
  });

  it('round-trips training captions and unseen text to their normalised form', () => {
    const unseen = ['Ein Hund läuft 🐶 über die Straße', 'naïve café № 5', '日本語のテキスト', 'tab\tand   spaces', 'x'.repeat(40)];
    for (const t of [...CAPTIONS, ...unseen]) {
      const ids = tok.encode(t);
      expect(ids[0]).toBe(tok.bosId);
      expect(ids[ids.length - 1]).toBe(tok.eosId);
      expect(tok.decode(ids)).toBe(normaliseCaption(t));
    }
  });

  it('learns merges: frequent words take fewer tokens than their bytes', () => {
    const ids = tok.encode('hot dog');
    expect(ids.length - 2).toBeLessThan('hot dog'.length);
  });

  it('truncates keeping [EOT] last and pads with padId', () => {
    const text = 'the yellow light means you should stop if it is safe to do so';
    const row = tok.encodePadded(text, 8);
    expect(row.length).toBe(8);
    // The head is kept, token by token: [SOT], the first 6 tokens of the whole text, [EOT].
    const whole = tok.encode(text);
    expect(whole.length).toBeGreaterThan(8 + 6);
    expect(Array.from(row)).toEqual([tok.bosId, ...whole.slice(1, 7), tok.eosId]);
    expect(normaliseCaption(text).startsWith(tok.decode(Array.from(row)))).toBe(true);
    expect(tok.encode(text, 3)).toEqual([tok.bosId, whole[1], tok.eosId]);
    expect(tok.encode(text, 2)).toEqual([tok.bosId, tok.eosId]);
    const short = tok.encodePadded('dog', 8);
    const eot = short.indexOf(tok.eosId);
    expect(eot).toBeGreaterThan(1);
    expect(Array.from(short.slice(eot + 1))).toEqual(new Array(8 - eot - 1).fill(tok.padId));
    const batch = tok.encodeBatch(['dog', 'a pig.'], 6);
    expect(Array.from(batch.slice(0, 6))).toEqual(Array.from(tok.encodePadded('dog', 6)));
    expect(Array.from(batch.slice(6))).toEqual(Array.from(tok.encodePadded('a pig.', 6)));
  });

  it('decodes padded rows up to [EOT] and does not read "[SOT]" in text as a token', () => {
    expect(tok.decode(tok.encodePadded('hot dog', 12))).toBe('hot dog');
    const ids = tok.encode('a [SOT] b');
    expect(ids.filter((i) => i === tok.bosId).length).toBe(1);
  });

  it('decodes an immediate [EOT] (what an untrained decoder emits) as an empty caption', () => {
    expect(tok.decode([tok.bosId, tok.eosId, tok.padId])).toBe('');
    expect(tok.decode([])).toBe('');
    expect(tok.decode([tok.padId, tok.padId])).toBe('');
  });

  it('survives a save and load, and gives the ids of Hugging Face\'s Rust tokenizer', async () => {
    const file = path.join(tempDir(), 'tokenizer.json');
    tok.save(file);
    const again = Tokenizer.load(file);
    const rust = createRequire(import.meta.url)('tokenizers') as { Tokenizer: { fromFile(f: string): { encode(s: string, p?: null, o?: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }> } } };
    const ref = rust.Tokenizer.fromFile(file);
    for (const t of [...CAPTIONS, 'Ein Hund 🐶']) {
      expect(again.encode(t)).toEqual(tok.encode(t));
      const ids = (await ref.encode(t, null, { addSpecialTokens: false })).getIds();
      expect(tok.encode(t).slice(1, -1)).toEqual(ids);
    }
  });

  it('refuses a tokenizer.json without coca\'s specials, in one line', () => {
    const file = path.join(tempDir(), 'bad.json');
    const json = JSON.parse(JSON.stringify(tok.json)) as { added_tokens: unknown[] };
    json.added_tokens = [];
    fs.writeFileSync(file, JSON.stringify(json));
    expect(() => Tokenizer.load(file)).toThrow(/special tokens/);
    expect(() => Tokenizer.load(path.join(tempDir(), 'missing.json'))).toThrow(/cannot read tokenizer/);
  });
});
