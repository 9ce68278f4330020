// The fused attention backward in two dispatches: the dQ kernel sums D = rowsum(dO∘O) itself and
// writes it for the dK/dV kernel after it (no attn_delta dispatch). Against the float64
// reference, both fused layouts, at awkward shapes (one query and key, primes, several blocks of
// each, causal with padding), with O read through a strided layout whose gaps hold NaN (a wrong O
// address poisons D and so every gradient) and the gradients poisoned before the run.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { attention, attentionBackward, attentionPathAvailable, FUSED_LAYOUTS, fusedLayoutAvailable, releaseAttentionSaved, type AttentionCall } from '../../kernels/attention.ts';
import { attentionBackwardRef } from '../../kernels/attention.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// attention.test.ts's backward tolerance (sums of ≤ 131 terms of order 1).
const BWD_TOL = { atol: 8e-6, rtol: 1e-5 };

interface Case {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  causal?: boolean;
  masked?: boolean;
}

const CASES: Case[] = [
  { B: 2, H: 1, Lq: 1, Lk: 1, D: 32 },
  { B: 1, H: 3, Lq: 37, Lk: 29, D: 32, causal: true, masked: true },
  { B: 3, H: 2, Lq: 5, Lk: 67, D: 32 },
];

/** [B, H, L, D] with a NaN float after each row of D (row stride D + 1), from `offset`. */
const gapped = (c: Case, L: number, offset: number) => ({ offset, strides: [c.H * L * (c.D + 1), L * (c.D + 1), c.D + 1] as const, floats: offset + c.B * c.H * L * (c.D + 1) });

function place(dense: Float32Array, c: Case, L: number, offset: number): Float32Array {
  const g = gapped(c, L, offset);
  const out = new Float32Array(g.floats + 1).fill(NaN);
  for (let bh = 0; bh < c.B * c.H; bh++) for (let i = 0; i < L; i++) out.set(dense.subarray((bh * L + i) * c.D, (bh * L + i + 1) * c.D), offset + bh * L * (c.D + 1) + i * (c.D + 1));
  return out;
}

function take(buf: Float32Array, c: Case, L: number, offset: number): Float32Array {
  const out = new Float32Array(c.B * c.H * L * c.D);
  for (let bh = 0; bh < c.B * c.H; bh++) for (let i = 0; i < L; i++) out.set(buf.subarray(offset + bh * L * (c.D + 1) + i * (c.D + 1), offset + bh * L * (c.D + 1) + i * (c.D + 1) + c.D), (bh * L + i) * c.D);
  return out;
}

describe('fused attention backward, D summed inside the dQ kernel', () => {
  CASES.forEach((c, idx) => {
    it(`B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D}${c.causal ? ' causal' : ''}${c.masked ? ' padded' : ''}: two dispatches, float64 gradients`, async () => {
      if (!attentionPathAvailable(gpu, 'fused', c.D)) return expect(gpu.has('subgroups') && gpu.subgroupSize > 0 && gpu.subgroupSize <= 64).toBe(false);
      const layouts = FUSED_LAYOUTS.filter((l) => fusedLayoutAvailable(gpu, l, c.D));
      expect(layouts).toContain('rows');
      for (const layout of layouts) {
        const rng = testRng(60 + idx);
        const { B, H, Lq, Lk, D } = c;
        const [q, k, v, dout] = [rng.floats(B * H * Lq * D, -3, 3), rng.floats(B * H * Lk * D), rng.floats(B * H * Lk * D), rng.floats(B * H * Lq * D)];
        const keyMask = c.masked ? Uint32Array.from({ length: B * Lk }, (_, i) => (i % 5 === 3 ? 0 : 1)) : undefined;
        const up = (x: Float32Array, L: number, off: number) => gpu.upload(place(x, c, L, off), 'in');
        const [Q, K, V, dO] = [up(q, Lq, 1), up(k, Lk, 2), up(v, Lk, 3), up(dout, Lq, 4)];
        const lays = { q: gapped(c, Lq, 1), k: gapped(c, Lk, 2), v: gapped(c, Lk, 3), o: gapped(c, Lq, 5), dO: gapped(c, Lq, 4) };
        const O = poisoned(gpu, lays.o.floats + 1, 'O');
        const [dQ, dK, dV] = [poisoned(gpu, lays.q.floats + 1, 'dQ'), poisoned(gpu, lays.k.floats + 1, 'dK'), poisoned(gpu, lays.v.floats + 1, 'dV')];
        const Mask = keyMask ? gpu.upload(keyMask, 'mask') : undefined;
        const ref = (buffer: GPUBuffer, l: { offset: number; strides: readonly [number, number, number] }) => ({ buffer, offset: l.offset, strides: l.strides });
        const call: AttentionCall = { B, H, Lq, Lk, D, q: ref(Q, lays.q), k: ref(K, lays.k), v: ref(V, lays.v), o: ref(O, lays.o), causal: c.causal, keyMask: Mask, path: 'fused', fusedLayout: layout };
        const saved = attention(gpu, call);
        const spy = vi.spyOn(gpu, 'dispatch');
        attentionBackward(gpu, call, saved, { dO: ref(dO, lays.dO), dQ: ref(dQ, lays.q), dK: ref(dK, lays.k), dV: ref(dV, lays.v) });
        const labels = spy.mock.calls.map((a) => String(a[4]));
        spy.mockRestore();
        expect(labels.map((l) => l.slice(l.lastIndexOf(':')))).toEqual([':dQ', ':dKV']);
        const want = attentionBackwardRef(q, k, v, dout, { B, H, Lq, Lk, D, causal: c.causal, keyMask });
        const got = async (b: GPUBuffer, L: number, off: number) => take(await gpu.read(b, gapped(c, L, off).floats + 1), c, L, off);
        expectClose(await got(dQ, Lq, 1), want.dq, BWD_TOL, `${layout} dQ`);
        expectClose(await got(dK, Lk, 2), want.dk, BWD_TOL, `${layout} dK`);
        expectClose(await got(dV, Lk, 3), want.dv, BWD_TOL, `${layout} dV`);
        releaseAttentionSaved(gpu, saved);
        for (const b of [Q, K, V, dO, O, dQ, dK, dV, ...(Mask ? [Mask] : [])]) gpu.release(b);
      }
    });
  });
});
