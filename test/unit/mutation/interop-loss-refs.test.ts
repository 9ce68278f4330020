// The lines kernels/contrastive.ref.ts and kernels/crossentropy.ref.ts gained with the loss recipes
// (c73af5b: contrastive positives by group, label smoothing), which no GPU-free test reached:
// expected values worked by hand from the formulas their headers cite — torch's
// cross_entropy(label_smoothing=ε): (1 − ε)·(−log p_t) + ε·mean_j(−log p_j), mean over the counted
// rows; the contrastive loss with soft targets Y_ij = 1/|group of i| over the pairs of i's group,
// half image→text and half text→image — and the gradients against central differences.
import { describe, expect, it } from 'vitest';
import { contrastiveLoss } from '../../../kernels/contrastive.ref.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../../kernels/crossentropy.ref.ts';

describe('crossEntropyRef with label smoothing', () => {
  // Row 0: logits [0, ln 3], p = [1/4, 3/4], target 1. Row 1 ignored. Row 2: logits [ln 2, 0], p = [2/3, 1/3], target 0.
  const logits = [0, Math.log(3), 7, -7, Math.log(2), 0];
  const targets = [1, -100, 0];
  const eps = 0.2;
  const row0 = (1 - eps) * Math.log(4 / 3) + (eps * (Math.log(4) + Math.log(4 / 3))) / 2;
  const row2 = (1 - eps) * Math.log(3 / 2) + (eps * (Math.log(3 / 2) + Math.log(3))) / 2;

  it("each counted row is (1 − ε)·(−log p_t) + ε·mean_j(−log p_j); the loss their mean; ignored rows 0", () => {
    const r = crossEntropyRef(logits, targets, 2, -100, eps);
    expect(r.count).toBe(2);
    expect(r.rowLoss[0]).toBeCloseTo(row0, 14);
    expect(r.rowLoss[1]).toBe(0);
    expect(r.rowLoss[2]).toBeCloseTo(row2, 14);
    expect(r.loss).toBeCloseTo((row0 + row2) / 2, 14);
    // Without smoothing the plain −log p_t, whatever the smoothing default.
    expect(crossEntropyRef(logits, targets, 2, -100).rowLoss[0]).toBeCloseTo(Math.log(4 / 3), 14);
    expect(crossEntropyRef(logits, targets, 2, -100, 0).loss).toBeCloseTo((Math.log(4 / 3) + Math.log(3 / 2)) / 2, 14);
  });

  it('its gradient: (softmax − (1 − ε)·onehot − ε/V)·dloss/count, 0 on ignored rows, and the central differences of the loss', () => {
    const dloss = 3;
    const d = crossEntropyBackwardRef(logits, targets, 2, -100, dloss, eps);
    const want = [1 / 4 - eps / 2, 3 / 4 - (1 - eps) - eps / 2, 0, 0, 2 / 3 - (1 - eps) - eps / 2, 1 / 3 - eps / 2].map((x) => (x * dloss) / 2);
    want.forEach((w, i) => expect(d[i], `dlogits[${i}]`).toBeCloseTo(w, 14));
    const h = 1e-6;
    for (let i = 0; i < logits.length; i++) {
      const at = (x: number) => crossEntropyRef(logits.map((v, k) => (k === i ? v + x : v)), targets, 2, -100, eps).loss * dloss;
      expect(d[i], `fd ${i}`).toBeCloseTo((at(h) - at(-h)) / (2 * h), 7);
    }
  });
});

describe('contrastiveLoss with groups of positives', () => {
  // Unit rows: images and texts e0, e1, e1 (E = 2), logit scale 0 (s = 1), so the logits a_i·t_j are
  // rows [1, 0, 0], [0, 1, 1], [0, 1, 1]. Groups 7, 7, 9: Y rows [½, ½, 0], [½, ½, 0], [0, 0, 1].
  const img = [1, 0, 0, 1, 0, 1];
  const txt = [1, 0, 0, 1, 0, 1];
  const e = Math.E;
  const lse1 = Math.log(e + 2); // log-sum-exp of [1, 0, 0]
  const lse2 = Math.log(2 * e + 1); // of [0, 1, 1]
  // Image→text rows: lse1 − ½, lse2 − ½, lse2 − 1; text→image columns ([1,0,0], [0,1,1], [0,1,1]
  // against Y's columns [½,½,0], [½,½,0], [0,0,1]): the same. Each half is over 2B = 6.
  const grouped = (2 * lse1 + 4 * lse2 - 4) / 6;
  // Without groups (Y = I) every row and column loses its diagonal logit 1.
  const plain = (2 * lse1 + 4 * lse2 - 6) / 6;

  it('the loss with soft targets 1/|group| over each group, and without groups the identity', () => {
    expect(contrastiveLoss(img, txt, 0, 3, 2, 1, [7, 7, 9]).loss).toBeCloseTo(grouped, 14);
    expect(contrastiveLoss(img, txt, 0, 3, 2).loss).toBeCloseTo(plain, 14);
    // Every row its own group is the identity again.
    expect(contrastiveLoss(img, txt, 0, 3, 2, 1, [1, 2, 3]).loss).toBeCloseTo(plain, 14);
    // One group of three: Y = 1/3 everywhere; rows and columns lose ⅓, ⅔, ⅔ of a logit.
    expect(contrastiveLoss(img, txt, 0, 3, 2, 1, [5, 5, 5]).loss).toBeCloseTo((2 * lse1 + 4 * lse2 - 10 / 3) / 6, 14);
    // Groups 7, 9, 7: 0 with 2, so Y rows [½, 0, ½], [0, 1, 0], [½, 0, ½]: rows lose ½, 1, ½; columns the same.
    expect(contrastiveLoss(img, txt, 0, 3, 2, 1, [7, 9, 7]).loss).toBeCloseTo((2 * lse1 + 4 * lse2 - 4) / 6, 14);
  });

  it('its gradients (inputs and logit scale, weighted) against central differences, with groups', () => {
    const groups = [7, 7, 9];
    const w = 1.5;
    const scale = 0.3;
    // Off-axis inputs so the normalisation's gradient is not trivial.
    const a = [0.9, 0.2, 1.1, -0.3, 0.1, 0.8];
    const t = [1.0, 0.1, -0.2, 0.7, 0.3, 1.2];
    const r = contrastiveLoss(a, t, scale, 3, 2, w, groups);
    const h = 1e-6;
    const loss = (aa: number[], tt: number[], s: number) => contrastiveLoss(aa, tt, s, 3, 2, w, groups).loss * w;
    for (let i = 0; i < 6; i++) {
      const bump = (v: number[], x: number) => v.map((y, k) => (k === i ? y + x : y));
      expect(r.dImage[i], `dImage ${i}`).toBeCloseTo((loss(bump(a, h), t, scale) - loss(bump(a, -h), t, scale)) / (2 * h), 7);
      expect(r.dText[i], `dText ${i}`).toBeCloseTo((loss(a, bump(t, h), scale) - loss(a, bump(t, -h), scale)) / (2 * h), 7);
    }
    expect(r.dLogitScale).toBeCloseTo((loss(a, t, scale + h) - loss(a, t, scale - h)) / (2 * h), 7);
  });
});
