// Cases the eval metrics' mutation run (docs/mutation.md) showed untested: each expected value is
// worked out by hand in the comment beside it, never taken from our own output.
import { describe, expect, it } from 'vitest';
import { nearestNeighbourCaptions, randomCaptions, retrievalChance } from '../../../src/eval/baselines.ts';
import { bleu, bleuImageStats } from '../../../src/eval/bleu.ts';
import { scoreCaptions } from '../../../src/eval/captioning.ts';
import { ciderD } from '../../../src/eval/cider.ts';
import { retrievalRecall, retrievalRecallPairs, similarity } from '../../../src/eval/recall.ts';
import { formatSection, renderReport } from '../../../src/eval/report.ts';
import { topKAccuracy } from '../../../src/eval/zeroshot.ts';

const w = (s: string) => s.split(' ').filter((x) => x !== '');

describe('retrieval recall: edges', () => {
  it('similarity is the matrix of row dot products', () => {
    // a = [(1, 2), (0, -1)], b = [(3, 1), (1, 1), (-2, 0.5)]:
    // row 0: 3 + 2, 1 + 2, −2 + 1; row 1: −1, −1, −0.5.
    const s = similarity(Float32Array.from([1, 2, 0, -1]), Float32Array.from([3, 1, 1, 1, -2, 0.5]), 2, 3, 2);
    expect([...s]).toEqual([5, 3, -1, -1, -1, -0.5]);
  });

  it("an image's best caption is looked for among its own captions only, not the next image's", () => {
    // Caption 0 is image 1's, caption 1 image 0's. Image 0 scores its caption 0.1, caption 0 0.9
    // → rank 2; image 1's 0.95 for its caption 0 must not count for image 0.
    const r = retrievalRecall([0.9, 0.1, 0.95, 0.5], 2, 2, [1, 0], [1]);
    expect([...r.ranksI2T]).toEqual([2, 1]);
  });

  it('defaults to K = 1, 5, 10 and reports the Ks it used', () => {
    const r = retrievalRecall([1, 0, 0, 1], 2, 2, [0, 1]);
    expect(r.ks).toEqual([1, 5, 10]);
    expect(r.imageToText).toEqual([1, 1, 1]);
    expect(retrievalRecallPairs([1, 0, 0, 1], 2, 2, [[0, 0], [1, 1]]).ks).toEqual([1, 5, 10]);
    expect(retrievalRecall([1, 0, 0, 1], 2, 2, [0, 1], [2]).ks).toEqual([2]);
  });

  it('names a pair outside the matrix on each of its four sides', () => {
    for (const p of [[-1, 0], [2, 0], [0, -1], [0, 2]] as const)
      expect(() => retrievalRecallPairs([1, 0, 0, 1], 2, 2, [[0, 0], [1, 1], p])).toThrow(`recall: pair (${p[0]}, ${p[1]}) out of range`);
  });
});

describe('chance baselines: edges', () => {
  it('counts a repeated (image, text) pair once', () => {
    // 3 images × 2 texts, relevant pairs (0,1), (2,0), (1,0), (1,1), with (1,1) and (1,0) repeated.
    // Images hold 1, 2, 1 positives among 2 texts; at K = 1: 1 − 1/2, 1, 1 − 1/2 → mean 2/3.
    // Texts hold 2 positives each among 3 images: 1 − 1/3 = 2/3 each.
    const r = retrievalChance(3, 2, [[0, 1], [2, 0], [1, 0], [1, 1], [1, 1], [1, 0]], [1]);
    expect(r.ks).toEqual([1]);
    expect(r.imageToText[0]).toBeCloseTo(2 / 3, 15);
    expect(r.textToImage[0]).toBeCloseTo(2 / 3, 15);
    expect(retrievalChance(2, 2, [[0, 0], [1, 1]]).ks).toEqual([1, 5, 10]);
  });

  it('nearest neighbour: a zero embedding has cosine 0, which beats a negative one', () => {
    // eval (1, 0); train 0 = (0, 0) → cosine 0; train 1 = (−1, 1) → cosine −1/√2.
    const r = nearestNeighbourCaptions(Float32Array.from([1, 0]), Float32Array.from([0, 0, -1, 1]), 2, ['zero', 'away']);
    expect([...r.index]).toEqual([0]);
    expect(r.similarity[0]).toBe(0);
    // A zero eval embedding is similar to nothing: cosine 0 with each, the first is kept.
    expect(nearestNeighbourCaptions(Float32Array.from([0, 0]), Float32Array.from([1, 0, 0, 1]), 2, ['a', 'b']).similarity[0]).toBe(0);
  });

  it('refuses an empty or ragged training set in one line', () => {
    expect(() => nearestNeighbourCaptions(new Float32Array(2), new Float32Array(0), 2, [])).toThrow('nearest neighbour: no training images');
    expect(() => nearestNeighbourCaptions(new Float32Array(2), new Float32Array(3), 2, ['a'])).toThrow(/multiples of dim 2/);
    expect(() => randomCaptions(3, [], 1)).toThrow('random captions: no training captions');
  });
});

describe('BLEU and CIDEr-D: edges', () => {
  it('an empty hypothesis scores 0 (the brevity penalty is exp(1 − r/0⁺) = 0)', () => {
    const r = bleu([[]], [[w('a b')]]);
    expect(r.bleu).toEqual([0, 0, 0, 0]);
  });

  it('n-grams are words, so "ab c" and "a bc" share no bigram', () => {
    expect(bleuImageStats(['ab', 'c'], [['a', 'bc']]).correct).toEqual([0, 0, 0, 0]);
    expect(bleuImageStats(['a', 'bc'], [['a', 'bc']]).correct).toEqual([2, 1, 0, 0]);
  });

  it('CIDEr-D with unigrams only (n = 1) has no length penalty', () => {
    // hyp "a a" vs ref "a": g_h = {a: 2L}, g_r = {a: L} → min(2L, L)·L / (2L·L) = 1/2 (clipped), × 10.
    const r = ciderD([w('a a'), w('c')], [[w('a')], [w('c')]], { n: 1 });
    expect(r.perImage[0]).toBeCloseTo(5, 12);
    expect(r.perImage[1]).toBeCloseTo(10, 12);
  });

  it('CIDEr-D: an order the hypothesis lacks adds 0, not 0/0', () => {
    // Image 1: hyp "a" vs ref "a b", L = ln 2: unigrams {a: L} · {a: L, b: L} → L²/(L·√2·L) = 1/√2;
    // no bigram in the hypothesis → 0; δ = 0 − 1 bigrams → exp(−1/72). 10 · (1/√2)/4 · exp(−1/72).
    const r = ciderD([w('a'), w('c d')], [[w('a b')], [w('c d')]]);
    expect(r.perImage[0]).toBeCloseTo((10 * Math.SQRT1_2 * Math.exp(-1 / 72)) / 4, 12);
  });

  it('CIDEr-D of no images is NaN, not 0', () => {
    const r = ciderD([], []);
    expect(r.score).toBeNaN();
    expect(r.perImage).toEqual([]);
  });

  it('scoreCaptions keeps the per-image scores', () => {
    // Two perfect captions (after lowercasing and dropping the full stop): BLEU-4 1 and CIDEr-D 10 each.
    const s = scoreCaptions(['A red fox jumps high.', 'two dogs run in snow'], [['a red fox jumps high'], ['Two dogs run in snow.']]);
    expect(s.perImage.ciderD.map((x) => +x.toFixed(9))).toEqual([10, 10]);
    expect(s.perImage.bleu4.map((x) => +x.toFixed(6))).toEqual([1, 1]);
  });
});

describe('zero-shot accuracy: edges', () => {
  it('defaults to top-1 and top-5 and reports the ks it used', () => {
    expect(topKAccuracy([0.9, 0.1], 1, 2, [0]).ks).toEqual([1, 5]);
    expect(topKAccuracy([0.9, 0.1], 1, 2, [0], [2]).ks).toEqual([2]);
  });

  it('refuses a label that is negative, fractional or missing', () => {
    expect(() => topKAccuracy([0, 1], 1, 2, [-1])).toThrow(/label -1 of sample 0 is not a class/);
    expect(() => topKAccuracy([0, 1], 1, 2, [0.5])).toThrow(/label 0.5 of sample 0 is not a class/);
    expect(() => topKAccuracy([0, 1, 0, 1], 2, 2, [0])).toThrow('zero-shot: 1 labels for 2 samples');
  });
});

describe('eval report: percentages', () => {
  it('prints 0 as 0.0 %, 1 % with one decimal and below 1 % with two', () => {
    const text = formatSection({ title: 't', sizes: {}, rows: [{ name: 'm', metrics: { top1: 0, top5: 0.01, i2t_r1: 0.0007 } }] });
    const [title, head, rule, row] = text.split('\n');
    expect(row!.split(/\s+/)).toEqual(['m', '0.07%', '0.0%', '1.0%']);
    // Columns two spaces apart, each as wide as its widest cell: 1, 'I→T R@1' 7, 'top-1' 5, 'top-5' 5.
    expect(title).toBe('t');
    expect(head).toBe('   I→T R@1  top-1  top-5');
    expect(rule).toBe(['─', '───────', '─────', '─────'].join('  '));
    expect(formatSection({ title: 't', sizes: { images: 2, captions: 3 }, rows: [] }).split('\n')[0]).toBe('t (2 images, 3 captions)');
  });

  it('JSON keeps finite values and turns the others into null', () => {
    const { json } = renderReport([{ title: 't', sizes: { images: 2 }, rows: [{ name: 'm', metrics: { top1: 0.5, top5: NaN } }] }]);
    expect(json.sections[0]!.rows[0]!.metrics).toEqual({ top1: 0.5, top5: null });
  });
});
