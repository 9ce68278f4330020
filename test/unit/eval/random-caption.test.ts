import { describe, expect, it } from 'vitest';
import { randomCaptionMetrics } from '../../../src/eval/run.ts';

// Captioning's chance row (coca eval): a random training caption per picture, scored like a model.
describe('randomCaptionMetrics', () => {
  const refs = [['a red dog'], ['a red dog'], ['a red dog']];

  it('scores a pool that holds only the reference as a perfect caption, one that shares no word as zero', () => {
    const same = randomCaptionMetrics(refs, ['a red dog']);
    // Every hypothesis is its reference: each n-gram precision is 1, no brevity penalty.
    for (const k of ['bleu1', 'bleu2', 'bleu3']) expect(same[k]).toBeCloseTo(1, 6);
    const none = randomCaptionMetrics(refs, ['two blue cats']);
    // BLEU as coco-caption computes it: a 1e-15 floor in place of a zero precision.
    expect(none['bleu1']).toBeLessThan(1e-12);
    expect(none['cider_d']).toBe(0);
  });

  it('averages over draws: half the pool right gives BLEU-1 between the two, deterministically', () => {
    const pool = ['a red dog', 'two blue cats'];
    const m = randomCaptionMetrics(refs, pool);
    expect(m['bleu1']).toBeGreaterThan(0);
    expect(m['bleu1']).toBeLessThan(1);
    expect(randomCaptionMetrics(refs, pool)).toEqual(m);
  });
});
