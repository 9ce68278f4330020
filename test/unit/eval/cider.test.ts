import { describe, expect, it } from 'vitest';
import { scoreCaptions } from '../../../src/eval/captioning.ts';
import { ciderD } from '../../../src/eval/cider.ts';

const w = (s: string) => s.split(/\s+/).filter((x) => x !== '');
// Hand-worked values are closed forms, checked to 1e-12 relative; values produced by running
// coco-caption's cider_scorer.py are checked to 1e-12 relative too (we match it to ~1e-15).
const near = (got: number | undefined, want: number, rel = 1e-12) =>
  expect(Math.abs(got! - want)).toBeLessThanOrEqual(rel * Math.abs(want));

describe('CIDEr-D (coco-caption cider_scorer)', () => {
  it('hand-worked: a perfect two-word caption scores 5, not 10', () => {
    // N = 2 images, every n-gram has df = 1, so g = tf·(ln 2 − ln 1). Cosine is 1 for 1- and
    // 2-grams; a two-word sentence has no 3- or 4-grams, whose zero similarity still enters the
    // mean over n: 10 · (1 + 1 + 0 + 0)/4 = 5.
    const r = ciderD([w('a b'), w('c d')], [[w('a b')], [w('c d')]]);
    near(r.perImage[0], 5);
    near(r.perImage[1], 5);
    near(r.score, 5);
  });

  it('hand-worked: an n-gram in every image\'s references has zero IDF weight', () => {
    // "a" occurs in both images' references: df = N = 2, weight ln 2 − ln 2 = 0. Image 1's
    // caption "a cat" against "a dog" therefore matches nothing that counts: 0 (BLEU-1 would be 0.5).
    const r = ciderD([w('a cat'), w('a cat')], [[w('a dog')], [w('a cat')]]);
    expect(r.perImage[0]).toBe(0);
    near(r.perImage[1], 5);
    near(r.score, 2.5);
  });

  it('hand-worked: clipping and the Gaussian length penalty (σ = 6)', () => {
    // Image 1: hyp "a a b" vs ref "a b", N = 2, L = ln 2.
    //   1-grams: g_h = {a: 2L, b: L}, g_r = {a: L, b: L}; clipped Σ min(g_h, g_r)·g_r = 2L²
    //            over ‖g_h‖‖g_r‖ = √5·√2·L² → 2/√10 (unclipped it would be 3/√10).
    //   2-grams: g_h = {"a a": L (df 0 → ln max(1, 0) = 0), "a b": L}, g_r = {"a b": L} → 1/√2.
    //   3-grams: the reference has none → 0. δ = 2 − 1 bigrams → penalty exp(−1/72).
    const r = ciderD([w('a a b'), w('c d')], [[w('a b')], [w('c d')]]);
    const img1 = (10 * (2 / Math.sqrt(10) + 1 / Math.SQRT2) * Math.exp(-1 / 72)) / 4;
    near(r.perImage[0], img1);
    near(r.score, (img1 + 5) / 2);
  });

  it('hand-worked: several references are averaged, and a single image scores 0', () => {
    // Image 1 has refs "a b" (cosine 1 at n = 1, 2) and "c d" (cosine 0): 10 · (2/4) / 2 = 2.5.
    // df: a, b, "a b" → 1; c, d, "c d" → 2 (also image 2's reference), so they weigh 0.
    const r = ciderD([w('a b'), w('c d')], [[w('a b'), w('c d')], [w('c d')]]);
    near(r.perImage[0], 2.5);
    // image 2's only n-grams have df = N: its vectors are all zero, so its score is 0.
    expect(r.perImage[1]).toBe(0);
    // With one image log N = 0: every weight vanishes (coco-caption's documented behaviour).
    expect(ciderD([w('a b')], [[w('a b')]]).score).toBe(0);
  });

  it('published: SummEval\'s CIDEr test value 2.5759014911864084', () => {
    // Yale-LILY/SummEval evaluation/tests/test_cider.py: CiderMetric(tokenize=False) on CANDS/REFS
    // of summ_eval/test_util.py (raw whitespace split, case and punctuation kept) → 2.5759014911864084.
    // Running coco-caption's cider_scorer.py on the same input gives that value and the
    // per-image scores [0.16407616, 5.81975534, 1.74387297].
    const cands = [
      '28-year-old chef found dead in San Francisco mall',
      'A 28-year-old chef who recently moved to San Francisco was found dead in the staircase of a local shopping center.',
      'The victim\'s brother said he cannot imagine anyone who would want to harm him,"Finally, it went uphill again at him."',
    ];
    const refs = [
      '28-Year-Old Chef Found Dead at San Francisco Mall',
      'A 28-year-old chef who had recently moved to San Francisco was found dead in the stairwell of a local mall this week.',
      'But the victim\'s brother says he can\'t think of anyone who would want to hurt him, saying, "Things were finally going well for him."',
    ];
    const r = ciderD(cands.map(w), refs.map((x) => [w(x)]));
    near(r.score, 2.5759014911864084);
    [0.16407616, 5.81975534, 1.74387297].forEach((x, i) => expect(r.perImage[i]).toBeCloseTo(x, 7));
  });

  it('published: perfect captions score 10 and wrong ones 0 (irisml-tasks-training tests)', () => {
    const gts = [['Hello World good Bye'], ['This is perfect test', 'This is perfect test']];
    near(scoreCaptions(['Hello World Good bye', 'This is perfect test'], gts).ciderD, 10);
    expect(scoreCaptions(['How are you today', 'Only wrong words here'], gts).ciderD).toBe(0);
  });

  it('reference run: the guitar/cucumber example through coco-caption\'s own cider_scorer.py', () => {
    // Python (salaniz/pycocoevalcap ad63453) printed 4.016678075227614, per image [4.42224504, 3.61111111].
    const r = ciderD(
      [w('man is playing guitar'), w('a woman is cutting vegetables')],
      [
        [w('the man is playing a guitar'), w('a man is playing a guitar')],
        [w('a woman is slicing cucumbers'), w('the woman is slicing cucumbers'), w('a woman is cutting cucumbers')],
      ],
    );
    near(r.score, 4.016678075227614);
    expect(r.perImage[1]).toBeCloseTo(3.61111111, 7);
  });

  it('rejects mismatched inputs', () => {
    expect(() => ciderD([w('a')], [])).toThrow(/1 hypotheses but 0/);
    expect(() => ciderD([w('a')], [[]])).toThrow(/no reference caption/);
  });
});
