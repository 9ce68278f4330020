import { describe, expect, it } from 'vitest';
import { topKChance } from '../../../src/eval/baselines.ts';
import { topKAccuracy } from '../../../src/eval/zeroshot.ts';

describe('zero-shot top-k accuracy (DeViSE flat hit@k)', () => {
  it('hand-worked ranks with a tie counted against the model', () => {
    const scores = [
      0.1, 0.7, 0.3, 0.2, // label 1, the best → rank 1
      0.5, 0.5, 0.1, 0.0, // label 0, tied with class 1 → rank 2
      0.4, 0.3, 0.2, 0.1, // label 3, the worst → rank 4
    ];
    const r = topKAccuracy(scores, 3, 4, [1, 0, 3], [1, 2, 5]);
    expect([...r.ranks]).toEqual([1, 2, 4]);
    expect(r.accuracy).toEqual([1 / 3, 2 / 3, 1]); // k ≥ classes: every sample is a hit
  });

  it('NaN scores for the true class rank last', () => {
    expect([...topKAccuracy([NaN, 0.2, 0.1], 1, 3, [0]).ranks]).toEqual([3]);
  });

  it('chance is k / classes (Fashion-MNIST: 10 % top-1, 50 % top-5)', () => {
    expect(topKChance(10, 1)).toBe(0.1);
    expect(topKChance(10, 5)).toBe(0.5);
    expect(topKChance(3, 5)).toBe(1);
  });

  it('rejects labels outside the classes and bad shapes', () => {
    expect(() => topKAccuracy([0, 1], 1, 2, [2])).toThrow(/not a class/);
    expect(() => topKAccuracy([0, 1, 2], 1, 2, [0])).toThrow(/expected 1×2/);
  });
});
