// checkSearch: the one place the caption search gets its defaults and its checks (coca caption,
// coca serve and coca eval all call it). Each mistake is one line naming the option the way the
// caller spells it, and the allowed range.
import { describe, expect, it } from 'vitest';
import { SEARCH_FLAGS, searchOptions } from '../../src/cli/caption.ts';
import { checkSearch, DEFAULT_SEARCH, MAX_BEAMS, SearchError, type SearchRequest } from '../../src/infer/search.ts';
import { CocaError } from '../../src/util/errors.ts';

const cli = { name: (k: keyof SearchRequest) => SEARCH_FLAGS[k] };
const message = (r: SearchRequest, o = {}) => {
  try {
    checkSearch(r, o);
  } catch (e) {
    expect(e).toBeInstanceOf(SearchError);
    expect(e).toBeInstanceOf(CocaError);
    return (e as Error).message;
  }
  throw new Error(`checkSearch accepted ${JSON.stringify(r)}`);
};

describe('checkSearch', () => {
  it('fills in the defaults: beam search, and greedy when asked for one beam', () => {
    expect(checkSearch({})).toEqual({ maxLen: 30, minLen: 0, beams: 6, lengthPenalty: 1, repetitionPenalty: 1 });
    expect(checkSearch({ beams: 1, maxLen: 20 })).toEqual({ maxLen: 20, minLen: 0, beams: 1, lengthPenalty: 1, repetitionPenalty: 1 });
    expect(checkSearch({}).beams).toBe(DEFAULT_SEARCH.beams);
  });

  it("--allow-sot (open_clip's generate parity) reaches the search; left out, [SOT] stays forbidden", () => {
    const args = { sample: false, batch: 8, json: false, 'allow-sot': true };
    expect(searchOptions(args)).toEqual({ maxLen: 30, minLen: 0, beams: 6, lengthPenalty: 1, repetitionPenalty: 1, sotAllowed: true });
    expect(searchOptions({ ...args, 'allow-sot': false }).sotAllowed).toBeUndefined();
    expect(checkSearch({ allowSot: true, temperature: 0.5 })).toMatchObject({ beams: 1, sotAllowed: true, sample: { temperature: 0.5 } });
  });

  it('sampling: one beam, the sampling defaults, the seed kept', () => {
    expect(checkSearch({ topP: 0.9, seed: 3 })).toMatchObject({ beams: 1, sample: { temperature: 1, topK: 0, topP: 0.9, seed: 3 } });
    expect(checkSearch({ sample: true }).sample).toEqual({ temperature: 1, topK: 0, topP: 1, seed: 0 });
  });

  it('names the flag and the allowed range of beams, on the command line', () => {
    expect(message({ beams: 0 }, cli)).toBe(`--beams must be an integer from 1 to ${MAX_BEAMS}, got 0`);
    expect(message({ beams: 100000 }, cli)).toBe(`--beams must be an integer from 1 to ${MAX_BEAMS}, got 100000`);
    expect(message({ beams: 2.5 }, cli)).toBe(`--beams must be an integer from 1 to ${MAX_BEAMS}, got 2.5`);
    expect(message({ maxLen: 1 }, cli)).toBe('--max-len must be an integer ≥ 2, got 1');
    expect(message({ minLen: 9, maxLen: 10 }, cli)).toBe('--min-len 9 leaves no room under --max-len 10 (which counts [SOT] and [EOT])');
    expect(message({ topP: 2 }, cli)).toBe('--top-p must be in (0, 1], got 2');
    expect(message({ repetitionPenalty: 0 }, cli)).toBe('--repetition-penalty must be > 0 (1 = off), got 0');
    expect(message({ beams: 3, topK: 5 }, cli)).toBe('sampling draws one caption per image: leave out --beams, or drop --sample/--top-k/--top-p/--temperature to search');
  });

  it('names the form field and a server’s narrower limit; caps maxLen at the context', () => {
    expect(message({ beams: 9 }, { maxBeams: 8 })).toBe('beams must be an integer from 1 to 8, got 9');
    expect(message({ temperature: -1 })).toBe('temperature must be > 0, got -1');
    expect(checkSearch({ beams: 8, maxLen: 500 }, { maxBeams: 8, contextLength: 32 })).toMatchObject({ beams: 8, maxLen: 32 });
    expect(message({ minLen: 31 }, { contextLength: 32 })).toBe('minLen 31 leaves no room under maxLen 30 (which counts [SOT] and [EOT])');
  });
});
