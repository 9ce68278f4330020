// A model's preprocessing (src/data/preprocess.ts) against its header: sharp's name of each resize
// mode, the refusal lines for statistics, the defaults a new run records (a built set's own
// statistics with letterboxing, else CLIP's — open_clip's OPENAI_DATASET_MEAN/STD, written here
// from open_clip's constants — with a centre crop), and the one-line description.
import { describe, expect, it } from 'vitest';
import { checkStats, defaultPreprocess, describePreprocess, fitOf } from '../../../src/data/preprocess.ts';

const OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_STD = [0.26862954, 0.26130258, 0.27577711];

describe('preprocessing', () => {
  it("names each resize mode as sharp does", () => {
    expect([fitOf('shortest'), fitOf('longest'), fitOf('squash')]).toEqual(['cover', 'contain', 'fill']);
  });

  it('takes three finite numbers for a mean, three above 0 for a std, and says what it got otherwise', () => {
    expect(checkStats('mean', [0, -0.5, 1])).toBeNull();
    expect(checkStats('std', [0.1, 2, 1e-3])).toBeNull();
    expect(checkStats('mean', [1, 2])).toBe('mean must be three finite numbers, got [1,2]');
    expect(checkStats('std', [1, 2, 3, 4])).toBe('std must be three finite numbers, got [1,2,3,4]');
    expect(checkStats('mean', [0, NaN, 0])).toBe('mean must be three finite numbers, got [0,null,0]');
    expect(checkStats('mean', [0, 0, Infinity])).toBe('mean must be three finite numbers, got [0,0,null]');
    expect(checkStats('mean', [0, '1', 0] as unknown as number[])).toBe('mean must be three finite numbers, got [0,"1",0]');
    expect(checkStats('std', [1, 0, 1])).toBe('std must be three numbers above 0, got [1,0,1]');
    expect(checkStats('std', [1, 1, -0.5])).toBe('std must be three numbers above 0, got [1,1,-0.5]');
  });

  it("defaults to a built set's statistics letterboxed on white, else to CLIP's with a centre crop", () => {
    const measured = { mean: [0.9, 0.8, 0.7] as [number, number, number], std: [0.2, 0.3, 0.4] as [number, number, number] };
    expect(defaultPreprocess(64, measured)).toEqual({ size: 64, mean: [0.9, 0.8, 0.7], std: [0.2, 0.3, 0.4], interpolation: 'bilinear', resizeMode: 'longest', background: [255, 255, 255] });
    expect(defaultPreprocess(224)).toEqual({ size: 224, mean: OPENAI_MEAN, std: OPENAI_STD, interpolation: 'bilinear', resizeMode: 'shortest', background: [255, 255, 255] });
  });

  it('describes itself in one line, statistics to six decimals without trailing zeros', () => {
    const p = { size: 32, mean: [0.5, 0.1234567, 0.25] as [number, number, number], std: [0.2, 0.25, 1] as [number, number, number], interpolation: 'bicubic' as const, resizeMode: 'squash' as const, background: [0, 10, 255] as [number, number, number] };
    expect(describePreprocess(p)).toBe('32 px, resize squash, bicubic, background 0 10 255, mean 0.5 0.123457 0.25, std 0.2 0.25 1');
  });
});
