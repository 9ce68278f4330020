// The tokenizer's encoding and decoding (src/data/tokenizer-core.ts) on tokenizer.json files written
// here by hand, so that every expected id follows from the BPE rules and the module's header rather
// than from coca's output: GPT-2's byte alphabet after the specials, one merge "a"+"b", and added
// tokens placed as each case needs (languages listed out of id order, specials not marked special,
// CLIP's pair with one of them missing). The mutation run (docs/mutation.md) left these untested.
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { TokenizerCore } from '../../../src/data/tokenizer-core.ts';
import { type Added, COCA, handJson } from './hand-tokenizer.ts';

const A = 100;
const B = 101;
const SPACE = 35;
const AB = 259;
const NEITHER = "tokenizer.json has neither coca's special tokens [PAD] [SOT] [EOT] at ids 0 1 2 nor CLIP's <start_of_text> <end_of_text>; train one with 'coca data build' or 'coca data tokenizer'";

describe('tokenizer-core on hand-written tokenizer.json files', () => {
  it('lists the language tokens in id order whatever their order in added_tokens', () => {
    // ms 262, en 260, zh 263, ru 261: added in an order that is neither id order nor alphabetical.
    const langs: Added[] = [
      { id: 262, content: '[lang:ms]' },
      { id: 260, content: '[lang:en]' },
      { id: 263, content: '[lang:zh]' },
      { id: 261, content: '[lang:ru]' },
    ];
    const t = TokenizerCore.fromJSON(handJson([...COCA, ...langs]));
    expect(t.languages).toEqual(['en', 'ru', 'ms', 'zh']);
    expect(t.vocabSize).toBe(264);
    expect(t.encode('ab', undefined, 'ms')).toEqual([1, 262, AB, 2]);
    expect(t.encode('ab')).toEqual([1, 260, AB, 2]);
    expect(t.searchIds('zh')).toEqual({ sot: 1, eot: 2, pad: 0, prefix: [263], banned: [260, 261, 262, 263] });
    expect(() => t.languagePrefix('fr')).toThrow("this model's tokenizer has no language 'fr'; it has en, ru, ms, zh");
  });

  it("takes a tokenizer for CLIP's only with both of its specials, and refuses one with either alone", () => {
    const clip = TokenizerCore.fromJSON(handJson([{ id: 257, content: '<start_of_text>' }, { id: 258, content: '<end_of_text>' }], 0));
    expect([clip.kind, clip.bosId, clip.eosId, clip.padId, clip.padIsSpecial, clip.vocabSize]).toEqual(['clip', 257, 258, 0, false, 259]);
    // Its pad id 0 is a real token (open_clip's "!"), so a search must be free to generate it.
    expect(clip.searchIds()).toEqual({ sot: 257, eot: 258, pad: -1 });
    expect(() => TokenizerCore.fromJSON(handJson([{ id: 257, content: '<start_of_text>' }], 0))).toThrow(NEITHER);
    expect(() => TokenizerCore.fromJSON(handJson([{ id: 258, content: '<end_of_text>' }], 0))).toThrow(NEITHER);
  });

  it("refuses to encode with CLIP's tokenizer where open_clip's clean-up is not given (the browser's build), in one line", () => {
    const clip = TokenizerCore.fromJSON(handJson([{ id: 257, content: '<start_of_text>' }, { id: 258, content: '<end_of_text>' }], 0));
    const msg = "CLIP's tokenizer cleans text with open_clip's tables, which this build does not carry; use a tokenizer coca trained";
    expect(() => clip.encode('ab')).toThrow(new DataError(msg));
    expect(() => clip.pieces('ab')).toThrow(msg);
    // coca's own needs no clean-up tables.
    expect(TokenizerCore.fromJSON(handJson(COCA)).encode('ab')).toEqual([1, AB, 2]);
  });

  it('removes specials, padding and language tokens in decoding even where tokenizer.json does not mark them special', () => {
    const unmarked = [...COCA, { id: 260, content: '[lang:en]' }, { id: 261, content: '[lang:ru]' }].map((a) => ({ ...a, special: false }));
    const t = TokenizerCore.fromJSON(handJson(unmarked));
    expect(t.decode([1, 261, A, 0, B, 2, A])).toBe('ab');
    expect(t.decode([0, 1, 260, SPACE, A, 2])).toBe(' a');
    // Without languages, no id counts as one.
    const plain = TokenizerCore.fromJSON(handJson(COCA.map((a) => ({ ...a, special: false }))));
    expect(plain.decode([1, A, SPACE, B, 2])).toBe('a b');
  });

  it('refuses a tokenizer.json without added_tokens with the line that names the specials', () => {
    const json = handJson(COCA);
    delete (json as { added_tokens?: unknown }).added_tokens;
    expect(() => TokenizerCore.fromJSON(json)).toThrow(new DataError(NEITHER));
  });

  it("gives CLIP's tokenizer no languages: a [lang:xx] token in it is an ordinary added token", () => {
    const clip = TokenizerCore.fromJSON(handJson([{ id: 257, content: '<start_of_text>' }, { id: 258, content: '<end_of_text>' }, { id: 259, content: '[lang:ru]' }], 0));
    expect(clip.languages).toEqual([]);
    expect(clip.searchIds()).toEqual({ sot: 257, eot: 258, pad: -1 });
    expect(() => clip.languagePrefix('ru')).toThrow(/has no language tokens/);
  });

  it('drops a language token typed in a caption as it drops the specials, and encodes "undefined" as text', () => {
    const t = TokenizerCore.fromJSON(handJson([...COCA, { id: 260, content: '[lang:en]' }, { id: 261, content: '[lang:ru]' }]));
    // "[lang:ru]" becomes a space, then the space is encoded as text: a Ġ b.
    expect(t.encode('a[lang:ru]b', undefined, 'ru')).toEqual([1, 261, A, SPACE, B, 2]);
    expect(t.encode('a[lang:en]b')).toEqual([1, 260, A, SPACE, B, 2]);
    // Bytes of "undefined": u n d e f i n e d, each byte b at 3 + b.
    expect(t.encode('undefined').slice(2, -1)).toEqual([...'undefined'].map((c) => 3 + c.charCodeAt(0)));
  });

  it('encodes a batch with one language for every text, or one per text', () => {
    const t = TokenizerCore.fromJSON(handJson([...COCA, { id: 260, content: '[lang:en]' }, { id: 261, content: '[lang:ru]' }]));
    // Rows of 5: [SOT] [lang] body [EOT], padded with 0.
    expect([...t.encodeBatch(['ab', 'a b'], 5, 'ru')]).toEqual([1, 261, AB, 2, 0, 1, 261, A, SPACE, 2]);
    expect([...t.encodeBatch(['ab', 'ab'], 5, ['ru', undefined])]).toEqual([1, 261, AB, 2, 0, 1, 260, AB, 2, 0]);
    expect([...t.encodeBatch(['ab'], 4)]).toEqual([1, 260, AB, 2]);
  });

  it('splits a text never encoded before into its pieces', () => {
    const t = TokenizerCore.fromJSON(handJson(COCA));
    expect(t.pieces('a ab')).toEqual(['a', 'Ġ', 'ab']);
    expect(t.pieces('ba')).toEqual(['b', 'a']);
  });

  it('keeps at most 200,000 encoded texts, and every one until then', () => {
    const t = TokenizerCore.fromJSON(handJson(COCA));
    // The cache is private: training's epochs reuse it, and its bound is what keeps a long run's memory flat.
    const cache = (t as unknown as { cache: Map<string, number[]> }).cache;
    t.encode('a');
    t.encode('b');
    expect([...cache.keys()]).toEqual(['a', 'b']);
    // Fillers keyed by number: no caption can collide with them, and they cost no string each.
    const filler = (cache as unknown as Map<number, number[]>).set.bind(cache);
    const none: number[] = [];
    for (let i = cache.size; i < 199_999; i++) filler(i, none);
    t.encode('ab');
    expect(cache.size).toBe(200_000);
    t.encode('ba');
    expect([...cache.entries()]).toEqual([['ba', [B, A]]]);
    // A cached text is encoded from the cache, not again.
    cache.set('zz', [A]);
    expect(t.encode('zz')).toEqual([1, A, 2]);
  });

  it("adds [SOT] and [EOT] once even where tokenizer.json's post-processor would add them too", () => {
    // Hugging Face's usual template: [SOT] $A [EOT]. coca frames captions itself, so the template is not applied.
    const json = handJson(COCA) as unknown as Record<string, unknown>;
    const sot = { SpecialToken: { id: '[SOT]', type_id: 0 } };
    const eot = { SpecialToken: { id: '[EOT]', type_id: 0 } };
    json['post_processor'] = {
      type: 'TemplateProcessing',
      single: [sot, { Sequence: { id: 'A', type_id: 0 } }, eot],
      pair: [sot, { Sequence: { id: 'A', type_id: 0 } }, eot, { Sequence: { id: 'B', type_id: 1 } }, eot],
      special_tokens: { '[SOT]': { id: '[SOT]', ids: [1], tokens: ['[SOT]'] }, '[EOT]': { id: '[EOT]', ids: [2], tokens: ['[EOT]'] } },
    };
    const t = TokenizerCore.fromJSON(json as unknown as Parameters<typeof TokenizerCore.fromJSON>[0]);
    expect(t.encode('ab a')).toEqual([1, AB, SPACE, A, 2]);
    expect(t.pieces('ab')).toEqual(['ab']);
  });

  it('refuses a context too short for the tokens around a caption instead of writing into the next row', () => {
    const plain = TokenizerCore.fromJSON(handJson(COCA));
    const multi = TokenizerCore.fromJSON(handJson([...COCA, { id: 260, content: '[lang:en]' }]));
    // Two rows of one token: [SOT] [EOT] cannot fit, and the second row must stay as it was.
    const out = new Int32Array(2).fill(7);
    expect(() => plain.encodePadded('ab', 1, out, 0)).toThrow(
      new DataError("context length 1 cannot hold the 2 tokens around every caption (start and end); the model's context_length must be at least 2"),
    );
    expect([...out]).toEqual([7, 7]);
    expect(() => multi.encode('ab', 2)).toThrow("context length 2 cannot hold the 3 tokens around every caption (start, language and end); the model's context_length must be at least 3");
    // Exactly enough: the caption is cut to nothing.
    expect(plain.encode('ab', 2)).toEqual([1, 2]);
    expect(multi.encode('ab', 3)).toEqual([1, 260, 2]);
    expect(multi.encode('ab', 4)).toEqual([1, 260, AB, 2]);
  });
});
