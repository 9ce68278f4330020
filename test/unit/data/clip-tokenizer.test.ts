// coca's copy of CLIP's tokenizer against open_clip's SimpleTokenizer: the fixture holds the ids
// open_clip's own tokenizer.py gave for awkward strings (scripts/reference/clip_tokenizer.py
// fixture), at context lengths 77 and 12 (long inputs cut with <end_of_text> kept last).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clipClean, htmlUnescape } from '../../../src/data/clip-text.ts';
import { clipTokenizer, Tokenizer } from '../../../src/data/tokenizer.ts';

interface Case {
  text: string;
  clean: string;
  ids77: number[];
  ids12: number[];
}
const fixture = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../../fixtures/clip_tokenizer.json'), 'utf8')) as { sot: number; eot: number; vocab_size: number; cases: Case[] };
const tok = clipTokenizer();

describe("CLIP's tokenizer", () => {
  it('has open_clip vocabulary size and special ids', () => {
    expect([tok.kind, tok.vocabSize, tok.bosId, tok.eosId, tok.padId, tok.padIsSpecial]).toEqual(['clip', fixture.vocab_size, fixture.sot, fixture.eot, 0, false]);
    expect([fixture.vocab_size, fixture.sot, fixture.eot]).toEqual([49408, 49406, 49407]);
  });

  it.each(fixture.cases.map((c, i) => [i, c] as const))('case %i: clean-up as open_clip does', (_i, c) => {
    expect(clipClean(c.text)).toBe(c.clean);
  });

  it.each(fixture.cases.map((c, i) => [i, c] as const))('case %i: ids equal to SimpleTokenizer at context 77 and 12', (_i, c) => {
    expect(Array.from(tok.encodePadded(c.text, 77))).toEqual(c.ids77);
    expect(Array.from(tok.encodePadded(c.text, 12))).toEqual(c.ids12);
  });

  it('cuts a long text keeping <end_of_text> last', () => {
    const long = fixture.cases.find((c) => c.text.startsWith('x'.repeat(100)))!;
    expect(long.ids12[11]).toBe(fixture.eot);
    expect(Array.from(tok.encodePadded(long.text, 12))[11]).toBe(fixture.eot);
  });

  it('decodes to the cleaned text and keeps "!" (id 0, also the pad id) before the end', () => {
    // 320 "a</w>", 0 "!", 256 "!</w>" (open_clip's vocabulary order: bytes_to_unicode starts at "!").
    expect([tok.json.model.vocab['!'], tok.json.model.vocab['!</w>'], tok.json.model.vocab['a</w>']]).toEqual([0, 256, 320]);
    expect(tok.decode([tok.bosId, 320, 0, 256, tok.eosId, 0, 0])).toBe('a !!');
  });

  it('never reads a special token typed in the text as the token', () => {
    const ids = tok.encode('a <end_of_text> b <START_OF_TEXT>');
    expect(ids.filter((i) => i === tok.eosId || i === tok.bosId)).toEqual([tok.bosId, tok.eosId]);
  });

  it("unescapes HTML as Python's html.unescape does", () => {
    // Expected values from Python 3.11's html.unescape.
    expect(htmlUnescape('&amp;amp; &#128; &#0; &#x110000; &#1; &notit; &ampx &lt')).toBe('&amp; \u20ac \ufffd \ufffd  \u00acit; &x <');
  });

  it('still reads coca\'s own tokenizers and refuses one with neither set of specials', () => {
    const json = { ...tok.json, added_tokens: [] };
    expect(() => Tokenizer.fromJSON(json)).toThrow(/neither coca's special tokens/);
  });
});

describe("htmlUnescape against Python's html.unescape", () => {
  // python3 -c "import html; print(html.unescape(c))" for each c (Python 3.11.7): named entities
  // with and without ';', the longest legacy prefix, numeric references in both bases with and
  // without ';', Windows-1252's C1 replacements, surrogates, the largest code point and past it,
  // the code points html.unescape drops, and text that is no reference at all.
  const CASES: [string, string][] = [
    ['&amp;', '&'], ['&amp', '&'], ['&ampx', '&x'], ['&notit;', '\u00acit;'], ['&notin;', '\u2209'], ['&#65;', 'A'], ['&#65', 'A'],
    ['&#x41;', 'A'], ['&#X41', 'A'], ['&#x80;', '\u20ac'], ['&#x9f;', '\u0178'], ['&#0;', '\ufffd'], ['&#xd800;', '\ufffd'],
    ['&#xdfff;', '\ufffd'], ['&#xe000;', '\ue000'], ['&#x10ffff;', ''], ['&#x110000;', '\ufffd'], ['&#1;', ''], ['&#xfffe;', ''],
    ['&#x7f;', ''], ['&unknown;', '&unknown;'], ['&&amp;', '&&'], ['a & b', 'a & b'], ['&#;', '&#;'], ['&#x;', '&#x;'],
    ['&lt;&gt', '<>'], ['&AMP;', '&'], ['&Aacute', '\u00c1'], ['&Aacutex;', '\u00c1x;'], ['x&nbsp;y', 'x\u00a0y'],
    ['&#99999999999999999999;', '\ufffd'], ['no entity', 'no entity'], ['&gt;;', '>;'], ['&#x1F600;', '\ud83d\ude00'], ['&a', '&a'],
  ];
  it.each(CASES)('%j', (input, want) => {
    expect(htmlUnescape(input)).toBe(want);
  });
});
