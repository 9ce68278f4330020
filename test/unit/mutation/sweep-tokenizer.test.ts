// trainTokenizer's cut of the trained vocabulary (src/data/tokenizer.ts, cutVocabulary), the fourth
// pass's "untested" 135: two merges that spell the same string (b+c, a+b, then ab+c and a+bc, both
// "abc") name one token, so the ids stay 0..n−1 with one token each, as Hugging Face's BPE trainer
// itself gives a repeated merge result the id it already has. The trainer (node, the child
// process) is a stand-in here that writes such a trained tokenizer.json where the real one would.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { trainTokenizer } from '../../../src/data/tokenizer.ts';

let root: string;
const saved = process.execPath;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-sweep-tok-'));
});
afterEach(() => {
  process.execPath = saved;
  fs.rmSync(root, { recursive: true, force: true });
});

/** A stand-in for `node -e <training script>`: writes a BPE with these merges to the script's tok.save path. */
function standInTrainer(merges: [string, string][]): void {
  const stand = path.join(root, 'node');
  const model = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: {}, merges };
  const trained = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, model };
  fs.writeFileSync(
    stand,
    `#!${saved}\n` +
      `const script = process.argv[3];\n` +
      `const raw = JSON.parse(/tok\\.save\\(("[^"]*")/.exec(script)[1]);\n` +
      `require('node:fs').writeFileSync(raw, ${JSON.stringify(JSON.stringify(trained))});\n`,
  );
  fs.chmodSync(stand, 0o755);
  process.execPath = stand;
}

describe('trainTokenizer: the vocabulary cut', () => {
  it('two merges spelling one string give it one id: ids 0..n−1, each naming one token', () => {
    standInTrainer([
      ['b', 'c'],
      ['a', 'b'],
      ['ab', 'c'],
      ['a', 'bc'],
    ]);
    const tok = trainTokenizer(['abc'], 1000);
    const vocab = (tok.json as unknown as { model: { vocab: Record<string, number>; merges: [string, string][] } }).model;
    // [PAD] [SOT] [EOT] 0–2, the 256 bytes 3–258, then bc 259, ab 260, abc 261 (once).
    expect(vocab.vocab['bc']).toBe(259);
    expect(vocab.vocab['ab']).toBe(260);
    expect(vocab.vocab['abc']).toBe(261);
    const ids = Object.values(vocab.vocab).sort((x, y) => x - y);
    expect(ids).toEqual(Array.from({ length: 262 }, (_, i) => i));
    expect(tok.vocabSize).toBe(262);
    // Both merges are kept (each is a rule of the BPE); "abc" splits b+c first, then a+bc.
    expect(vocab.merges).toEqual([
      ['b', 'c'],
      ['a', 'b'],
      ['ab', 'c'],
      ['a', 'bc'],
    ]);
    expect(tok.encode('abc')).toEqual([1, 261, 2]);
  });

  it('merges saved as "a b" strings (the format of other tokenizers versions) read as pairs; one with either part no token dropped', () => {
    // ☃ (U+2603) is no byte of GPT-2's alphabet: Hugging Face's BPE refuses a merge of an unknown
    // token, so it cannot be kept; the merges after it keep their order and take the next ids.
    standInTrainer(['b c', '☃ a', 'a ☃', 'a bc', 'a b'] as unknown as [string, string][]);
    const tok = trainTokenizer(['abc'], 1000);
    const model = (tok.json as unknown as { model: { vocab: Record<string, number>; merges: [string, string][] } }).model;
    expect(model.merges).toEqual([
      ['b', 'c'],
      ['a', 'bc'],
      ['a', 'b'],
    ]);
    expect(model.vocab['bc']).toBe(259);
    expect(model.vocab['abc']).toBe(260);
    expect(model.vocab['ab']).toBe(261);
    expect(tok.vocabSize).toBe(262);
    expect(tok.encode('abc ab')).toEqual([1, 260, SPACE, 261, 2]);
  });
});

// GPT-2's byte alphabet gives the space (byte 32) the character Ġ, id 3 + 32 = 35.
const SPACE = 35;
