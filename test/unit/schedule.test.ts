// The learning-rate schedule against its formula (open_clip's cosine_lr): linear warm-up to the
// base rate over `warmup` steps, then half a cosine from the base rate down to 0 at `total`.
import { describe, expect, it } from 'vitest';
import { learningRate } from '../../src/train/schedule.ts';

describe('learningRate', () => {
  it('hand-computed values: warm-up 4, 12 steps, base 2', () => {
    const lr = (s: number) => learningRate(s, 2, 4, 12);
    expect([0, 1, 2, 3].map(lr)).toEqual([0.5, 1, 1.5, 2]);
    expect(lr(4)).toBe(2); // cos 0
    expect(lr(6)).toBeCloseTo(1 + Math.SQRT1_2, 14); // 2 · ½(1 + cos π/4)
    expect(lr(8)).toBeCloseTo(1, 14); // halfway down
    expect(lr(10)).toBeCloseTo(1 - Math.SQRT1_2, 14);
    expect(lr(12)).toBe(0);
    expect(lr(20)).toBe(0); // past the end it stays at 0
  });

  it('matches ½·base·(1 + cos(π·(s − w)/(T − w))) after warm-up and base·(s + 1)/w during it, at every step', () => {
    for (const [base, w, T] of [
      [1e-3, 10, 100],
      [5e-4, 0, 37],
      [0.1, 3, 4],
    ] as const) {
      for (let s = 0; s <= T; s++) {
        const want = s < w ? (base * (s + 1)) / w : 0.5 * base * (1 + Math.cos((Math.PI * (s - w)) / (T - w)));
        expect(learningRate(s, base, w, T), `base ${base}, warm-up ${w}, ${T} steps, step ${s}`).toBeCloseTo(want, 15);
      }
    }
  });

  it('warm-up as long as the run: the rate climbs to the base rate and stays there', () => {
    expect([0, 4, 9].map((s) => learningRate(s, 1, 10, 10))).toEqual([0.1, 0.5, 1]);
    expect(learningRate(10, 1, 10, 10)).toBe(1);
  });
});
