// A multilingual model's caption search: the language token is fed right after [SOT] before
// anything is generated, is not part of the caption, and no language token is ever generated.
// A made-up language model on the CPU says which words follow which language token.
import { describe, expect, it } from 'vitest';
import { beamSearch, greedyOrSample, type SearchOptions } from '../../src/infer/search.ts';
import type { Stepper } from '../../src/infer/stepper.ts';

const SOT = 1;
const EOT = 2;
const V = 12;
const LANG = { en: 8, ru: 9, zh: 10, ms: 11 } as const;
/** The word each language writes (ids 3..6), then [EOT]. */
const WORD: Record<number, number> = { 8: 3, 9: 4, 10: 5, 11: 6 };

/** Records every row's fed tokens; after [SOT] alone it most wants a language token, after [SOT] L it wants WORD[L] then [EOT]. */
class LanguageStepper implements Stepper {
  readonly fed: number[][];
  constructor(
    readonly rows: number,
    readonly beams = 1,
  ) {
    this.fed = Array.from({ length: rows }, () => []);
  }
  readonly vocab = V;
  get length(): number {
    return this.fed[0]!.length;
  }
  async step(tokens: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(this.rows * V).fill(-5);
    this.fed.forEach((p, n) => {
      p.push(tokens[n]!);
      const row = out.subarray(n * V, (n + 1) * V);
      row[LANG.ru] = 10; // a language token is always the most likely: it must be banned
      const lang = p[1];
      if (lang !== undefined && WORD[lang] !== undefined) row[p.length === 2 ? WORD[lang]! : EOT] = 8;
      else row[7] = 8;
    });
    return out;
  }
  reorder(parents: Int32Array): void {
    const old = this.fed.map((p) => [...p]);
    parents.forEach((from, n) => (this.fed[n] = [...old[from]!]));
  }
  crossAttention(): null {
    return null;
  }
  release(): void {}
}

const banned = Object.values(LANG);

describe('caption search with a language token', () => {
  it.each(Object.entries(LANG))('greedy: [SOT] [lang:%s] is fed, then its word; the caption is [SOT] word [EOT]', async (_lang, id) => {
    const s = new LanguageStepper(2);
    const opts: SearchOptions = { maxLen: 8, sot: SOT, eot: EOT, pad: 0, prefix: [id], banned };
    const caps = await greedyOrSample(s, opts.maxLen, opts);
    for (const [n, c] of caps.entries()) {
      expect(c.tokens).toEqual([SOT, WORD[id], EOT]);
      expect(c.logprobs).toHaveLength(2);
      expect(s.fed[n]!.slice(0, 3)).toEqual([SOT, id, WORD[id]]);
    }
  });

  it('beam search starts every beam after the same language token', async () => {
    const s = new LanguageStepper(3 * 2, 3);
    const opts: SearchOptions = { maxLen: 8, sot: SOT, eot: EOT, pad: 0, prefix: [LANG.zh], banned };
    const caps = await beamSearch(s, opts.maxLen, opts);
    expect(caps).toHaveLength(2);
    for (const c of caps) expect(c.tokens).toEqual([SOT, WORD[LANG.zh], EOT]);
    for (const p of s.fed) expect(p.slice(0, 2)).toEqual([SOT, LANG.zh]);
  });

  it('the prefix takes positions: maxLen counts it, so one fewer token is generated', async () => {
    const s = new LanguageStepper(1);
    const opts: SearchOptions = { maxLen: 3, sot: SOT, eot: EOT, pad: 0, prefix: [LANG.en], banned };
    const [c] = await greedyOrSample(s, opts.maxLen, opts);
    // [SOT] [lang] w: three positions, one generated token, cut before its [EOT].
    expect(c!.tokens).toEqual([SOT, WORD[LANG.en]]);
    expect(s.fed[0]).toEqual([SOT, LANG.en]);
  });

  it('without a prefix (a model without language tokens) nothing changes: the search starts at [SOT]', async () => {
    const s = new LanguageStepper(1);
    const opts: SearchOptions = { maxLen: 5, sot: SOT, eot: EOT, pad: 0 };
    const [c] = await greedyOrSample(s, opts.maxLen, opts);
    // Nothing bans the language tokens here, so this made-up model writes its favourite, ru.
    expect(c!.tokens[1]).toBe(LANG.ru);
    expect(s.fed[0]![0]).toBe(SOT);
  });
});
