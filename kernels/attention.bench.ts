// Bench cases of the attention family: fused vs unfused, forward and forward+backward, at the
// presets' shapes and at long sequences. Each case is validated against float64 first (all of it
// for short sequences, sampled query and key rows for long ones) on the very inputs it is then
// timed on, and reports ms, effective GFLOP/s (masked-out work counted, as everyone does) and the
// extra GPU memory of the call: the pool's peak above what inputs and outputs already hold.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { caseProgress, fmt, parseList, parseSizes, printRows, runCases, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { attention, attentionBackward, attentionPathAvailable, fusedLayoutAvailable, headsLayout, releaseAttentionSaved, type AttentionCall, type FusedLayout } from './attention.ts';
import { attentionFlops, attentionSampledRowsRef } from './attention.ref.ts';

type Shape = [number, number, number, number]; // B, H, L, D (self-attention, Lq = Lk = L)

/** What an attention case reports beside time and rate. */
interface Memory {
  /** GPU memory the call takes above its inputs and outputs (the pool's peak). */
  extraBytes: number;
}

/** The paths, and the fused path with each layout forced ('fused' alone takes the chosen one). */
const VARIANTS = ['fused', 'unfused', 'fused-rows', 'fused-dims'] as const;
type Variant = (typeof VARIANTS)[number];

function available(gpu: Gpu, v: Variant, D: number): boolean {
  if (v === 'fused' || v === 'unfused') return attentionPathAvailable(gpu, v, D);
  return fusedLayoutAvailable(gpu, v.slice(6) as FusedLayout, D);
}

function attentionCase(gpu: Gpu, variant: Variant, [B, H, L, D]: Shape, backward: boolean, seed: number): BenchCase<Memory> {
  const path = variant === 'unfused' ? 'unfused' : 'fused';
  const fusedLayout = variant.startsWith('fused-') ? (variant.slice(6) as FusedLayout) : undefined;
  const rng = new Rng(seed);
  const n = B * H * L * D;
  // [B, H, L, D] inputs, so sample rows of (b, h) = (0, 0) are the first L·D floats.
  const [q, k, v, g] = [rng.floats(n, -2, 2), rng.floats(n), rng.floats(n), rng.floats(n)];
  const layout = { strides: headsLayout.bhld(L, H, D) };
  const [Q, K, V, G] = [gpu.upload(q, 'bench:Q'), gpu.upload(k, 'bench:K'), gpu.upload(v, 'bench:V'), gpu.upload(g, 'bench:dO')];
  const [O, dQ, dK, dV] = ['O', 'dQ', 'dK', 'dV'].map((s) => gpu.alloc(n, `bench:${s}`)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  const call: AttentionCall = { B, H, Lq: L, Lk: L, D, q: { buffer: Q, ...layout }, k: { buffer: K, ...layout }, v: { buffer: V, ...layout }, o: { buffer: O, ...layout }, path, fusedLayout };
  const record = () => {
    const saved = attention(gpu, call);
    if (backward) attentionBackward(gpu, call, saved, { dO: { buffer: G, ...layout }, dQ: { buffer: dQ, ...layout }, dK: { buffer: dK, ...layout }, dV: { buffer: dV, ...layout } });
    releaseAttentionSaved(gpu, saved);
  };
  return {
    variant: `${variant} ${backward ? 'fwd+bwd' : 'fwd'}`,
    shape: `${B}x${H}x${L}x${D}`,
    work: { flops: attentionFlops(B, H, L, L, D, backward) },
    record,
    async validate() {
      for (const b of [O, dQ, dK, dV]) gpu.write(b, new Float32Array(n).fill(NaN));
      await gpu.sync('bench:attention:setup');
      gpu.pool.resetPeak();
      const base = gpu.pool.snapshot().inUseBytes;
      record();
      // Peak over the call alone, before the reads below take staging buffers from the pool.
      await gpu.sync('bench:attention:validate');
      const extraBytes = gpu.pool.snapshot().peakInUseBytes - base;
      const got = { o: await gpu.read(O, L * D, 0, 'bench:attention:o'), dq: await gpu.read(dQ, L * D, 0, 'bench:attention:dq'), dk: await gpu.read(dK, L * D, 0, 'bench:attention:dk'), dv: await gpu.read(dV, L * D, 0, 'bench:attention:dv') };
      const qRows = L <= 64 ? Array.from({ length: L }, (_, i) => i) : Array.from({ length: 12 }, () => rng.int(L));
      const kRows = L <= 64 ? qRows : Array.from({ length: 6 }, () => rng.int(L));
      const ref = attentionSampledRowsRef(q.subarray(0, L * D), k.subarray(0, L * D), v.subarray(0, L * D), g.subarray(0, L * D), L, D, backward ? qRows : [], backward ? kRows : []);
      const tol = { atol: 1e-5, rtol: 1e-4 };
      const checks = [compareClose(got.o, ref.o, tol, qRows.flatMap((i) => Array.from({ length: D }, (_, d) => i * D + d)))];
      if (backward) {
        const rows = (flat: Float32Array, idx: number[]) => Float32Array.from(idx.flatMap((i) => Array.from(flat.subarray(i * D, (i + 1) * D))));
        checks.push(compareClose(rows(got.dq, qRows), ref.dq.flatMap((r) => Array.from(r)), tol));
        checks.push(compareClose(rows(got.dk, kRows), ref.dkv.flatMap(([dk]) => Array.from(dk)), tol));
        checks.push(compareClose(rows(got.dv, kRows), ref.dkv.flatMap(([, dv]) => Array.from(dv)), tol));
      }
      return { ok: checks.every((c) => c.ok), maxAbsError: Math.max(...checks.map((c) => c.maxAbsError)), extraBytes };
    },
    release() {
      for (const b of [Q, K, V, G, O, dQ, dK, dV]) gpu.release(b);
    },
  };
}

export function* attentionCases(ctx: BenchContext): Generator<BenchCase<Memory>> {
  // Presets: 64 patch tokens and 33 text tokens at head dim 32; then long sequences, where the
  // unfused path's L×L matrices dominate memory. A bare L means 1 x 4 x L x 32.
  const shapes = parseSizes(ctx.sizes ?? '8x4x64x32,8x4x33x32,1x4x1024x32,1x1x4096x32', ['L', 'BxHxLxD'], '', (d) => (d.length === 1 ? [1, 4, d[0]!, 32] : d)) as Shape[];
  const variants = parseList<Variant>('variant', ctx.variant, VARIANTS);
  for (const shape of shapes) {
    for (const backward of [false, true]) {
      for (const v of variants) {
        if (available(ctx.gpu, v, shape[3])) yield attentionCase(ctx.gpu, v, shape, backward, ctx.seed);
        else caseProgress(`attention ${v} ${backward ? 'fwd+bwd' : 'fwd'} ${shape.join('x')}`).done('not available on this adapter');
      }
    }
  }
}

export const attentionBench: BenchFamily = {
  name: 'attention',
  describe: 'softmax(scale·Q·Kᵀ)·V, fused (chosen layout, or forced: fused-rows, fused-dims) vs unfused, forward and forward+backward; GFLOP/s and extra GPU memory',
  async run(ctx) {
    const rows = await runCases(ctx, 'attention', attentionCases(ctx));
    return printRows(ctx, rows, { variant: 'path', shape: 'B x H x L x D' }, [{ head: 'extra MiB', cell: (r) => fmt(r.extraBytes / 2 ** 20, 2) }]);
  },
};
