// The clean-up cases of test/unit/data/clip-tokenizer.test.ts (open_clip's _clean_lower outputs in
// test/fixtures/clip_tokenizer.json, and its html.unescape case), for apply-mutants.mjs (clip-tokenizer.test.ts itself also imports the tokenizer).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clipClean, htmlUnescape } from '../../src/data/clip-text.ts';
const fixture = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'clip_tokenizer.json'), 'utf8')) as { cases: { text: string; clean: string }[] };
describe('fixture', () => {
  it.each(fixture.cases.map((c, i) => [i, c] as const))('case %i', (_i, c) => {
    expect(clipClean(c.text)).toBe(c.clean);
  });
  it('html', () => {
    expect(htmlUnescape('&amp;amp; &#128; &#0; &#x110000; &#1; &notit; &ampx &lt')).toBe('&amp; \u20ac \ufffd \ufffd  \u00acit; &x <');
  });
});
