import { describe, expect, it } from 'vitest';
import { hitChance, retrievalChance } from '../../../src/eval/baselines.ts';
import { recallFromRanks, retrievalRecall, retrievalRecallPairs } from '../../../src/eval/recall.ts';
import { Rng } from '../../../src/util/prng.ts';

// Recall values are ratios of small integers, compared exactly (toBe) or to 1e-15.
describe('retrieval Recall@K', () => {
  // 3 images × 4 captions; captions 0, 1 belong to image 0, caption 2 to image 1, caption 3 to image 2.
  const sim = Float32Array.from([
    0.9, 0.1, 0.5, 0.2, // image 0: best positive 0.9, nothing above → rank 1
    0.8, 0.3, 0.4, 0.7, // image 1: positive 0.4 behind 0.8 and 0.7 → rank 3
    0.2, 0.6, 0.6, 0.6, // image 2: positive 0.6 tied with two negatives → rank 3 (ties count against)
  ]);
  const owner = [0, 0, 1, 2];

  it('hand-worked ranks and recall in both directions, several captions per image', () => {
    const r = retrievalRecall(sim, 3, 4, owner, [1, 2, 3]);
    expect([...r.ranksI2T]).toEqual([1, 3, 3]);
    // text→image columns: caption 0 [0.9 0.8 0.2] → 1; caption 1 [0.1 0.3 0.6] → 3;
    // caption 2 [0.5 0.4 0.6] → 3; caption 3 [0.2 0.7 0.6] → 2.
    expect([...r.ranksT2I]).toEqual([1, 3, 3, 2]);
    expect(r.imageToText).toEqual([1 / 3, 1 / 3, 1]);
    expect(r.textToImage).toEqual([1 / 4, 2 / 4, 1]);
  });

  it('a constant similarity matrix gets the worst rank, not the best', () => {
    const r = retrievalRecall(new Float32Array(12).fill(0.5), 3, 4, owner, [1, 3]);
    expect([...r.ranksI2T]).toEqual([3, 4, 4]); // image 0 has 2 negatives, the others 3
    expect([...r.ranksT2I]).toEqual([3, 3, 3, 3]);
    expect(r.imageToText).toEqual([0, 1 / 3]);
  });

  it('a caption shared by several images is a hit if any of them ranks within K', () => {
    // 3 images, 2 captions; caption 0 describes images 0 and 2.
    const s = [0.1, 0.9, 0.2, 0.8, 0.5, 0.7];
    const r = retrievalRecallPairs(s, 3, 2, [[0, 0], [2, 0], [1, 1]], [1]);
    // rows: image 0 [0.1 0.9], image 1 [0.2 0.8], image 2 [0.5 0.7].
    // caption 0 column [0.1 0.2 0.5]: its best image, 2, is first → rank 1 (image 0 alone: rank 3).
    // caption 1 column [0.9 0.8 0.7]: image 1 behind image 0 → rank 2.
    expect([...r.ranksT2I]).toEqual([1, 2]);
    expect([...r.ranksI2T]).toEqual([2, 1, 2]);
    expect(r.textToImage).toEqual([1 / 2]);
  });

  it('NaN: a NaN negative ranks ahead, all-NaN positives rank last', () => {
    const r = retrievalRecall([NaN, 0.5, 0.1, NaN], 2, 2, [0, 1], [1]);
    expect([...r.ranksI2T]).toEqual([2, 2]);
    expect(recallFromRanks(r.ranksI2T, 1)).toBe(0);
  });

  it('random scores reproduce the chance level', () => {
    // 400 images × 400 captions, one caption each; chance R@10 = 10/400 = 2.5 %. Averaged over
    // 400 images and both directions the binomial spread is ~0.55 %, so ±1.5 % is a 3σ bound.
    const n = 400;
    const rng = new Rng(7);
    const s = Float32Array.from({ length: n * n }, () => rng.next());
    const r = retrievalRecall(s, n, n, Array.from({ length: n }, (_, i) => i), [10]);
    const ch = retrievalChance(n, n, Array.from({ length: n }, (_, i) => [i, i] as const), [10]);
    expect(ch.imageToText[0]).toBeCloseTo(0.025, 15);
    expect(Math.abs((r.imageToText[0]! + r.textToImage[0]!) / 2 - 0.025)).toBeLessThan(0.015);
  });

  it('rejects bad shapes and items with nothing to retrieve', () => {
    expect(() => retrievalRecallPairs(sim, 3, 3, [[0, 0]])).toThrow(/expected 3×3/);
    expect(() => retrievalRecall(sim, 3, 4, [0, 1])).toThrow(/2 caption owners for 4/);
    expect(() => retrievalRecallPairs(sim, 3, 4, [[0, 0]])).toThrow(/no positive/);
  });
});

describe('chance levels', () => {
  it('hitChance equals brute-force enumeration of positive placements', () => {
    // All C(N, p) placements of p positives among N ranked slots are equally likely under random scores.
    const brute = (N: number, p: number, k: number): number => {
      let hit = 0;
      let all = 0;
      const rec = (start: number, left: number, minPos: number) => {
        if (left === 0) {
          all++;
          if (minPos < k) hit++;
          return;
        }
        for (let i = start; i < N; i++) rec(i + 1, left - 1, Math.min(minPos, i));
      };
      rec(0, p, Infinity);
      return hit / all;
    };
    for (const [N, p, k] of [[6, 2, 3], [10, 1, 1], [10, 2, 3], [9, 4, 2], [5, 3, 5], [7, 1, 10]] as const) {
      expect(hitChance(N, p, k)).toBeCloseTo(brute(N, p, k), 14);
    }
    expect(hitChance(10, 2, 3)).toBeCloseTo(1 - 56 / 120, 15); // 1 − C(8,3)/C(10,3)
  });

  it('matches the chance levels quoted in issue 8 (PyTorch reference runs)', () => {
    // "1,438 captions; chance 0.07 %" and "82 unseen captions; chance 1.2 %" (R@1, one positive).
    expect(hitChance(1438, 1, 1) * 100).toBeCloseTo(0.07, 2);
    expect(hitChance(82, 1, 1) * 100).toBeCloseTo(1.2, 1);
  });

  it('averages over items with different numbers of positives', () => {
    // image 0 has 2 of 4 captions, image 1 has 1, image 2 has 1; every caption has 1 of 3 images.
    const ch = retrievalChance(3, 4, [[0, 0], [0, 1], [1, 2], [2, 3]], [1]);
    expect(ch.imageToText[0]).toBeCloseTo((2 / 4 + 1 / 4 + 1 / 4) / 3, 15);
    expect(ch.textToImage[0]).toBeCloseTo(1 / 3, 15);
  });
});
