import { describe, expect, it } from 'vitest';
import { nearestNeighbourCaptions, randomCaptions } from '../../../src/eval/baselines.ts';

describe('nearest-neighbour caption baseline', () => {
  it('hand-worked: picks by cosine, not by dot product', () => {
    // train 0 = (10, 10) has the largest dot product with eval 0 = (1, 0.1) (11 vs 1), but by
    // cosine train 2 = (1, 0) wins: 1/|(1, 0.1)| = 0.995 against 11/(1.005·14.14) = 0.774.
    // eval 1 = (0.2, 1): cosine to train 1 = (0, 1) is 1/1.0198 = 0.981, to train 0 0.832.
    const train = Float32Array.from([10, 10, 0, 1, 1, 0]);
    const evalEmb = Float32Array.from([1, 0.1, 0.2, 1]);
    const r = nearestNeighbourCaptions(evalEmb, train, 2, ['big', 'up', 'right']);
    expect([...r.index]).toEqual([2, 1]);
    expect(r.captions).toEqual(['right', 'up']);
    expect(r.similarity[0]).toBeCloseTo(1 / Math.hypot(1, 0.1), 6); // float32 output: 1e-6
    expect(r.similarity[1]).toBeCloseTo(1 / Math.hypot(0.2, 1), 6);
  });

  it('ties go to the lowest training index; a zero embedding matches nothing better', () => {
    const train = Float32Array.from([0, 0, 1, 2, 1, 2]);
    const r = nearestNeighbourCaptions(Float32Array.from([3, 3]), train, 2, ['zero', 'first', 'second']);
    expect(r.captions).toEqual(['first']);
  });

  it('rejects inconsistent sizes', () => {
    expect(() => nearestNeighbourCaptions(new Float32Array(4), new Float32Array(6), 2, ['a'])).toThrow(/1 captions for 3/);
    expect(() => nearestNeighbourCaptions(new Float32Array(3), new Float32Array(6), 2, ['a', 'b', 'c'])).toThrow(/multiples of dim 2/);
  });
});

describe('random caption baseline', () => {
  it('draws training captions reproducibly from the seed', () => {
    const pool = ['a', 'b', 'c', 'd', 'e'];
    const x = randomCaptions(50, pool, 3);
    expect(x).toEqual(randomCaptions(50, pool, 3));
    expect(x.every((c) => pool.includes(c))).toBe(true);
    expect(new Set(x).size).toBeGreaterThan(1); // 50 draws from 5: all equal has probability 5^-49
  });
});
