// Zero-shot class probabilities on a case worked by hand: softmax over classes of the logit scale
// times the cosine similarity of unit image and class embeddings.
import { describe, expect, it } from 'vitest';
import { classify } from '../../src/infer/zeroshot.ts';
import { clampLogitScale, LOGIT_SCALE_MAX } from '../../src/model/loss.ts';

describe('zero-shot classify', () => {
  it('a hand-worked case: similarities 0.6, 0.8, 1 at scale 10 give e^6 : e^8 : e^10', () => {
    // Image (0.6, 0.8); classes (1, 0), (0, 1), (0.6, 0.8) → logits 6, 8, 10.
    // p = (e^-4, e^-2, 1) / (1 + e^-2 + e^-4) = (0.0183156, 0.1353353, 1) / 1.1536509.
    const p = classify(Float32Array.of(0.6, 0.8), Float32Array.of(1, 0, 0, 1, 0.6, 0.8), 2, 10);
    expect(p[0]).toBeCloseTo(0.015876, 5);
    expect(p[1]).toBeCloseTo(0.117310, 5);
    expect(p[2]).toBeCloseTo(0.866813, 5);
  });

  it('two images at once, each its own softmax; scale 0 gives uniform probabilities', () => {
    // Image 2 is (0, 1): logits 0, 10, 8 → the same three numbers, classes 1 and 2 swapped.
    const p = classify(Float32Array.of(0.6, 0.8, 0, 1), Float32Array.of(1, 0, 0, 1, 0.6, 0.8), 2, 10);
    expect(p[3]).toBeCloseTo(0.000040, 6); // e^-10 / (1 + e^-2 + e^-10), e^-10 = 4.54e-5
    expect(p[4]).toBeCloseTo(0.880762, 5); // 1 / (1 + e^-2 + e^-10), e^-10 = 4.54e-5
    expect(p[5]).toBeCloseTo(0.119198, 5);
    expect(Array.from(classify(Float32Array.of(0.6, 0.8), Float32Array.of(1, 0, 0, 1), 2, 0))).toEqual([0.5, 0.5]);
  });

  it('the logit scale is read as training clamps it: to [0, ln 100]', () => {
    expect(clampLogitScale(-3)).toBe(0);
    expect(clampLogitScale(9)).toBe(LOGIT_SCALE_MAX);
    expect(LOGIT_SCALE_MAX).toBeCloseTo(4.605170186, 9);
    expect(clampLogitScale(2.5)).toBe(2.5);
  });
});
