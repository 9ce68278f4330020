// The attention family against its float64 reference: forward (O, lse) and backward (dQ, dK,
// dV under a random upstream gradient) on both paths, at awkward shapes (Lq ≠ Lk, lengths 1 and
// primes, several query and key blocks), with causal and key-padding masks together, fully
// masked rows, batch × heads > 1, head dims 32 / 64 / 128, and strided layouts ([B, L, H, D],
// [B, H, L, D], a fused [B, L, 3, H, D] projection whose gradients land in one dQKV buffer).
// Outputs are poisoned with NaN, and gaps between strided rows of the inputs hold NaN, so a
// missed write or a read outside the tensor fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import {
  attention,
  attentionBackward,
  FUSED_LAYOUTS,
  attentionPathAvailable,
  chooseFusedLayout,
  fusedBackwardRows,
  fusedLayoutAvailable,
  type FusedLayout,
  chooseAttentionPath,
  headsLayout,
  releaseAttentionSaved,
  type AttentionCall,
  type AttentionPath,
  type HeadsRef,
} from '../../kernels/attention.ts';
import { attentionBackwardRef, attentionRef, type AttentionDims } from '../../kernels/attention.ref.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { expectClose } from '../helpers/close.ts';
import { compareClose } from '../../src/util/allclose.ts';
import { f16RoundAll } from '../../kernels/f16.ref.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
// Every read gets its own tag: the waiter learns one duration per tag, and a first read that
// includes seconds of JIT compile must not make every later read sleep that long.
let reads = 0;
const read = (b: GPUBuffer, n: number) => gpu.read(b, n, 0, `attention-test-${reads++}`);
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// Inputs are in [−1, 1] (Q in [−3, 3], so the softmax is peaked, not flat). O is a convex
// combination of V rows and the gradients sum at most 131 terms of order 1; the largest error
// measured over these cases, on either path, was 1e-6 absolute. A transposed or shifted index
// gives errors of order 0.1.
const FWD_TOL = { atol: 4e-6, rtol: 1e-5 };
const BWD_TOL = { atol: 8e-6, rtol: 1e-5 };

type Layout = 'blhd' | 'bhld' | 'qkv';
interface Case extends AttentionDims {
  layout: Layout;
  /** Key-padding mask: random 0/1 per key, and batch `emptyBatch` fully padded. */
  mask?: { emptyBatch?: number };
}

const CASES: Case[] = [
  { B: 2, H: 3, Lq: 1, Lk: 1, D: 32, layout: 'blhd' },
  { B: 1, H: 2, Lq: 7, Lk: 13, D: 32, layout: 'bhld', causal: true },
  { B: 1, H: 1, Lq: 67, Lk: 131, D: 32, layout: 'blhd', scale: 0.3 },
  { B: 1, H: 1, Lq: 1, Lk: 29, D: 32, layout: 'blhd', causal: true },
  { B: 2, H: 2, Lq: 19, Lk: 19, D: 32, layout: 'qkv', causal: true, mask: {} },
  // Causal offset −3: the first three queries see nothing; batch 1 is all padding.
  { B: 2, H: 2, Lq: 37, Lk: 37, D: 64, layout: 'blhd', causal: true, causalOffset: -3, mask: { emptyBatch: 1 } },
  { B: 1, H: 2, Lq: 5, Lk: 11, D: 128, layout: 'blhd', mask: {} },
  // A head dim the fused kernels do not take (not a multiple of 4): the unfused path alone.
  { B: 1, H: 3, Lq: 4, Lk: 6, D: 6, layout: 'bhld', causal: true },
];

/** The element offset and strides of tensor `which` (0 q, 1 k, 2 v) in a case's layout. */
function layoutOf(c: Case, L: number, which: 0 | 1 | 2): { offset: number; strides: [number, number, number]; floats: number } {
  const { B, H, D } = c;
  // Row strides one past D in the plain layouts leave a NaN gap between rows.
  if (c.layout === 'qkv') return { ...headsLayout.qkv(L, H, D, which), floats: 3 * B * L * H * D };
  if (c.layout === 'bhld') return { offset: 2, strides: [H * L * (D + 1), L * (D + 1), D + 1], floats: 2 + B * H * L * (D + 1) };
  return { offset: 1, strides: [L * H * D, D, H * D], floats: 1 + B * L * H * D };
}

function scatter(dst: Float32Array, dense: ArrayLike<number>, off: number, s: readonly number[], c: Case, L: number): void {
  for (let b = 0; b < c.B; b++)
    for (let h = 0; h < c.H; h++)
      for (let i = 0; i < L; i++)
        for (let d = 0; d < c.D; d++) dst[off + b * s[0]! + h * s[1]! + i * s[2]! + d] = dense[((b * c.H + h) * L + i) * c.D + d]!;
}

function gather(src: Float32Array, off: number, s: readonly number[], c: Case, L: number): Float32Array {
  const out = new Float32Array(c.B * c.H * L * c.D);
  for (let b = 0; b < c.B; b++)
    for (let h = 0; h < c.H; h++)
      for (let i = 0; i < L; i++)
        for (let d = 0; d < c.D; d++) out[((b * c.H + h) * L + i) * c.D + d] = src[off + b * s[0]! + h * s[1]! + i * s[2]! + d]!;
  return out;
}

interface Run {
  o: Float32Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

async function runCase(c: Case, path: AttentionPath, salt: number, fusedLayout?: FusedLayout, f16Inputs?: boolean): Promise<{ run: Run; inputs: { q: Float32Array; k: Float32Array; v: Float32Array; dout: Float32Array; keyMask?: Uint32Array } }> {
  const rng = testRng(salt);
  const { B, H, Lq, Lk, D } = c;
  const q = rng.floats(B * H * Lq * D, -3, 3);
  const k = rng.floats(B * H * Lk * D);
  const v = rng.floats(B * H * Lk * D);
  const dout = rng.floats(B * H * Lq * D);
  let keyMask: Uint32Array | undefined;
  if (c.mask) {
    keyMask = Uint32Array.from({ length: B * Lk }, (_, i) => (Math.floor(i / Lk) === c.mask!.emptyBatch ? 0 : rng.next() < 0.7 ? 1 : 0));
  }
  const lq = layoutOf(c, Lq, 0);
  const lk = layoutOf(c, Lk, 1);
  const lv = layoutOf(c, Lk, 2);
  const bufs: GPUBuffer[] = [];
  const track = (b: GPUBuffer) => (bufs.push(b), b);
  const input = (parts: [Float32Array, ReturnType<typeof layoutOf>, number][]): GPUBuffer => {
    const host = new Float32Array(parts[0]![1].floats).fill(NaN);
    for (const [dense, l, L] of parts) scatter(host, dense, l.offset, l.strides, c, L);
    return track(gpu.upload(host, 'in'));
  };
  let Q: GPUBuffer, K: GPUBuffer, V: GPUBuffer, dQ: GPUBuffer, dK: GPUBuffer, dV: GPUBuffer;
  if (c.layout === 'qkv') {
    Q = K = V = input([[q, lq, Lq], [k, lk, Lk], [v, lv, Lk]]);
    dQ = dK = dV = track(poisoned(gpu, lq.floats, 'dQKV'));
  } else {
    [Q, K, V] = [input([[q, lq, Lq]]), input([[k, lk, Lk]]), input([[v, lv, Lk]])];
    [dQ, dK, dV] = [track(poisoned(gpu, lq.floats, 'dQ')), track(poisoned(gpu, lk.floats, 'dK')), track(poisoned(gpu, lv.floats, 'dV'))];
  }
  const O = track(poisoned(gpu, B * Lq * H * D, 'O'));
  const dO = track(gpu.upload(Float32Array.from({ length: B * Lq * H * D }, (_, e) => {
    const d = e % D, h = Math.floor(e / D) % H, i = Math.floor(e / (D * H)) % Lq, b = Math.floor(e / (D * H * Lq));
    return dout[((b * H + h) * Lq + i) * D + d]!;
  }), 'dO'));
  const Mask = keyMask ? track(gpu.upload(keyMask, 'keyMask')) : undefined;
  const ref = (l: ReturnType<typeof layoutOf>, buffer: GPUBuffer): HeadsRef => ({ buffer, offset: l.offset, strides: l.strides });
  const call: AttentionCall = {
    B, H, Lq, Lk, D, q: ref(lq, Q), k: ref(lk, K), v: ref(lv, V), o: { buffer: O },
    scale: c.scale, causal: c.causal, causalOffset: c.causalOffset, keyMask: Mask, path, fusedLayout, f16Inputs,
  };
  const saved = attention(gpu, call);
  expect(saved.path).toBe(path);
  attentionBackward(gpu, call, saved, { dO: { buffer: dO }, dQ: ref(lq, dQ), dK: ref(lk, dK), dV: ref(lv, dV) });
  const oFlat = await read(O, B * Lq * H * D);
  const o = gather(oFlat, 0, headsLayout.blhd(Lq, H, D), c, Lq);
  const lse = await read(saved.lse, B * H * Lq);
  const dqAll = await read(dQ, lq.floats);
  const dkAll = dK === dQ ? dqAll : await read(dK, lk.floats);
  const dvAll = dV === dQ ? dqAll : await read(dV, lv.floats);
  releaseAttentionSaved(gpu, saved);
  for (const b of new Set(bufs)) gpu.release(b);
  return {
    run: { o, lse, dq: gather(dqAll, lq.offset, lq.strides, c, Lq), dk: gather(dkAll, lk.offset, lk.strides, c, Lk), dv: gather(dvAll, lv.offset, lv.strides, c, Lk) },
    inputs: { q, k, v, dout, keyMask },
  };
}

function checkAgainstRef(c: Case, what: string, r: Run, inp: Awaited<ReturnType<typeof runCase>>['inputs']): void {
  const d: AttentionDims = { ...c, keyMask: inp.keyMask };
  const want = attentionRef(inp.q, inp.k, inp.v, d);
  const g = attentionBackwardRef(inp.q, inp.k, inp.v, inp.dout, d);
  expectClose(r.o, want.o, FWD_TOL, `${what} O`);
  // lse is −∞ on fully masked rows; compare those exactly and the rest with the tolerance.
  const finite = Array.from(want.lse.keys()).filter((i) => want.lse[i] !== -Infinity);
  for (const i of want.lse.keys()) if (want.lse[i] === -Infinity) expect(r.lse[i], `${what} lse[${i}] of a fully masked row`).toBe(-Infinity);
  expectClose(finite.map((i) => r.lse[i]!), finite.map((i) => want.lse[i]!), FWD_TOL, `${what} lse`);
  expectClose(r.dq, g.dq, BWD_TOL, `${what} dQ`);
  expectClose(r.dk, g.dk, BWD_TOL, `${what} dK`);
  expectClose(r.dv, g.dv, BWD_TOL, `${what} dV`);
}

const caseName = (c: Case) =>
  `B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D} ${c.layout}${c.causal ? ` causal${c.causalOffset ?? ''}` : ''}${c.mask ? ` padded${c.mask.emptyBatch !== undefined ? '+empty' : ''}` : ''}`;

/**
 * True where the fused path cannot run at head dim D (a multiple of 4 up to 128), asserting the
 * only reason allowed: the adapter has no fixed subgroup size of at most 64.
 */
function fusedUnavailable(D: number): boolean {
  if (attentionPathAvailable(gpu, 'fused', D)) return false;
  expect(!gpu.has('subgroups') || gpu.subgroupSize === 0 || gpu.subgroupSize > 64, `subgroup size ${gpu.subgroupSize}`).toBe(true);
  return true;
}

describe('attention forward and backward against float64', () => {
  CASES.forEach((c, idx) => {
    it(caseName(c), async () => {
      const unf = await runCase(c, 'unfused', idx);
      checkAgainstRef(c, `unfused ${caseName(c)}`, unf.run, unf.inputs);
      if (!attentionPathAvailable(gpu, 'fused', c.D)) return expect(gpu.subgroupSize === 0 || c.D % 4 !== 0).toBe(true);
      // Both layouts of the fused kernels (rows per lane, dims per lane) where the head dim allows.
      // Same salt: same inputs, so the paths can be compared directly as well.
      expect(fusedLayoutAvailable(gpu, 'dims', c.D)).toBe(c.D % gpu.subgroupSize === 0);
      for (const layout of FUSED_LAYOUTS.filter((l) => fusedLayoutAvailable(gpu, l, c.D))) {
        const fus = await runCase(c, 'fused', idx, layout);
        checkAgainstRef(c, `fused (${layout}) ${caseName(c)}`, fus.run, fus.inputs);
        for (const key of ['o', 'dq', 'dk', 'dv'] as const) expectClose(fus.run[key], unf.run[key], key === 'o' ? FWD_TOL : BWD_TOL, `fused (${layout}) vs unfused ${key}`);
        // Fully masked rows: exactly zero output and zero gradient, not NaN.
        if (c.causalOffset === -3) {
          for (let dd = 0; dd < c.D; dd++) expect([fus.run.o[dd], fus.run.dq[dd]]).toEqual([0, 0]);
        }
      }
    });
  });
});

// `--precision f16`: Q, K, V and dO rounded to f16 as loaded, everything else f32. Against float64
// of the rounded inputs at the f32 tolerances, on both paths and both fused layouts; and far from
// the unrounded answer (inputs in [−3, 3] move by up to 2^-10 relative when rounded), so a kernel
// that skipped the rounding of any one input fails.
describe('attention with f16 inputs (mixed precision)', () => {
  const F16_CASES = [CASES[1]!, CASES[5]!, CASES[6]!];
  F16_CASES.forEach((c, idx) => {
    it(caseName(c), async () => {
      const variants: [AttentionPath, FusedLayout | undefined][] = [['unfused', undefined], ...FUSED_LAYOUTS.filter((l) => fusedLayoutAvailable(gpu, l, c.D)).map((l) => ['fused', l] as [AttentionPath, FusedLayout])];
      for (const [path, layout] of variants) {
        const what = `f16 inputs, ${path}${layout ? ` (${layout})` : ''} ${caseName(c)}`;
        const { run, inputs } = await runCase(c, path, 90 + idx, layout, true);
        const r16 = (x: Float32Array) => Float32Array.from(f16RoundAll(x));
        checkAgainstRef(c, what, run, { ...inputs, q: r16(inputs.q), k: r16(inputs.k), v: r16(inputs.v), dout: r16(inputs.dout) });
        // Each input's rounding matters: the answer of the unrounded Q, K, V or dO is far off.
        const d: AttentionDims = { ...c, keyMask: inputs.keyMask };
        for (const skip of ['q', 'k', 'v', 'dout'] as const) {
          const mixed = { q: r16(inputs.q), k: r16(inputs.k), v: r16(inputs.v), dout: r16(inputs.dout), [skip]: inputs[skip] };
          const g = attentionBackwardRef(mixed.q, mixed.k, mixed.v, mixed.dout, d);
          const o = attentionRef(mixed.q, mixed.k, mixed.v, d).o;
          const off = [compareClose(run.o, o, FWD_TOL), compareClose(run.dq, g.dq, BWD_TOL), compareClose(run.dk, g.dk, BWD_TOL), compareClose(run.dv, g.dv, BWD_TOL)];
          expect(off.some((r) => !r.ok), `${what}: an unrounded ${skip} would pass`).toBe(true);
        }
      }
    });
  });
});

describe('attention weights for inference', () => {
  it('writes P [B, H, Lq, Lk] when asked (a fully masked row is all 0), O unchanged', async () => {
    const rng = testRng(40);
    const [B, H, Lq, Lk, D] = [2, 2, 3, 17, 32];
    const q = rng.floats(B * H * Lq * D, -3, 3);
    const k = rng.floats(B * H * Lk * D);
    const v = rng.floats(B * H * Lk * D);
    const keyMask = Uint32Array.from({ length: B * Lk }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const bhld = headsLayout.bhld;
    const [Q, K, V, Mask] = [gpu.upload(q, 'q'), gpu.upload(k, 'k'), gpu.upload(v, 'v'), gpu.upload(keyMask, 'mask')];
    const O = poisoned(gpu, B * H * Lq * D, 'O');
    const P = poisoned(gpu, B * H * Lq * Lk, 'P');
    const call: AttentionCall = {
      B, H, Lq, Lk, D, q: { buffer: Q, strides: bhld(Lq, H, D) }, k: { buffer: K, strides: bhld(Lk, H, D) }, v: { buffer: V, strides: bhld(Lk, H, D) },
      o: { buffer: O, strides: bhld(Lq, H, D) }, keyMask: Mask, causal: true, causalOffset: -1, probs: P,
    };
    const saved = attention(gpu, call);
    expect(saved.path).toBe('unfused');
    const want = attentionRef(q, k, v, { B, H, Lq, Lk, D, keyMask, causal: true, causalOffset: -1 });
    expectClose(await read(P, B * H * Lq * Lk), want.p, FWD_TOL, 'P');
    expectClose(await read(O, B * H * Lq * D), want.o, FWD_TOL, 'O');
    releaseAttentionSaved(gpu, saved);
    // P belongs to the caller: still there after the saved state is released.
    expect(gpu.pool.snapshot().inUseBytes).toBeGreaterThan(0);
    for (const b of [Q, K, V, Mask, O, P]) gpu.release(b);
  });
});

describe('attention path choice', () => {
  it('picks an available path; probs always go the unfused way', () => {
    for (const [Lq, Lk, D] of [[1, 1, 32], [33, 33, 32], [64, 64, 32], [1024, 1024, 64], [4096, 4096, 128], [8, 8, 256]] as const) {
      expect(attentionPathAvailable(gpu, chooseAttentionPath(gpu, Lq, Lk, D), D)).toBe(true);
      expect(chooseAttentionPath(gpu, Lq, Lk, D, true)).toBe('unfused');
    }
    expect(attentionPathAvailable(gpu, 'fused', 256)).toBe(false);
  });

  it('fused layout: dims at 128 on a software adapter, wherever it runs on a GPU; rows where dims cannot run', () => {
    if (gpu.software && fusedLayoutAvailable(gpu, 'dims', 128)) {
      expect([32, 64, 128].map((D) => chooseFusedLayout(gpu, D))).toEqual(['rows', 'rows', 'dims']);
    }
    // A stand-in NVIDIA device (subgroups of 32): every head dim that is a multiple of 32 goes to dims.
    const nv = { software: false, subgroupSize: 32, has: (f: string) => f === 'subgroups', setting: () => undefined, limits: gpu.limits } as unknown as Gpu;
    expect([32, 64, 128, 48, 100].map((D) => chooseFusedLayout(nv, D))).toEqual(['dims', 'dims', 'dims', 'rows', 'rows']);
    expect([[1024, 1024, 128], [64, 64, 96]].map(([Lq, Lk, D]) => chooseAttentionPath(nv, Lq!, Lk!, D!))).toEqual(['fused', 'fused']);
    expect(chooseAttentionPath(nv, 1024, 1024, 100)).toBe('unfused'); // rows would spill, and P fits
  });
});

describe('the fused backward rows per lane', () => {
  it('the least padding of the rows the registers allow, for dQ (queries) and dK/dV (keys) apart', () => {
    const sg = gpu.subgroupSize;
    // 8·SG + 1 (the presets' 65 tokens at SG 8): 3 rows a lane compute 9·SG rows, 2 would compute 10·SG.
    expect(fusedBackwardRows(gpu, 32, 8 * sg + 1)).toBe(3);
    // 4·SG (32 queries): 2 rows a lane pad nothing, 3 would.
    expect(fusedBackwardRows(gpu, 32, 4 * sg)).toBe(2);
    expect(fusedBackwardRows(gpu, 32, 128 * sg)).toBe(2);
    expect(fusedBackwardRows(gpu, 32, 1)).toBe(1);
    expect(fusedBackwardRows(gpu, 64, 8 * sg + 1)).toBe(1);
    expect(fusedBackwardRows(gpu, 16, 1024)).toBe(4);
  });
});

describe('attention bad input', () => {
  const attempt = (over: Partial<AttentionCall>, sizes: { q?: number; o?: number } = {}) => () => {
    const [B, H, Lq, Lk, D] = [2, 2, 5, 7, 32];
    const Q = gpu.alloc(sizes.q ?? B * H * Lq * D, 'Q');
    const KV = gpu.alloc(B * H * Lk * D, 'KV');
    const O = gpu.alloc(sizes.o ?? B * H * Lq * D, 'O');
    try {
      attention(gpu, { B, H, Lq, Lk, D, q: { buffer: Q }, k: { buffer: KV }, v: { buffer: KV }, o: { buffer: O }, ...over });
    } finally {
      for (const b of [Q, KV, O]) gpu.release(b);
    }
  };
  it('names the tensor, its shape and layout when the buffer is too small', () => {
    expect(attempt({}, { q: 400 })).toThrow(/Q \(2x2x5x32, offset 0, strides \[320, 32, 64\]\): reaches float 640 but its buffer "Q" holds \d+/);
  });
  it('rejects a zero dimension, overlapping rows, and O aliasing an input', () => {
    expect(attempt({ Lq: 0 })).toThrow(/Lq = 0; every dimension must be a positive integer/);
    const Q = gpu.alloc(2 * 2 * 5 * 32, 'Q2');
    expect(attempt({ q: { buffer: Q, strides: [320, 32, 16] } })).toThrow(/row stride 16 is smaller than the head dim 32/);
    expect(attempt({ o: { buffer: Q }, q: { buffer: Q } })).toThrow(/O must not share a buffer with Q/);
    gpu.release(Q);
  });
  it('refuses probs on the fused path and the fused path at head dim > 128', () => {
    const P = gpu.alloc(2 * 2 * 5 * 7, 'P');
    if (!fusedUnavailable(32)) expect(attempt({ probs: P, path: 'fused' })).toThrow(/probs are only written by the unfused path/);
    gpu.release(P);
    expect(() => attention(gpu, { B: 1, H: 1, Lq: 1, Lk: 1, D: 256, q: { buffer: gpu.unused }, k: { buffer: gpu.unused }, v: { buffer: gpu.unused }, o: { buffer: gpu.unused }, path: 'fused' })).toThrow(ShapeError);
  });
});

describe('attention fused path: deterministic, O(L) memory', () => {
  it('two forward+backward runs are bitwise equal and hold no L×L buffer', async () => {
    if (fusedUnavailable(32)) return;
    const rng = testRng(50);
    const [B, H, L, D] = [1, 2, 200, 32];
    const n = B * H * L * D;
    const [Q, K, V, G] = [0, 1, 2, 3].map(() => gpu.upload(rng.floats(n), 'x'));
    const outs = [0, 1].map(() => ['O', 'dQ', 'dK', 'dV'].map((s) => poisoned(gpu, n, s)));
    const got: Float32Array[][] = [];
    for (const [O, dQ, dK, dV] of outs) {
      await gpu.sync('attention-test-setup');
      gpu.pool.resetPeak();
      const base = gpu.pool.snapshot().inUseBytes;
      const call: AttentionCall = { B, H, Lq: L, Lk: L, D, q: { buffer: Q! }, k: { buffer: K! }, v: { buffer: V! }, o: { buffer: O! }, causal: true, path: 'fused' };
      const saved = attention(gpu, call);
      attentionBackward(gpu, call, saved, { dO: { buffer: G! }, dQ: { buffer: dQ! }, dK: { buffer: dK! }, dV: { buffer: dV! } });
      releaseAttentionSaved(gpu, saved);
      await gpu.sync('attention-test-run');
      // lse and D: B·H·L floats each (pool classes round up to 256 bytes); P would be 320 KB.
      expect(gpu.pool.snapshot().peakInUseBytes - base).toBeLessThanOrEqual(2 * 4096);
      got.push(await Promise.all([O!, dQ!, dK!, dV!].map((b) => read(b, n))));
    }
    for (let t = 0; t < 4; t++) expect(Buffer.from(got[1]![t]!.buffer).equals(Buffer.from(got[0]![t]!.buffer))).toBe(true);
    for (const b of [Q, K, V, G, ...outs.flat()]) gpu.release(b!);
  });
});
