// attentionOutProj with its in-projection (attn_fwd_proj with INPROJ): a decoding step's whole
// attention branch, y = x + out_proj(attention(q, K, V)) with q (and, selfKV, the new key and value
// rows, written into the cache at row Lk − 1) from in_proj(layernorm(x)), against float64. Batch 1
// and 2, 2–4 heads of 12 and 32 dims, caches of 1 and 13 rows (self) and 29 image tokens with a
// key mask (cross), weights at offsets; y poisoned, the cache's rows past the new one NaN before and
// after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { attentionInProjFits, attentionInProjPays, attentionOutProj, IN_PROJ_BATCH_MAX } from '../../kernels/attention.ts';
import { attentionRef } from '../../kernels/attention.ref.ts';
import { layernormRef } from '../../kernels/layernorm.ref.ts';
import { matmulRef } from '../../kernels/matmul.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { lnInputs } from '../helpers/layernorm-prologue.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

interface Case {
  B: number;
  H: number;
  D: number;
  Lk: number;
  /** Self-attention over a cache of Lmax rows, else cross-attention over Lk fixed keys. */
  self?: { Lmax: number };
  keyMask?: boolean;
  /** Offsets (floats) of W_in and W_out in their buffers, multiples of 4. */
  offsets?: [number, number];
}

const CASES: Case[] = [
  { B: 1, H: 2, D: 12, Lk: 1, self: { Lmax: 2 } },
  { B: 2, H: 2, D: 12, Lk: 13, self: { Lmax: 15 }, offsets: [8, 4] },
  { B: 1, H: 4, D: 32, Lk: 13, self: { Lmax: 13 } },
  { B: 2, H: 2, D: 32, Lk: 29, keyMask: true, offsets: [4, 12] },
];

const name = (c: Case) => `B${c.B} H${c.H} D${c.D} Lk${c.Lk} ${c.self ? 'self' : 'cross'}${c.keyMask ? ' +mask' : ''}`;

/** [B, L, H·D] rows → the reference's [B, H, L, D]. */
function toHeads(x: ArrayLike<number>, B: number, L: number, H: number, D: number): Float64Array {
  const y = new Float64Array(B * L * H * D);
  for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) y[((b * H + h) * L + l) * D + d] = x[((b * L + l) * H + h) * D + d]!;
  return y;
}

describe('a decoding step\'s attention branch in one dispatch', () => {
  for (const [i, c] of CASES.entries()) {
    it(`${name(c)}: y and the cache's new row against float64`, async () => {
      const rng = testRng(60 + i);
      const { B, H, D, Lk } = c;
      const E = H * D;
      const cols = (c.self ? 3 : 1) * E;
      const [oIn, oOut] = c.offsets ?? [0, 0];
      expect(attentionInProjFits(gpu, { H, D }, oIn, !!c.self), name(c)).toBe(true);
      const { x, gamma, beta } = lnInputs(rng, B, E);
      const wIn = rng.floats(cols * E, -1 / Math.sqrt(E), 1 / Math.sqrt(E));
      const bIn = rng.floats(cols);
      const wOut = rng.floats(E * E, -1 / Math.sqrt(E), 1 / Math.sqrt(E));
      const bOut = rng.floats(E);
      // Keys and values of every position; with a cache the last row is the step's own.
      const keys = rng.floats(B * Lk * E);
      const values = rng.floats(B * Lk * E);
      const mask = Uint32Array.from({ length: B * Lk }, (_, j) => (j % Lk === 0 || rng.floats(1)[0]! > -0.4 ? 1 : 0));
      const L = c.self ? c.self.Lmax : Lk;
      const kvHost = new Float32Array(B * L * 2 * E).fill(NaN);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < (c.self ? Lk - 1 : Lk); j++) {
          kvHost.set(keys.subarray((b * Lk + j) * E, (b * Lk + j + 1) * E), (b * L + j) * 2 * E);
          kvHost.set(values.subarray((b * Lk + j) * E, (b * Lk + j + 1) * E), (b * L + j) * 2 * E + E);
        }
      }
      const KV = gpu.upload(kvHost, 'kv');
      const [X, G, Be, WIn, BIn, WOut, BOut] = [gpu.upload(x, 'x'), gpu.upload(gamma, 'g'), gpu.upload(beta, 'b'), placed(gpu, wIn, oIn, 'w_in'), gpu.upload(bIn, 'b_in'), placed(gpu, wOut, oOut, 'w_out'), gpu.upload(bOut, 'b_out')];
      const Mask = c.keyMask ? gpu.upload(mask, 'mask') : undefined;
      const Y = poisoned(gpu, B * E, 'y');
      const strides: [number, number, number] = [L * 2 * E, D, 2 * E];
      attentionOutProj(
        gpu,
        { B, H, Lq: 1, Lk, D, q: { buffer: gpu.unused }, k: { buffer: KV, offset: 0, strides }, v: { buffer: KV, offset: E, strides }, causal: !!c.self, keyMask: Mask },
        { N: E, weight: { buffer: WOut, offset: oOut }, bias: { buffer: BOut }, residual: { buffer: X }, y: { buffer: Y } },
        { weight: { buffer: WIn, offset: oIn }, bias: { buffer: BIn }, gamma: { buffer: G }, beta: { buffer: Be }, selfKV: !!c.self },
      );
      const y = await gpu.read(Y, B * E);
      const kvAfter = await gpu.read(KV, B * L * 2 * E);
      for (const b of [KV, X, G, Be, WIn, BIn, WOut, BOut, Y, ...(Mask ? [Mask] : [])]) gpu.release(b);

      const xn = layernormRef(x, gamma, beta, B, E).y;
      const proj = matmulRef(xn, wIn, { M: B, N: cols, K: E, batch: 1, transA: false, transB: true }, { bias: bIn });
      const K = Float64Array.from(keys);
      const V = Float64Array.from(values);
      const q = new Float64Array(B * E);
      for (let b = 0; b < B; b++) {
        q.set(proj.subarray(b * cols, b * cols + E), b * E);
        if (c.self) {
          K.set(proj.subarray(b * cols + E, b * cols + 2 * E), (b * Lk + Lk - 1) * E);
          V.set(proj.subarray(b * cols + 2 * E, b * cols + 3 * E), (b * Lk + Lk - 1) * E);
        }
      }
      const att = attentionRef(toHeads(q, B, 1, H, D), toHeads(K, B, Lk, H, D), toHeads(V, B, Lk, H, D), { B, H, Lq: 1, Lk, D, causal: !!c.self, keyMask: c.keyMask ? mask : undefined });
      const o = new Float64Array(B * E);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) o.set(att.o.subarray((b * H + h) * D, (b * H + h + 1) * D), b * E + h * D);
      const want = matmulRef(o, wOut, { M: B, N: E, K: E, batch: 1, transA: false, transB: true }, { bias: bOut, accumulate: x });
      // The normalised row reaches |x̂| ≈ 4 (lnInputs), four times matmulTolerance's inputs of order 1.
      const tol = { atol: 4e-5 * Math.sqrt(E), rtol: 1e-4 };
      expectClose(y, want, tol, `${name(c)}: y`);
      if (c.self) {
        for (let b = 0; b < B; b++) {
          const row = kvAfter.subarray((b * L + Lk - 1) * 2 * E, (b * L + Lk) * 2 * E);
          expectClose(row, proj.subarray(b * cols + E, b * cols + 3 * E), tol, `${name(c)}: batch ${b}'s new cache row`);
          const past = kvAfter.subarray((b * L + Lk) * 2 * E, (b + 1) * L * 2 * E);
          expect(past.every(Number.isNaN), `${name(c)}: nothing written past the new row`).toBe(true);
        }
      }
    });
  }

  it("is not taken past IN_PROJ_BATCH_MAX batch rows, where the in-projection's columns do not split over the subgroup, or W_in is off 16-byte boundaries", () => {
    const sg = gpu.subgroupSize;
    // q|k|v of one head of 12 dims: 36 columns.
    expect(attentionInProjFits(gpu, { H: 1, D: 12 }, 0, true)).toBe(36 % sg === 0);
    expect(attentionInProjFits(gpu, { H: 2, D: 32 }, 2, false)).toBe(false);
    expect(attentionInProjPays(gpu, IN_PROJ_BATCH_MAX)).toBe(true);
    expect(attentionInProjPays(gpu, IN_PROJ_BATCH_MAX + 1)).toBe(false);
    process.env.COCA_ATTENTION_INPROJ = '0';
    expect(attentionInProjPays(gpu, 1)).toBe(false);
    delete process.env.COCA_ATTENTION_INPROJ;
  });
});
