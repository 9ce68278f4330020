import { describe, expect, it } from 'vitest';
import { bleu, bleuFromStats, bleuImageStats, closestRefLen } from '../../../src/eval/bleu.ts';
import { scoreCaptions } from '../../../src/eval/captioning.ts';

const w = (s: string) => s.split(' ').filter((x) => x !== '');
const near = (got: number | undefined, want: number, rel = 3e-9) =>
  expect(Math.abs(got! - want)).toBeLessThanOrEqual(rel * Math.abs(want));

// Tolerances: hand-worked values are exact up to coco-caption's tiny/small constants, which move
// a score by < 1e-9 relative, so they are checked to 3e-9 relative; published values printed to 3 decimals
// are checked to ±5e-4 (toBeCloseTo(x, 3)); values from running the Python code to 1e-12.
describe('BLEU (coco-caption bleu_scorer)', () => {
  it('hand-worked: clipped counts, one image, two references', () => {
    // hyp "the cat sat on the mat" (6 words); refs "the cat is on the mat" (6), "there is a cat on the mat" (7)
    // 1-grams: the×2 (max ref count 2), cat, on, mat match, sat does not → 5/6
    // 2-grams: the cat, on the, the mat → 3/5;  3-grams: on the mat → 1/4;  4-grams: 0/3
    // closest ref length 6 = hyp length → no brevity penalty.
    const r = bleuImageStats(w('the cat sat on the mat'), [w('the cat is on the mat'), w('there is a cat on the mat')]);
    expect(r).toEqual({ testLen: 6, refLen: 6, guess: [6, 5, 4, 3], correct: [5, 3, 1, 0] });
    const b = bleuFromStats(r);
    near(b[0], 5 / 6);
    near(b[1], Math.sqrt(0.5));
    near(b[2], 0.5); // (5/6 · 3/5 · 1/4)^(1/3) = (1/8)^(1/3)
    // No 4-gram matches: coco-caption's tiny makes the factor 1e-15/3, not 0.
    near(b[3]! / (0.125 * (1e-15 / 3)) ** 0.25, 1);
  });

  it('closest reference length, ties to the shorter', () => {
    expect(closestRefLen(3, [4, 2])).toBe(2);
    expect(closestRefLen(3, [2, 4])).toBe(2);
    expect(closestRefLen(5, [9, 6, 3])).toBe(6);
    // hyp of 3 words, refs of 4 and 2: r = 2 ≤ c, so no penalty (r = 4 would give exp(1 − 4/3)).
    // 1..3-grams all match; no 4-gram can exist, so its factor is tiny/small = 1e-6 → BLEU-4 = 1e-6^(1/4).
    const b = bleu([w('a dog runs')], [[w('a dog runs fast'), w('dog runs')]]).bleu;
    near(b[0], 1);
    near(b[2], 1);
    near(b[3], 10 ** -1.5);
  });

  it('brevity penalty exp(1 − r/c) when the hypothesis is shorter', () => {
    const b = bleu([w('a dog')], [[w('a dog runs fast')]]).bleu; // c = 2, r = 4
    near(b[0], Math.exp(1 - 4 / 2));
    near(b[1], Math.exp(-1));
  });

  it('corpus BLEU sums statistics; it is not the mean of per-image scores', () => {
    // image A matches perfectly (2/2 unigrams), image B not at all (0/4): corpus BLEU-1 = 2/6.
    const r = bleu([w('a b'), w('c d e f')], [[w('a b')], [w('x y z w')]]);
    near(r.bleu[0], 1 / 3);
    near(r.perImage[0]![0], 1);
    expect(r.perImage[0]![1]).toBeLessThan(1e-15);
    expect(r.stats).toEqual({ testLen: 6, refLen: 6, guess: [6, 4, 2, 1], correct: [2, 1, 0, 0] });
  });

  it('published: coco-caption demo statistics give Bleu_1..4 = 0.579 0.404 0.279 0.191', () => {
    // tylin/coco-caption issue #3 (cocoEvalCapDemo on the fakecap results, as printed by the scorer):
    // {'reflen': 9855, 'guess': [9893, 8893, 7893, 6893], 'testlen': 9893, 'correct': [5732, 2510, 1043, 423]}
    const b = bleuFromStats({ testLen: 9893, refLen: 9855, guess: [9893, 8893, 7893, 6893], correct: [5732, 2510, 1043, 423] });
    [0.579, 0.404, 0.279, 0.191].forEach((x, k) => expect(b[k]).toBeCloseTo(x, 3));
  });

  it('published: perfect and totally wrong captions score 1 and ~0 (irisml-tasks-training tests)', () => {
    // irisml's test_evaluate_captioning.py runs pycocoevalcap (with PTB lowercasing) on these.
    const gts = [['Hello World good Bye'], ['This is perfect test', 'This is perfect test']];
    const good = scoreCaptions(['Hello World Good bye', 'This is perfect test'], gts);
    good.bleu.forEach((x) => expect(x).toBeCloseTo(1, 7));
    const bad = scoreCaptions(['How are you today', 'Only wrong words here'], gts);
    bad.bleu.forEach((x) => expect(x).toBeCloseTo(0, 7));
  });

  it('reference run: the guitar/cucumber example through coco-caption\'s own bleu_scorer.py', () => {
    // Example captions from kracwarlock's demo_cocoeval gist (also helloMickey/caption_eval README).
    // By hand: c = 4 + 5 = 9, r = 6 + 5 = 11; matches 1-grams 4+4, 2-grams 2+3, 3-grams 1+2, 4-grams 0+1.
    // Python (salaniz/pycocoevalcap ad63453, bleu_scorer.py, option='closest') printed the values below.
    const r = bleu(
      [w('man is playing guitar'), w('a woman is cutting vegetables')],
      [
        [w('the man is playing a guitar'), w('a man is playing a guitar')],
        [w('a woman is slicing cucumbers'), w('the woman is slicing cucumbers'), w('a woman is cutting cucumbers')],
      ],
    );
    expect(r.stats).toEqual({ testLen: 9, refLen: 11, guess: [9, 7, 5, 3], correct: [8, 5, 3, 1] });
    const py = [0.711766580212326, 0.638042834868279, 0.5804707570883624, 0.47799953528030814];
    const pyPer = [[0.6065306594093685, 0.7999999996800004], [0.49523020961495395, 0.7745966689122801],
      [0.4205448708940835, 0.7368062993883281], [8.195443206671918e-05, 0.6687403046281203]];
    py.forEach((x, k) => expect(Math.abs(r.bleu[k]! - x)).toBeLessThan(1e-12));
    pyPer.forEach((row, k) => row.forEach((x, i) => expect(Math.abs(r.perImage[k]![i]! - x)).toBeLessThan(1e-12)));
    near(r.bleu[0], (8 / 9) * Math.exp(1 - 11 / 9));
  });

  it('rejects mismatched inputs and images without references', () => {
    expect(() => bleu([w('a')], [])).toThrow(/1 hypotheses but 0/);
    expect(() => bleu([w('a')], [[]])).toThrow(/at least one reference/);
  });
});
