// The fused attention forward with fewer query rows than a workgroup's register block (a decoding
// step: Lq = 1 per (batch, head), or a short prefix): the host sizes R to the queries
// (fusedForwardRows) instead of computing SG·R clamped copies of them. Forward against float64
// (O and lse) at Lq 1, 2, 9, 13 against prime key lengths, causal with the decode's offset and
// not, both fused layouts where the head dim allows them, O poisoned. And the property the cached
// decode's equality to recomputation rests on: each query row alone (Lq = 1 over its causal
// prefix, the smallest R) gives the bits of that row in one call over the whole sequence (the
// largest R). Only the forward changed (the backward's R is its own).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { attention, fusedForwardRows, fusedLayoutAvailable, FUSED_LAYOUTS, releaseAttentionSaved, type FusedLayout } from '../../kernels/attention.ts';
import { attentionRef } from '../../kernels/attention.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// As test/kernels/attention.test.ts: O is a convex combination of V rows of order 1.
const TOL = { atol: 4e-6, rtol: 1e-5 };

const layouts = (D: number): FusedLayout[] => FUSED_LAYOUTS.filter((l) => fusedLayoutAvailable(gpu, l, D));

/** [B, H, L, D] (the reference's layout) → [B, L, H, D] (the kernels' default), and back. */
function toBlhd(x: Float32Array, B: number, H: number, L: number, D: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) y.set(x.subarray(((b * H + h) * L + i) * D, ((b * H + h) * L + i + 1) * D), ((b * L + i) * H + h) * D);
  return y;
}
function toBhld(x: Float32Array, B: number, H: number, L: number, D: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) y.set(x.subarray(((b * L + i) * H + h) * D, ((b * L + i) * H + h + 1) * D), ((b * H + h) * L + i) * D);
  return y;
}

/** O [B, H, Lq, D] and lse [B, H, Lq] of one fused call on dense inputs in the reference's layout. */
async function run(q: Float32Array, k: Float32Array, v: Float32Array, d: { B: number; H: number; Lq: number; Lk: number; D: number; causal: boolean }, layout: FusedLayout) {
  const { B, H, Lq, Lk, D } = d;
  const [Q, K, V] = [toBlhd(q, B, H, Lq, D), toBlhd(k, B, H, Lk, D), toBlhd(v, B, H, Lk, D)].map((x, i) => gpu.upload(x, `qkv${i}`)) as [GPUBuffer, GPUBuffer, GPUBuffer];
  const O = poisoned(gpu, B * Lq * H * D, 'O');
  const saved = attention(gpu, { ...d, q: { buffer: Q }, k: { buffer: K }, v: { buffer: V }, o: { buffer: O }, path: 'fused', fusedLayout: layout });
  const o = toBhld(await gpu.read(O, B * Lq * H * D), B, H, Lq, D);
  const lse = await gpu.read(saved.lse, B * H * Lq);
  releaseAttentionSaved(gpu, saved);
  for (const b of [Q, K, V, O]) gpu.release(b);
  return { o, lse };
}

describe('fused attention with few query rows', () => {
  it('sizes R to the queries: one row a lane (rows) or a workgroup (dims) for a decoding step, the register block for long ones, the least padding between', () => {
    const sg = gpu.subgroupSize;
    expect(fusedForwardRows(gpu, 'rows', 32, 1)).toBe(1);
    expect(fusedForwardRows(gpu, 'rows', 32, sg)).toBe(1);
    expect(fusedForwardRows(gpu, 'rows', 32, sg + 1)).toBe(2);
    expect(fusedForwardRows(gpu, 'rows', 32, 1024)).toBe(4);
    // 8·SG + 1 and 4·SG + 1 rows (the presets' 65 and 33 at SG 8): 3 rows a lane pad them least.
    expect(fusedForwardRows(gpu, 'rows', 32, 8 * sg + 1)).toBe(3);
    expect(fusedForwardRows(gpu, 'rows', 32, 4 * sg + 1)).toBe(3);
    expect(fusedForwardRows(gpu, 'rows', 16, 1024)).toBe(8);
    expect(fusedForwardRows(gpu, 'dims', 16, 1)).toBe(1);
    expect(fusedForwardRows(gpu, 'dims', 16, 3)).toBe(3);
    expect(fusedForwardRows(gpu, 'dims', 16, 1024)).toBeGreaterThan(3);
  });

  const cases = [
    { B: 1, H: 1, Lq: 1, Lk: 1, D: 32, causal: true },
    { B: 2, H: 3, Lq: 1, Lk: 29, D: 32, causal: true },
    { B: 2, H: 2, Lq: 2, Lk: 31, D: 16, causal: false },
    { B: 1, H: 3, Lq: 9, Lk: 13, D: 32, causal: true },
    { B: 2, H: 1, Lq: 13, Lk: 13, D: 16, causal: true },
  ];
  for (const [n, c] of cases.entries()) {
    it(`B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D}${c.causal ? ' causal' : ''}: O and lse against float64`, async () => {
      const all = layouts(c.D);
      expect(all.length).toBeGreaterThan(0);
      for (const layout of all) {
        const rng = testRng(1950 + n);
        const q = rng.floats(c.B * c.H * c.Lq * c.D, -3, 3);
        const k = rng.floats(c.B * c.H * c.Lk * c.D);
        const v = rng.floats(c.B * c.H * c.Lk * c.D);
        const got = await run(q, k, v, c, layout);
        const want = attentionRef(q, k, v, c);
        expectClose(got.o, want.o, TOL, `${layout}: O`);
        expectClose(got.lse, want.lse, TOL, `${layout}: lse`);
      }
    });
  }

  it('each query row alone gives the bits of that row in the call over the whole sequence', async () => {
    for (const D of [32, 16]) {
      for (const layout of layouts(D)) {
        const [B, H, L] = [2, 2, 19];
        const rng = testRng(1960 + D);
        const q = rng.floats(B * H * L * D, -3, 3);
        const k = rng.floats(B * H * L * D);
        const v = rng.floats(B * H * L * D);
        const whole = await run(q, k, v, { B, H, Lq: L, Lk: L, D, causal: true }, layout);
        expect(whole.o.every(Number.isFinite), `${layout} D${D}: finite`).toBe(true);
        for (const i of [0, 1, 8, 9, 18]) {
          // Row i's query over keys 0..i (a decoding step at position i).
          const pick = (x: Float32Array, rows: number, from: number, count: number) => {
            const y = new Float32Array(B * H * count * D);
            for (let bh = 0; bh < B * H; bh++) y.set(x.subarray((bh * rows + from) * D, (bh * rows + from + count) * D), bh * count * D);
            return y;
          };
          const one = await run(pick(q, L, i, 1), pick(k, L, 0, i + 1), pick(v, L, 0, i + 1), { B, H, Lq: 1, Lk: i + 1, D, causal: true }, layout);
          expect(Array.from(one.o), `${layout} D${D} row ${i}: O`).toEqual(Array.from(pick(Float32Array.from(whole.o), L, i, 1)));
          expect(Array.from(one.lse), `${layout} D${D} row ${i}: lse`).toEqual(Array.from({ length: B * H }, (_, bh) => whole.lse[bh * L + i]!));
        }
      }
    }
  });
});
