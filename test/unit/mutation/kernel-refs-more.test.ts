// More of kernels/*.ref.ts on cases worked out by hand: the pieces the mutation run of
// docs/mutation.md found reached by no GPU-free test (matmul's row sums, f16RoundAll, used only
// by the GPU kernel tests) or reached without a check that fails when they are wrong. No GPU.
import { describe, expect, it } from 'vitest';
import { attentionRef, attentionSampledRowsRef } from '../../../kernels/attention.ref.ts';
import { copyRowsRef } from '../../../kernels/copy.ref.ts';
import { f16RoundAll } from '../../../kernels/f16.ref.ts';
import { rowSumsRef } from '../../../kernels/matmul.ref.ts';
import { erfcRef } from '../../../kernels/pointwise.ref.ts';
import { softmaxRef } from '../../../kernels/softmax.ref.ts';

describe('matmul row sums', () => {
  it('Σ_k op(A)[m, k], A stored as is or transposed, plus an accumulated vector', () => {
    // op(A) = [[1, 2, 3], [4, 5, 6]]: row sums 6 and 15.
    expect([...rowSumsRef([1, 2, 3, 4, 5, 6], 2, 3, false)]).toEqual([6, 15]);
    expect([...rowSumsRef([1, 4, 2, 5, 3, 6], 2, 3, true)]).toEqual([6, 15]);
    expect([...rowSumsRef([1, 2, 3, 4, 5, 6], 2, 3, false, [10, -20])]).toEqual([16, -5]);
    // One row of one column (M = K = 1).
    expect([...rowSumsRef([7], 1, 1, true, [0.5])]).toEqual([7.5]);
  });
});

describe('f16RoundAll', () => {
  it('rounds every element to binary16, in a new float64 array', () => {
    const xs = Float32Array.of(1 / 3, 0.1, 65520, -2049);
    const r = f16RoundAll(xs);
    expect(r).toBeInstanceOf(Float64Array);
    // 0x3555, 0x2e66, past the largest finite value, and −2049 halfway between −2048 and −2050: the even one.
    expect([...r]).toEqual([0.333251953125, 0.0999755859375, Infinity, -2048]);
  });
});

const close = (got: ArrayLike<number>, want: ArrayLike<number>, digits = 12, what = '') => {
  expect(got.length, `${what} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(got[i], `${what} element ${i}`).toBeCloseTo(want[i]!, digits);
};
const wave = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * s + 1));

describe('attention reference over batches and heads', () => {
  it('each (batch, head) pair attends within its own [L, D] slice of the dense [B, H, L, D] arrays', () => {
    const [B, H, Lq, Lk, D] = [2, 3, 2, 3, 2];
    const [q, k, v] = [wave(B * H * Lq * D, 0.7), wave(B * H * Lk * D, 1.3), wave(B * H * Lk * D, 0.4)];
    const r = attentionRef(q, k, v, { B, H, Lq, Lk, D });
    // softmax(q·kᵀ/√D)·v written out per slice, the slice of (b, h) starting at row (b·H + h)·L.
    const o: number[] = [];
    const lse: number[] = [];
    const p: number[] = [];
    for (let slice = 0; slice < B * H; slice++) {
      for (let i = 0; i < Lq; i++) {
        const qi = Array.from(q.subarray((slice * Lq + i) * D, (slice * Lq + i + 1) * D));
        const s = Array.from({ length: Lk }, (_, j) => qi.reduce((a, x, e) => a + x * k[(slice * Lk + j) * D + e]!, 0) / Math.sqrt(D));
        const z = s.reduce((a, x) => a + Math.exp(x), 0);
        lse.push(Math.log(z));
        const w = s.map((x) => Math.exp(x) / z);
        p.push(...w);
        for (let e = 0; e < D; e++) o.push(w.reduce((a, wj, j) => a + wj * v[(slice * Lk + j) * D + e]!, 0));
      }
    }
    close(r.o, o, 12, 'o');
    close(r.lse, lse, 12, 'lse');
    close(r.p, p, 12, 'p');
  });

  it("sampled rows' dK = scale·Σ_i p_ij (g_i·v_j − g_i·o_i) q_i, written out from the definition", () => {
    const [L, D] = [5, 3];
    const [q, k, v, g] = [wave(L * D, 0.7), wave(L * D, 1.3), wave(L * D, 0.4), wave(L * D, 2.1)];
    const full = attentionRef(q, k, v, { B: 1, H: 1, Lq: L, Lk: L, D });
    const s = attentionSampledRowsRef(q, k, v, g, L, D, [2], [0, 3]);
    const dot = (a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number) => Array.from({ length: D }, (_, x) => a[i * D + x]! * b[j * D + x]!).reduce((x, y) => x + y, 0);
    const dkRow = (j: number) =>
      Array.from({ length: D }, (_, x) =>
        Array.from({ length: L }, (_, i) => full.p[i * L + j]! * (dot(g, i, v, j) - dot(g, i, full.o, i)) * q[i * D + x]! / Math.sqrt(D)).reduce((a, b) => a + b, 0),
      );
    close(s.dkv[0]![0], dkRow(0), 12, 'dK row 0');
    close(s.dkv[1]![0], dkRow(3), 12, 'dK row 3');
  });
});

describe('copyRows between layouts with gaps', () => {
  it('writes only the block: the gaps between rows and batches and the tail of dst keep their values', () => {
    // src: 2 batches × 2 rows × 2 columns at offset 0, rows 3 apart (a gap column), batches 6 apart.
    const src = [1, 2, -1, 3, 4, -1, 5, 6, -1, 7, 8, -1, -1, -1];
    // dst: offset 1, rows 3 apart, batches 6 apart, two spare elements after the block.
    const dst = new Array(14).fill(9);
    const into = { offset: 1, batchStride: 6, rowStride: 3 };
    const from = { offset: 0, batchStride: 6, rowStride: 3 };
    close(copyRowsRef(src, dst, 2, 2, 2, from, into, false), [9, 1, 2, 9, 3, 4, 9, 5, 6, 9, 7, 8, 9, 9]);
    close(copyRowsRef(src, dst, 2, 2, 2, from, into, true), [9, 10, 11, 9, 12, 13, 9, 14, 15, 9, 16, 17, 9, 9]);
  });
});

describe('softmax and erfc edges', () => {
  it('a row of −∞ after an ordinary row stays all 0', () => {
    // Row 0 (0, 0) gives ½, ½; row 1 sees no finite logit.
    expect([...softmaxRef([0, 0, -Infinity, -Infinity], 2, 2)]).toEqual([0.5, 0.5, 0, 0]);
  });

  it("erfc's continued fraction stops once converged: within 4e-15 of CPython's math.erfc around z = 4", () => {
    // python3 -c 'import math; print(repr(math.erfc(4.12)))' and so on. The reference is 1.0–1.7e-15
    // off these; running the fraction on to its 500-term cap after it has converged accumulates
    // rounding to ~1.7e-14 there.
    const cases: [number, number][] = [[4.06, 9.37268585186749e-9], [4.12, 5.658157219361317e-9], [4.2, 2.8554941795921843e-9]];
    for (const [z, want] of cases) expect(Math.abs(erfcRef(z) - want) / want, `erfc(${z})`).toBeLessThan(4e-15);
  });
});
