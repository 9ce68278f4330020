// The float64 references of kernels/*.ref.ts on small cases worked out by hand (or, for erf, from
// published values), in the paths the mutation run (docs/mutation.md) found untested without a
// GPU: defaults, broadcasting, strides, scales, masked rows, ignored rows and the reductions and
// copies only the GPU tests used.
import { describe, expect, it } from 'vitest';
import { adamwRef, gradNormRef } from '../../../kernels/adamw.ref.ts';
import { attends, attentionFlops, attentionRef, attentionSampledRowsRef } from '../../../kernels/attention.ref.ts';
import { copyRowsRef } from '../../../kernels/copy.ref.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../../kernels/crossentropy.ref.ts';
import { embeddingBackwardRef, embeddingRef } from '../../../kernels/embedding.ref.ts';
import { layernormBackwardRef, layernormRef } from '../../../kernels/layernorm.ref.ts';
import { matmulBackwardRef, matmulRef, matmulRefElement } from '../../../kernels/matmul.ref.ts';
import { axpbyRef, erfcRef, erfRef, geluBackwardRef, geluRef, mulRef, normalCdfRef, scaleRef } from '../../../kernels/pointwise.ref.ts';
import { reduceAllRef, reduceColumnsRef, reduceRowsRef } from '../../../kernels/reduce.ref.ts';
import { softmaxBackwardRef, softmaxRef } from '../../../kernels/softmax.ref.ts';

const close = (got: ArrayLike<number>, want: readonly number[], digits = 12) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i], `element ${i}`).toBeCloseTo(w, digits));
};

describe('pointwise references', () => {
  it('erf and erfc against published values, both sides of |z| = 1 and far in the tail', () => {
    // Values from CPython's math.erf and math.erfc (python3 -c 'import math; print(math.erf(0.5))').
    expect(erfRef(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erfRef(-0.3)).toBeCloseTo(-0.3286267594591274, 14);
    expect(erfRef(0.999)).toBeCloseTo(0.8422852702064969, 14);
    expect(erfcRef(1)).toBeCloseTo(0.15729920705028513, 14);
    expect(erfcRef(2)).toBeCloseTo(0.004677734981047266, 16);
    expect(erfcRef(-1.5)).toBeCloseTo(1.9661051464753108, 14);
    expect(erfcRef(5) / 1.5374597944280349e-12).toBeCloseTo(1, 12);
    expect(erfcRef(10) / 2.088487583762545e-45).toBeCloseTo(1, 12);
    expect(erfcRef(0)).toBe(1);
    expect(normalCdfRef(1.959963984540054)).toBeCloseTo(0.975, 14);
    expect(normalCdfRef(-1)).toBeCloseTo(0.15865525393145707, 14);
  });

  it('GELU x·Φ(x) and its derivative Φ(x) + x·φ(x)', () => {
    close(geluRef([1, -1, 0, 3]), [0.8413447460685429, -0.15865525393145707, 0, 3 * 0.9986501019683699], 14);
    const phi = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
    close(geluBackwardRef([1, -0.5], [2, -3]), [2 * (0.8413447460685429 + phi(1)), -3 * (0.3085375387259869 - 0.5 * phi(0.5))], 14);
  });

  it('axpby with its defaults and a broadcast row; mul with α; scale', () => {
    close(axpbyRef([1, 2, 3, 4], [10, 20, 30, 40]), [11, 22, 33, 44]);
    close(axpbyRef([1, 2, 3, 4], [10, 20, 30, 40], 2, -1), [-8, -16, -24, -32]);
    close(axpbyRef([1, 2, 3, 4, 5, 6], [10, 20], 1, 1, 2), [11, 22, 13, 24, 15, 26]);
    close(mulRef([1, 2, 3], [4, 5, 6]), [4, 10, 18]);
    close(mulRef([1, 2, 3], [4, 5, 6], -0.5), [-2, -5, -9]);
    close(scaleRef([1, -2, 0.5], 3), [3, -6, 1.5]);
  });
});

describe('softmax reference', () => {
  it('over each row of scale·x; a row of −∞ stays 0', () => {
    const e = Math.E;
    close(softmaxRef([0, 1, -Infinity, -Infinity, 0, 0], 2, 3), [1 / (1 + e), e / (1 + e), 0, 0, 0.5, 0.5]);
    close(softmaxRef([-Infinity, -Infinity, 1, 1], 2, 2), [0, 0, 0.5, 0.5]);
    close(softmaxRef([0, 1], 1, 2, 2), [1 / (1 + e * e), (e * e) / (1 + e * e)]);
    // Large logits do not overflow.
    close(softmaxRef([1000, 1000], 1, 2), [0.5, 0.5]);
  });

  it('backward scale·y⊙(dy − Σ y·dy)', () => {
    // y = (0.25, 0.75), dy = (1, 3): Σ y·dy = 2.5; dx = 2·(0.25·−1.5, 0.75·0.5).
    close(softmaxBackwardRef([0.25, 0.75, 0.5, 0.5], [1, 3, 2, 2], 2, 2, 2), [-0.75, 0.75, 0, 0]);
  });
});

describe('layernorm reference', () => {
  it('biased variance, eps 1e-5 by default, γ and β per column; mean and rstd per row', () => {
    // Row (1, 3): mean 2, variance 1 → x̂ = (−1, 1)/√(1 + eps). Row (2, 2): variance 0 → rstd 1/√eps.
    const { y, mean, rstd } = layernormRef([1, 3, 2, 2], [2, 3], [0.5, -1], 2, 2);
    const r = 1 / Math.sqrt(1 + 1e-5);
    close(mean, [2, 2]);
    close(rstd, [r, 1 / Math.sqrt(1e-5)], 9);
    close(y, [-2 * r + 0.5, 3 * r - 1, 0.5, -1]);
    close(layernormRef([1, 3], [1, 1], [0, 0], 1, 2, 0).y, [-1, 1]);
  });

  it('backward: dβ and dγ summed over rows, dx by finite differences', () => {
    const x = [1, 3, 0, 4, 2, -2];
    const gamma = [2, -1];
    const dy = [1, 2, -1, 0.5, 3, 1];
    const { mean, rstd } = layernormRef(x, gamma, [0, 0], 3, 2, 0);
    const b = layernormBackwardRef(x, gamma, mean, rstd, dy, 3, 2);
    close(b.dbeta, [1 - 1 + 3, 2 + 0.5 + 1]);
    // x̂ rows: (−1, 1), (−1, 1), (1, −1).
    close(b.dgamma, [-1 + 1 + 3, 2 + 0.5 - 1]);
    const loss = (xs: number[]) => layernormRef(xs, gamma, [0, 0], 3, 2, 0).y.reduce((a, v, i) => a + v * dy[i]!, 0);
    x.forEach((_, i) => {
      const h = 1e-6;
      const up = [...x];
      const down = [...x];
      up[i]! += h;
      down[i]! -= h;
      expect(b.dx[i]).toBeCloseTo((loss(up) - loss(down)) / (2 * h), 6);
    });
  });
});

describe('matmul reference', () => {
  // A = [[1, 2, 3], [4, 5, 6]] (2×3), B = [[1, 0], [0, 1], [1, 1]] (3×2): A·B = [[4, 5], [10, 11]].
  const A = [1, 2, 3, 4, 5, 6];
  const At = [1, 4, 2, 5, 3, 6];
  const B = [1, 0, 0, 1, 1, 1];
  const Bt = [1, 0, 1, 0, 1, 1];
  const AB = [4, 5, 10, 11];

  it('op(A)·op(B) with either stored transposed, α, a bias row and an accumulated C', () => {
    const d = { M: 2, N: 2, K: 3, batch: 1, transA: false, transB: false };
    close(matmulRef(A, B, d), AB);
    close(matmulRef(At, B, { ...d, transA: true }), AB);
    close(matmulRef(A, Bt, { ...d, transB: true }), AB);
    close(matmulRef(At, Bt, { ...d, transA: true, transB: true }), AB);
    close(matmulRef(A, B, d, { alpha: 2, bias: [100, 200], accumulate: [1, 2, 3, 4] }), [109, 212, 123, 226]);
    expect(matmulRefElement(At, Bt, { M: 2, N: 2, K: 3, transA: true, transB: true }, 1, 0)).toBe(10);
  });

  it('batches: dense by default, a stride of 0 broadcasts one matrix', () => {
    const d = { M: 2, N: 2, K: 3, batch: 2, transA: false, transB: false };
    const A2 = [...A, ...A.map((x) => -x)];
    close(matmulRef(A2, [...B, ...B], d), [...AB, ...AB.map((x) => -x)]);
    close(matmulRef(A2, B, { ...d, strideB: 0 }), [...AB, ...AB.map((x) => -x)]);
    close(matmulRef(A, [...B, ...B.map((x) => 2 * x)], { ...d, strideA: 0 }), [...AB, ...AB.map((x) => 2 * x)]);
  });

  it('backward: dA = dC·op(B)ᵀ, dB = op(A)ᵀ·dC, in the stored layouts', () => {
    const dc = [1, 0, 0, 2];
    // dA = dC·Bᵀ = [[1, 0, 1], [0, 2, 2]]; dB = Aᵀ·dC = [[1, 8], [2, 10], [3, 12]].
    const dA = [1, 0, 1, 0, 2, 2];
    const dB = [1, 8, 2, 10, 3, 12];
    const tr = (x: number[], rows: number, cols: number) => Array.from({ length: x.length }, (_, i) => x[(i % rows) * cols + Math.floor(i / rows)]!);
    const d = { M: 2, N: 2, K: 3, transA: false, transB: false };
    let g = matmulBackwardRef(A, B, dc, d);
    close(g.da, dA);
    close(g.db, dB);
    g = matmulBackwardRef(At, Bt, dc, { ...d, transA: true, transB: true });
    close(g.da, tr(dA, 2, 3));
    close(g.db, tr(dB, 3, 2));
  });
});

describe('embedding, cross-entropy and AdamW references', () => {
  it('embedding rows plus the position of n mod T; the backward sums repeated ids and positions', () => {
    const table = [1, 2, 10, 20, 100, 200];
    const pos = { table: [0.5, 0.25, 3, 4], T: 2 };
    close(embeddingRef(table, [2, 0, 2], 2), [100, 200, 1, 2, 100, 200]);
    close(embeddingRef(table, [2, 0, 1, 2], 2, pos), [100.5, 200.25, 4, 6, 10.5, 20.25, 103, 204]);
    const dout = [1, 2, 3, 4, 5, 6, 7, 8];
    const g = embeddingBackwardRef(dout, [2, 0, 1, 2], 3, 2, 2);
    close(g.dTable, [3, 4, 5, 6, 1 + 7, 2 + 8]);
    close(g.dPos!, [1 + 5, 2 + 6, 3 + 7, 4 + 8]);
    expect(embeddingBackwardRef(dout, [2, 0, 1, 2], 3, 2).dPos).toBeNull();
  });

  it('cross-entropy: stats per row, ignored rows out of the mean, all ignored gives 0 and no gradient', () => {
    // Row 0: logits (0, ln 3), target 1: lse = ln 4, loss ln 4 − ln 3. Row 1 ignored (−100).
    const r = crossEntropyRef([0, Math.log(3), 5, 1], [1, -100], 2, -100);
    close(r.stats, [Math.log(3), Math.log(4 / 3), 5, Math.log(1 + Math.exp(-4))]);
    close(r.rowLoss, [Math.log(4 / 3), 0]);
    expect(r.loss).toBeCloseTo(Math.log(4 / 3), 14);
    expect(r.count).toBe(1);
    close(crossEntropyBackwardRef([0, Math.log(3), 5, 1], [1, -100], 2, -100, 3), [3 * 0.25, 3 * (0.75 - 1), 0, 0]);
    const none = crossEntropyRef([1, 2], [-100], 2, -100);
    expect([none.loss, none.count]).toEqual([0, 0]);
    close(crossEntropyBackwardRef([1, 2], [-100], 2, -100), [0, 0]);
  });

  it("AdamW: torch's defaults (0.9, 0.999, 1e-8, 0.01), the clip scale, only the segments' elements", () => {
    // Step 1 from zero moments: m̂ = g, v̂ = g², so the update is lr·g/(|g| + eps) after decay.
    const s = { param: Float64Array.of(1, 2, 3, 4), m: new Float64Array(4), v: new Float64Array(4) };
    adamwRef(s, [0.5, -2, 9, 9], [{ offset: 0, length: 1, decay: true }, { offset: 1, length: 1, decay: false }], 1, { lr: 0.1 }, 2);
    // g = 1 and −4 after the clip scale 2.
    close(s.param, [1 * (1 - 0.1 * 0.01) - (0.1 * 1) / (1 + 1e-8), 2 + (0.1 * 4) / (4 + 1e-8), 3, 4]);
    close(s.m, [0.1, -0.4, 0, 0]);
    close(s.v, [0.001, 0.016, 0, 0], 15);
    // Step 2 with a gradient of 0: m = 0.09, v = 0.000999 (element 0); bias corrections 1 − 0.9², 1 − 0.999².
    const p0 = s.param[0]!;
    adamwRef(s, [0, 0, 0, 0], [{ offset: 0, length: 1, decay: false }], 2, { lr: 0.1 });
    const mHat = 0.09 / (1 - 0.81);
    const vHat = 0.000999 / (1 - 0.998001);
    expect(s.param[0]).toBeCloseTo(p0 - (0.1 * mHat) / (Math.sqrt(vHat) + 1e-8), 12);
  });

  it('gradient norm over every tensor, the clip scale, non-finite values flagged', () => {
    expect(gradNormRef([[3], [4]])).toEqual({ norm: 5, scale: 1, nonfinite: false });
    const c = gradNormRef([[3, 4]], 1);
    expect(c.scale).toBeCloseTo(1 / (5 + 1e-6), 14);
    expect(gradNormRef([[1, NaN]]).nonfinite).toBe(true);
    expect(gradNormRef([[1], [-Infinity]]).nonfinite).toBe(true);
  });
});

describe('reductions, copies and attention pieces the GPU tests use', () => {
  it('sum, sum of squares and max over rows, columns and everything', () => {
    const x = [1, -2, 3, 4, 5, -6];
    close(reduceRowsRef('sum', x, 2, 3), [2, 3]);
    close(reduceRowsRef('sumsq', x, 2, 3), [14, 77]);
    close(reduceRowsRef('max', [-5, -7, -1, -9], 2, 2), [-5, -1]);
    close(reduceColumnsRef('sum', x, 2, 3), [5, 3, -3]);
    close(reduceColumnsRef('max', [-5, -7, -1, -9], 2, 2), [-1, -7]);
    close(reduceColumnsRef('sumsq', x, 2, 3), [17, 29, 45]);
    close(reduceAllRef('sum', x), [5]);
    close(reduceAllRef('max', [-3, -2]), [-2]);
  });

  it('copyRows: blocks between strided layouts, replacing or adding', () => {
    // src: 2 batches × 2 rows × 2 columns at offset 1, rows 3 apart, batches 7 apart.
    const src = [0, 1, 2, 0, 3, 4, 0, 0, 5, 6, 0, 7, 8];
    const dst = [9, 9, 9, 9, 9, 9, 9, 9, 9, 9];
    const into = { offset: 2, batchStride: 4, rowStride: 2 };
    const from = { offset: 1, batchStride: 7, rowStride: 3 };
    close(copyRowsRef(src, dst, 2, 2, 2, from, into, false), [9, 9, 1, 2, 3, 4, 5, 6, 7, 8]);
    close(copyRowsRef(src, dst, 2, 2, 2, from, into, true), [9, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
  });

  it('which keys a query sees: the key mask, causal with its offset (default Lk − Lq)', () => {
    const d = { B: 2, H: 1, Lq: 2, Lk: 4, D: 1, causal: true, keyMask: [1, 1, 0, 1, 1, 1, 1, 1] };
    // Query 0 lines up with key 2 (offset 2), query 1 with key 3; key 2 of batch 0 is masked.
    const seen = (b: number, i: number) => [0, 1, 2, 3].filter((j) => attends(d, b, i, j));
    expect([seen(0, 0), seen(0, 1), seen(1, 0), seen(1, 1)]).toEqual([[0, 1], [0, 1, 3], [0, 1, 2], [0, 1, 2, 3]]);
    expect([0, 1, 2, 3].filter((j) => attends({ ...d, causalOffset: 0 }, 1, 1, j))).toEqual([0, 1]);
    expect([0, 1, 2, 3].filter((j) => attends({ B: 1, H: 1, Lq: 2, Lk: 4, D: 1 }, 0, 0, j))).toEqual([0, 1, 2, 3]);
  });

  it('attention forward on a hand case: a row that sees no key is 0 with lse −∞', () => {
    // One query, two keys with scores 0 and ln 3 (scale 1): p = (1/4, 3/4), o = p·V.
    const r = attentionRef([1], [0, Math.log(3)], [4, 8], { B: 1, H: 1, Lq: 1, Lk: 2, D: 1, scale: 1 });
    close(r.p, [0.25, 0.75]);
    close(r.o, [7]);
    close(r.lse, [Math.log(4)]);
    const none = attentionRef([1], [0, 1], [4, 8], { B: 1, H: 1, Lq: 1, Lk: 2, D: 1, keyMask: [0, 0] });
    expect([...none.o, ...none.p]).toEqual([0, 0, 0]);
    expect(none.lse[0]).toBe(-Infinity);
  });

  it('the sampled rows agree with the full reference, and the FLOP count is 4·B·H·Lq·Lk·D (×3.5 with the backward)', () => {
    const L = 5;
    const D = 3;
    const f = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * s + 1));
    const [q, k, v, g] = [f(L * D, 0.7), f(L * D, 1.3), f(L * D, 0.4), f(L * D, 2.1)];
    const dims = { B: 1, H: 1, Lq: L, Lk: L, D };
    const full = attentionRef(q, k, v, dims);
    const s = attentionSampledRowsRef(q, k, v, g, L, D, [1, 4], [0, 3]);
    close(s.o, Array.from(full.o), 12);
    // dQ of row i = scale·Σ_j p_ij (g_i·v_j − g_i·o_i) k_j, written out here from the definition.
    const scale = 1 / Math.sqrt(D);
    const dot = (a: Float32Array, i: number, b: ArrayLike<number>, j: number) => Array.from({ length: D }, (_, x) => a[i * D + x]! * b[j * D + x]!).reduce((p, c) => p + c, 0);
    const dqRow = (i: number) => {
      const r = [0, 0, 0];
      for (let j = 0; j < L; j++) {
        const ds = full.p[i * L + j]! * (dot(g, i, v, j) - dot(g, i, full.o, i));
        for (let x = 0; x < D; x++) r[x]! += scale * ds * k[j * D + x]!;
      }
      return r;
    };
    close(s.dq[0]!, dqRow(1), 12);
    close(s.dq[1]!, dqRow(4), 12);
    const dvRow = (j: number) => [0, 1, 2].map((x) => Array.from({ length: L }, (_, i) => full.p[i * L + j]! * g[i * D + x]!).reduce((a, b) => a + b, 0));
    close(s.dkv[1]![1], dvRow(3), 12);
    expect(attentionFlops(2, 3, 5, 7, 11)).toBe(4 * 2 * 3 * 5 * 7 * 11);
    expect(attentionFlops(2, 3, 5, 7, 11, true)).toBe(14 * 2 * 3 * 5 * 7 * 11);
  });
});
