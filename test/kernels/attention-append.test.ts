// The attention forward with the KV-cache append (AttentionCall.append, a decode step): the new
// key and value rows, read from a fused q|k|v projection, land in the cache at rows Lk − Lq ..
// Lk − 1 and the step attends over the whole cache, against the float64 reference over the old
// rows plus the new ones. Awkward shapes: batch 1 and 3, head dims 6 / 12 (rows layout only, 6
// the unfused path only) and 8 / 16 (both fused layouts), cache lengths 1 (the first step), 7,
// 11, 13, 29, one query and several (one workgroup's worth, and more than one 'dims' workgroup
// holds, which appends by copy), the cache as [B, L, K|V] and as [B, H, L, D] (per-head copies).
// O and every cache row from Lk − Lq on are NaN before the run: a missed write or a read of a
// row not yet written fails; the rows past Lk must still be NaN after it (nothing written past
// the append), the old rows unchanged, the new rows exactly the projection's floats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { attention, fusedLayoutAvailable, FUSED_LAYOUTS, releaseAttentionSaved, type AttentionCall, type FusedLayout, type HeadsRef } from '../../kernels/attention.ts';
import { attentionRef } from '../../kernels/attention.ref.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
let reads = 0;
const read = (b: GPUBuffer, n: number) => gpu.read(b, n, 0, `attention-append-test-${reads++}`);
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// As test/kernels/attention.test.ts: O is a convex combination of V rows of order 1.
const TOL = { atol: 4e-6, rtol: 1e-5 };

interface Case {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  /** Cache positions allocated (≥ Lk): the rows past Lk must stay untouched. */
  Lmax: number;
  causal?: boolean;
  /** 'blkv': [B, Lmax, K|V] as src/infer/kvcache.ts keeps it; 'bhld': K then V, each [B, H, Lmax, D]. */
  cache: 'blkv' | 'bhld';
}

const CASES: Case[] = [
  { B: 1, H: 1, Lq: 1, Lk: 1, D: 12, Lmax: 3, cache: 'blkv', causal: true },
  { B: 3, H: 2, Lq: 1, Lk: 13, D: 12, Lmax: 17, cache: 'blkv', causal: true },
  { B: 1, H: 3, Lq: 1, Lk: 29, D: 8, Lmax: 31, cache: 'blkv', causal: true },
  { B: 3, H: 2, Lq: 3, Lk: 7, D: 16, Lmax: 8, cache: 'bhld', causal: true },
  { B: 1, H: 2, Lq: 9, Lk: 11, D: 16, Lmax: 13, cache: 'blkv', causal: true },
  { B: 3, H: 1, Lq: 1, Lk: 7, D: 6, Lmax: 7, cache: 'blkv' },
];

type Route = { path: 'unfused' } | { path: 'fused'; layout: FusedLayout };

function routes(D: number): Route[] {
  const fused = FUSED_LAYOUTS.filter((l) => fusedLayoutAvailable(gpu, l, D)).map((layout) => ({ path: 'fused' as const, layout }));
  return [{ path: 'unfused' }, ...fused];
}

/** Where K and V (which 0, 1) of cache row (b, h, i) start, and the refs the call takes. */
function cacheLayout(c: Case): { floats: number; at: (which: number, b: number, h: number, i: number) => number; ref: (buffer: GPUBuffer, which: number) => HeadsRef } {
  const { B, H, D, Lmax } = c;
  const E = H * D;
  if (c.cache === 'blkv') {
    return {
      floats: B * Lmax * 2 * E,
      at: (w, b, h, i) => b * Lmax * 2 * E + i * 2 * E + w * E + h * D,
      ref: (buffer, w) => ({ buffer, offset: w * E, strides: [Lmax * 2 * E, D, 2 * E] }),
    };
  }
  const one = B * H * Lmax * D;
  return {
    floats: 2 * one,
    at: (w, b, h, i) => w * one + ((b * H + h) * Lmax + i) * D,
    ref: (buffer, w) => ({ buffer, offset: w * one, strides: [H * Lmax * D, Lmax * D, D] }),
  };
}

async function runCase(c: Case, route: Route, salt: number) {
  const rng = testRng(salt);
  const { B, H, Lq, Lk, D } = c;
  const E = H * D;
  const old = Lk - Lq;
  // Dense [B, H, L, D]: the queries, the keys and values of every position (old then new).
  const q = rng.floats(B * H * Lq * D, -3, 3);
  const k = rng.floats(B * H * Lk * D);
  const v = rng.floats(B * H * Lk * D);
  const dense = (x: Float32Array, L: number, b: number, h: number, i: number) => x.subarray(((b * H + h) * L + i) * D, ((b * H + h) * L + i + 1) * D);
  // The projection [B, Lq, q|k|v].
  const qkv = new Float32Array(B * Lq * 3 * E);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Lq; i++)
      for (let h = 0; h < H; h++) {
        const row = (b * Lq + i) * 3 * E + h * D;
        qkv.set(dense(q, Lq, b, h, i), row);
        qkv.set(dense(k, Lk, b, h, old + i), row + E);
        qkv.set(dense(v, Lk, b, h, old + i), row + 2 * E);
      }
  const lay = cacheLayout(c);
  const cacheHost = new Float32Array(lay.floats).fill(NaN);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < old; i++) {
        cacheHost.set(dense(k, Lk, b, h, i), lay.at(0, b, h, i));
        cacheHost.set(dense(v, Lk, b, h, i), lay.at(1, b, h, i));
      }
  const P = gpu.upload(qkv, 'qkv');
  const cache = gpu.upload(cacheHost, 'kv_cache');
  const O = poisoned(gpu, B * Lq * E, 'O');
  const proj = (col: number): HeadsRef => ({ buffer: P, offset: col, strides: [Lq * 3 * E, D, 3 * E] });
  const call: AttentionCall = {
    B, H, Lq, Lk, D, causal: c.causal,
    q: proj(0), k: lay.ref(cache, 0), v: lay.ref(cache, 1), o: { buffer: O },
    append: { k: proj(E), v: proj(2 * E) },
    path: route.path, fusedLayout: route.path === 'fused' ? route.layout : undefined,
  };
  const before = gpu.counters.dispatches;
  releaseAttentionSaved(gpu, attention(gpu, call));
  const dispatches = gpu.counters.dispatches - before;
  const o = await read(O, B * Lq * E);
  const after = await read(cache, lay.floats);
  for (const b of [P, cache, O]) gpu.release(b);
  return { o, after, cacheHost, k, v, q, dispatches, lay };
}

describe('attention with the KV-cache append', () => {
  for (const [n, c] of CASES.entries()) {
    it(`B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D} (cache ${c.cache} of ${c.Lmax}): every route appends the new rows and attends over all of them`, async () => {
      const all = routes(c.D);
      expect(all.length).toBeGreaterThan(0);
      for (const route of all) {
        const what = route.path === 'fused' ? `fused ${route.layout}` : 'unfused';
        const r = await runCase(c, route, 1700 + n);
        const want = attentionRef(r.q, r.k, r.v, c);
        // O comes back [B, Lq, H, D]; the reference is [B, H, Lq, D].
        const o = new Float64Array(want.o.length);
        for (let b = 0; b < c.B; b++)
          for (let i = 0; i < c.Lq; i++)
            for (let h = 0; h < c.H; h++)
              for (let d = 0; d < c.D; d++) o[((b * c.H + h) * c.Lq + i) * c.D + d] = r.o[((b * c.Lq + i) * c.H + h) * c.D + d]!;
        expectClose(o, want.o, TOL, `${what}: O`);
        // The cache: rows before Lk as every position's K and V (bit for bit), NaN past Lk.
        const expected = Float32Array.from(r.cacheHost);
        for (let b = 0; b < c.B; b++)
          for (let h = 0; h < c.H; h++)
            for (let i = 0; i < c.Lk; i++)
              for (let d = 0; d < c.D; d++) {
                expected[r.lay.at(0, b, h, i) + d] = r.k[((b * c.H + h) * c.Lk + i) * c.D + d]!;
                expected[r.lay.at(1, b, h, i) + d] = r.v[((b * c.H + h) * c.Lk + i) * c.D + d]!;
              }
        const mismatch = expected.findIndex((x, e) => !Object.is(x, r.after[e]));
        expect(mismatch, `${what}: cache float ${mismatch} is ${r.after[mismatch]}, want ${expected[mismatch]}`).toBe(-1);
        // One workgroup per (batch, head) holds every query row: then the append costs no dispatch.
        const rowsPerGroup = route.path === 'fused' && route.layout === 'rows' ? gpu.subgroupSize : 1;
        if (route.path === 'fused' && c.Lq <= rowsPerGroup) expect(r.dispatches, `${what}: dispatches`).toBe(1);
        if (route.path === 'unfused') expect(r.dispatches, `${what}: dispatches`).toBeGreaterThan(1);
      }
    });
  }

  it('refuses K and V in different buffers, and a cache that is also the projection', () => {
    const a = gpu.alloc(64, 'a');
    const b = gpu.alloc(64, 'b');
    const base = { B: 1, H: 1, Lq: 1, Lk: 2, D: 4, q: { buffer: a }, o: { buffer: gpu.alloc(4, 'o') } };
    expect(() => attention(gpu, { ...base, k: { buffer: b }, v: { buffer: gpu.alloc(64, 'c') }, append: { k: { buffer: a }, v: { buffer: a } } })).toThrow(ShapeError);
    expect(() => attention(gpu, { ...base, k: { buffer: b }, v: { buffer: b }, append: { k: { buffer: b, offset: 8 }, v: { buffer: b, offset: 12 } } })).toThrow(/K\|V cache must not share a buffer with the appended rows/);
  });
});
