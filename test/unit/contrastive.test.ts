import { describe, expect, it } from 'vitest';
import { contrastiveLoss } from '../../kernels/contrastive.ref.ts';
import { compareClose } from '../../src/util/allclose.ts';
import { testRng } from '../helpers/seed.ts';

describe('contrastive loss (CPU, float64)', () => {
  it('gradients match central differences, including the logit scale', () => {
    const rng = testRng(1);
    const [B, E] = [5, 7];
    const img = Float64Array.from(rng.floats(B * E));
    const txt = Float64Array.from(rng.floats(B * E));
    const s = 1.3;
    const r = contrastiveLoss(img, txt, s, B, E, 0.7);
    const h = 1e-6;
    const fd = (x: Float64Array, i: number, f: () => number) => {
      const keep = x[i]!;
      x[i] = keep + h;
      const up = f();
      x[i] = keep - h;
      const down = f();
      x[i] = keep;
      return (up - down) / (2 * h);
    };
    const L = () => 0.7 * contrastiveLoss(img, txt, s, B, E, 0.7).loss;
    const numImg = img.map((_, i) => fd(img, i, L));
    const numTxt = txt.map((_, i) => fd(txt, i, L));
    expect(compareClose(r.dImage, numImg, { atol: 1e-8, rtol: 1e-6 }).ok).toBe(true);
    expect(compareClose(r.dText, numTxt, { atol: 1e-8, rtol: 1e-6 }).ok).toBe(true);
    const numS = (0.7 * (contrastiveLoss(img, txt, s + h, B, E).loss - contrastiveLoss(img, txt, s - h, B, E).loss)) / (2 * h);
    expect(r.dLogitScale).toBeCloseTo(numS, 7);
  });

  it('matches hand-worked values: identity pairs at scale 0, and near 0 at scale ln 100', () => {
    const [B, E] = [4, 4];
    const eye = Float64Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    // Identical images and texts, all similarities equal at scale exp(0)·0 off-diagonal: loss = ln(1 + 3/e).
    expect(contrastiveLoss(eye, eye, 0, B, E).loss).toBeCloseTo(Math.log(1 + 3 / Math.E), 12);
    expect(contrastiveLoss(eye, eye, Math.log(100), B, E).loss).toBeLessThan(1e-30 + 3 * Math.exp(-100) * 2);
  });

  it('is half the image→text and half the text→image cross-entropy (open_clip ClipLoss, written here), which differ', () => {
    const rng = testRng(2);
    const [B, E] = [3, 5];
    let img = Float64Array.from(rng.floats(B * E));
    let txt = Float64Array.from(rng.floats(B * E));
    const unit = (x: Float64Array, i: number) => {
      const row = Array.from(x.subarray(i * E, (i + 1) * E));
      const n = Math.hypot(...row);
      return row.map((v) => v / n);
    };
    const scale = Math.exp(0.4);
    const logit = (i: number, j: number) => scale * unit(img, i).reduce((a, v, e) => a + v * unit(txt, j)[e]!, 0);
    // Cross-entropy of each row of `at` (B logits) against its diagonal entry.
    const ce = (at: (i: number, j: number) => number) =>
      Array.from({ length: B }, (_, i) => Math.log(Array.from({ length: B }, (_, j) => Math.exp(at(i, j))).reduce((a, b) => a + b)) - at(i, i)).reduce((a, b) => a + b) / B;
    let imageToText = ce(logit);
    let textToImage = ce((i, j) => logit(j, i));
    // Random inputs can make the two directions agree to within 1e-3 (one draw in a few dozen),
    // and then the check below could not tell half of each from either alone: draw again.
    for (let tries = 0; tries < 20 && Math.abs(imageToText - textToImage) <= 1e-3; tries++) {
      img = Float64Array.from(rng.floats(B * E));
      txt = Float64Array.from(rng.floats(B * E));
      imageToText = ce(logit);
      textToImage = ce((i, j) => logit(j, i));
    }
    expect(Math.abs(imageToText - textToImage)).toBeGreaterThan(1e-3);
    const r = contrastiveLoss(img, txt, 0.4, B, E);
    expect(r.loss).toBeCloseTo((imageToText + textToImage) / 2, 12);
    for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) expect(r.logits[i * B + j]).toBeCloseTo(logit(i, j), 12);
  });
});
