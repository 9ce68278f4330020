// A decoding step's attention and its output projection in one dispatch (attentionOutProj,
// attention.wgsl attn_fwd_proj): y = attention(q, k, v)·Wᵀ + b (+ residual) for one query row per
// batch. Against float64 (attention, then the product) and, what a cached decoding step's equality
// to recomputation rests on, bit for bit against attention() followed by linear()
// (COCA_ATTENTION_PROJ=0), with the KV-cache append (the cache's rows compared too: the new row
// written, nothing past it) and without (cross-attention over image tokens, with a key mask). Awkward
// shapes: batch 1 and 3, 1–4 heads of 4–32 dims, caches of 1, 13 and 29 rows, 29 and 7 output
// columns (not multiples of the subgroup), weights at offsets; y poisoned. And where it is not
// taken: several query rows, a tape recording.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { attentionOutProj as attentionOutProjKernel, attentionOutProjFits, attentionOutProjPays, OUT_PROJ_BATCH_MAX } from '../../kernels/attention.ts';
import { attentionRef } from '../../kernels/attention.ref.ts';
import { matmulRef } from '../../kernels/matmul.ref.ts';
import { attentionOutProj, type HeadsView } from '../../src/tensor/ops/attention.ts';
import { noGrad, Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelKeys } from '../helpers/dispatches.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());
afterEach(() => {
  delete process.env.COCA_ATTENTION_PROJ;
});

interface Case {
  B: number;
  H: number;
  D: number;
  /** Keys attended (the cache's rows with the new one, or the image tokens). */
  Lk: number;
  N: number;
  /** Self-attention: the new key and value rows appended to a cache of Lmax rows (causal). */
  append?: { Lmax: number };
  keyMask?: boolean;
  residual: boolean;
  /** Where W and b start in their buffers (W's a multiple of 4). */
  offsets?: [number, number];
}

const CASES: Case[] = [
  { B: 1, H: 1, D: 4, Lk: 1, N: 7, append: { Lmax: 3 }, residual: true },
  { B: 3, H: 2, D: 12, Lk: 13, N: 29, append: { Lmax: 17 }, residual: true, offsets: [8, 3] },
  { B: 1, H: 4, D: 32, Lk: 29, N: 128, append: { Lmax: 29 }, residual: false },
  { B: 3, H: 3, D: 8, Lk: 29, N: 24, keyMask: true, residual: true, offsets: [4, 1] },
  { B: 2, H: 4, D: 32, Lk: 13, N: 128, residual: true },
];

const name = (c: Case) => `B${c.B} H${c.H} D${c.D} Lk${c.Lk} N${c.N}${c.append ? ' +append' : ''}${c.keyMask ? ' +mask' : ''}${c.residual ? ' +residual' : ''}`;

/** A tensor holding `data` at float `offset`, NaN before it. */
function at(data: Float32Array, shape: number[], offset: number, label: string): Tensor {
  const all = new Float32Array(offset + data.length).fill(NaN);
  all.set(data, offset);
  const whole = Tensor.fromArray(gpu, all, [all.length], label);
  const part = whole.narrow(offset, data.length);
  const shaped = part.reshape(shape);
  whole.release();
  part.release();
  return shaped;
}

/** `fused`: COCA_ATTENTION_PROJ left to its default where the batch is within OUT_PROJ_BATCH_MAX, else set to it; else 0. */
async function runCase(c: Case, salt: number, fused: boolean) {
  if (fused && c.B <= OUT_PROJ_BATCH_MAX) delete process.env.COCA_ATTENTION_PROJ;
  else process.env.COCA_ATTENTION_PROJ = fused ? String(c.B) : '0';
  const rng = testRng(salt);
  const { B, H, D, Lk, N } = c;
  const E = H * D;
  const [oW, oB] = c.offsets ?? [0, 0];
  const q = rng.floats(B * E, -3, 3);
  const keys = rng.floats(B * Lk * E);
  const values = rng.floats(B * Lk * E);
  const w = rng.floats(N * E, -1 / Math.sqrt(E), 1 / Math.sqrt(E));
  const bias = rng.floats(N);
  const res = rng.floats(B * N, -2, 2);
  const mask = Uint32Array.from({ length: B * Lk }, (_, i) => (i % Lk === 0 || rng.floats(1)[0]! > -0.4 ? 1 : 0));
  const W = at(w, [N, E], oW, 'w');
  const Bias = at(bias, [N], oB, 'b');
  const Res = Tensor.fromArray(gpu, res, [B, 1, N], 'residual');
  const made: Tensor[] = [W, Bias, Res];
  let qv: HeadsView, kv: HeadsView, vv: HeadsView;
  let append: { k: HeadsView; v: HeadsView } | undefined;
  let cache: Tensor | undefined;
  if (c.append) {
    // The q|k|v projection of the new row, and the cache [B, Lmax, K|V] holding the older rows.
    const { Lmax } = c.append;
    const qkv = new Float32Array(B * 3 * E);
    const cacheHost = new Float32Array(B * Lmax * 2 * E).fill(NaN);
    for (let b = 0; b < B; b++) {
      qkv.set(q.subarray(b * E, (b + 1) * E), b * 3 * E);
      qkv.set(keys.subarray((b * Lk + Lk - 1) * E, (b * Lk + Lk) * E), b * 3 * E + E);
      qkv.set(values.subarray((b * Lk + Lk - 1) * E, (b * Lk + Lk) * E), b * 3 * E + 2 * E);
      for (let i = 0; i < Lk - 1; i++) {
        cacheHost.set(keys.subarray((b * Lk + i) * E, (b * Lk + i + 1) * E), (b * Lmax + i) * 2 * E);
        cacheHost.set(values.subarray((b * Lk + i) * E, (b * Lk + i + 1) * E), (b * Lmax + i) * 2 * E + E);
      }
    }
    const P = Tensor.fromArray(gpu, qkv, [B, 1, 3 * E], 'qkv');
    cache = Tensor.fromArray(gpu, cacheHost, [B, Lmax, 2 * E], 'kv_cache');
    made.push(P, cache);
    qv = { t: P, col: 0 };
    kv = { t: cache, col: 0, rows: Lk };
    vv = { t: cache, col: E, rows: Lk };
    append = { k: { t: P, col: E }, v: { t: P, col: 2 * E } };
  } else {
    const Q = Tensor.fromArray(gpu, q, [B, 1, E], 'q');
    // Keys and values side by side, as a cross-attention's one k|v projection writes them.
    const KV = new Float32Array(B * Lk * 2 * E);
    for (let r = 0; r < B * Lk; r++) {
      KV.set(keys.subarray(r * E, (r + 1) * E), r * 2 * E);
      KV.set(values.subarray(r * E, (r + 1) * E), r * 2 * E + E);
    }
    const T = Tensor.fromArray(gpu, KV, [B, Lk, 2 * E], 'kv');
    made.push(Q, T);
    qv = { t: Q, col: 0 };
    kv = { t: T, col: 0 };
    vv = { t: T, col: E };
  }
  const maskBuf = c.keyMask ? gpu.upload(mask, 'mask') : undefined;
  let y: Tensor | undefined;
  const keysRun = kernelKeys(gpu, () => {
    y = noGrad(() => attentionOutProj(qv, kv, vv, E, { heads: H, causal: !!c.append, keyMask: maskBuf, append }, W, Bias, c.residual ? Res : undefined));
  });
  const out = await y!.toArray();
  const cacheAfter = cache ? await cache.toArray() : undefined;
  y!.release();
  for (const t of made) t.release();
  if (maskBuf) gpu.release(maskBuf);
  return { keys: keysRun, out, cacheAfter, ref: { q, keys, values, w, bias, res, mask } };
}

describe('attention and its output projection in one dispatch', () => {
  for (const [i, c] of CASES.entries()) {
    it(`${name(c)}: float64, and the bits (and cache) of attention then linear`, async () => {
      const fused = await runCase(c, 30 + i, true);
      const apart = await runCase(c, 30 + i, false);
      expect(fused.keys, name(c)).toEqual([expect.stringMatching(/^attention:attn_fwd_proj:/)]);
      expect(apart.keys.length, name(c)).toBeGreaterThanOrEqual(2);
      expect(apart.keys.some((k) => k.startsWith('attention:attn_fwd_proj')), name(c)).toBe(false);
      expect(fused.out.every(Number.isFinite), `${name(c)}: finite`).toBe(true);
      expect(Array.from(fused.out), name(c)).toEqual(Array.from(apart.out));
      if (c.append) {
        // The same cache after: the new row in place, the rows past it still NaN.
        expect(fused.cacheAfter!.map((x) => (Number.isNaN(x) ? -0.5 : x)), `${name(c)}: cache`).toEqual(apart.cacheAfter!.map((x) => (Number.isNaN(x) ? -0.5 : x)));
        const { B, H, D, Lk } = c;
        const E = H * D;
        for (let b = 0; b < B; b++) {
          const row = fused.cacheAfter!.subarray((b * c.append.Lmax + Lk - 1) * 2 * E, (b * c.append.Lmax + Lk) * 2 * E);
          expect(Array.from(row), `${name(c)}: batch ${b}'s new row`).toEqual([...fused.ref.keys.subarray((b * Lk + Lk - 1) * E, (b * Lk + Lk) * E), ...fused.ref.values.subarray((b * Lk + Lk - 1) * E, (b * Lk + Lk) * E)]);
        }
      }
      // Float64: the reference's [B, H, L, D] from the [B, L, H·D] rows.
      const { B, H, D, Lk, N } = c;
      const E = H * D;
      const toHeads = (x: Float32Array, L: number) => {
        const y = new Float32Array(x.length);
        for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) y.set(x.subarray((b * L + l) * E + h * D, (b * L + l) * E + (h + 1) * D), ((b * H + h) * L + l) * D);
        return y;
      };
      const r = fused.ref;
      const att = attentionRef(toHeads(r.q, 1), toHeads(r.keys, Lk), toHeads(r.values, Lk), { B, H, Lq: 1, Lk, D, causal: !!c.append, keyMask: c.keyMask ? r.mask : undefined });
      const o = new Float64Array(B * E);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) o.set(att.o.subarray((b * H + h) * D, (b * H + h + 1) * D), b * E + h * D);
      const want = matmulRef(o, r.w, { M: B, N, K: E, batch: 1, transA: false, transB: true }, { bias: r.bias, accumulate: c.residual ? r.res : undefined });
      // O is a convex combination of value rows (|v| ≤ 1), so the product's bound on inputs ≤ 1 holds.
      expectClose(fused.out, want, { atol: 1e-5 * Math.sqrt(E), rtol: 1e-4 }, name(c));
    });
  }

  it('is not taken for several query rows, past OUT_PROJ_BATCH_MAX batch rows, under a tape, with weights off 16-byte boundaries, or when turned off', () => {
    const dims = { B: 2, Lq: 1, Lk: 13, H: 4, D: 32 };
    expect(attentionOutProjFits(gpu, dims, 0)).toBe(true);
    expect(attentionOutProjFits(gpu, { ...dims, Lq: 2 }, 0)).toBe(false);
    expect(attentionOutProjFits(gpu, dims, 2)).toBe(false);
    expect(attentionOutProjFits(gpu, { ...dims, f16Inputs: true }, 0)).toBe(false);
    expect(attentionOutProjFits(gpu, { ...dims, path: 'unfused' }, 0)).toBe(false);
    expect(attentionOutProjPays(gpu, OUT_PROJ_BATCH_MAX)).toBe(true);
    expect(attentionOutProjPays(gpu, OUT_PROJ_BATCH_MAX + 1)).toBe(false);
    process.env.COCA_ATTENTION_PROJ = '0';
    expect(attentionOutProjPays(gpu, 1)).toBe(false);
    delete process.env.COCA_ATTENTION_PROJ;
    const rng = testRng(50);
    const E = 16;
    const Q = Tensor.fromArray(gpu, rng.floats(E), [1, 1, E], 'q', true);
    const KV = Tensor.fromArray(gpu, rng.floats(5 * 2 * E), [1, 5, 2 * E], 'kv', true);
    const W = Tensor.fromArray(gpu, rng.floats(E * E), [E, E], 'w', true);
    const b = Tensor.fromArray(gpu, rng.floats(E), [E], 'b', true);
    const tape = new Tape();
    const keys = kernelKeys(gpu, () => {
      withTape(tape, () => attentionOutProj({ t: Q, col: 0 }, { t: KV, col: 0 }, { t: KV, col: E }, E, { heads: 2 }, W, b));
    });
    tape.dispose();
    expect(keys.some((k) => k.startsWith('attention:attn_fwd_proj'))).toBe(false);
    for (const t of [Q, KV, W, b]) t.release();
  });

  it('refuses, in one line, what it cannot take and y over an input', () => {
    const buf = gpu.alloc(4096, 'buf');
    const y = gpu.alloc(64, 'y');
    const call = { B: 1, H: 2, Lq: 1, Lk: 5, D: 8, q: { buffer: buf }, k: { buffer: buf }, v: { buffer: buf } };
    const proj = { N: 16, weight: { buffer: buf }, bias: { buffer: buf }, y: { buffer: y } };
    expect(() => attentionOutProjKernel(gpu, { ...call, Lq: 2, Lk: 5 }, proj)).toThrow(/only for one query row .*\(Lq = 2, D = 8\); run attention, then the product/);
    expect(() => attentionOutProjKernel(gpu, call, { ...proj, weight: { buffer: buf, offset: 2 } })).toThrow(/W 16-byte aligned/);
    expect(() => attentionOutProjKernel(gpu, call, { ...proj, y: { buffer: buf } })).toThrow(/y must not share a buffer with Q/);
    expect(() => attentionOutProjKernel(gpu, call, { ...proj, N: 0 })).toThrow(/N = 0; it must be a positive integer/);
    gpu.release(buf);
    gpu.release(y);
  });
});
