// Bench cases of the attention family: fused vs unfused, forward and forward+backward, at the
// presets' shapes and at long sequences. Each case is validated against float64 first (all of it
// for short sequences, sampled query and key rows for long ones) on the very inputs it is then
// timed on, and reports ms, effective GFLOP/s (masked-out work counted, as everyone does) and the
// extra GPU memory of the call: the pool's peak above what inputs and outputs already hold.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeCalls } from '../src/bench/measure.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, caseProgress, fmt, parseList, printTable, type BenchFamily } from '../src/bench/family.ts';
import { ATTENTION_PATHS, attention, attentionBackward, attentionPathAvailable, headsLayout, releaseAttentionSaved, type AttentionCall, type AttentionPath } from './attention.ts';
import { attentionFlops } from './attention.ref.ts';

export interface AttentionBenchRow {
  path: AttentionPath;
  pass: 'fwd' | 'fwd+bwd';
  B: number;
  H: number;
  L: number;
  D: number;
  ms: number;
  gflops: number;
  extraBytes: number;
  clock: 'device' | 'wall';
  maxAbsError: number;
  ok: boolean;
}

type Shape = [number, number, number, number]; // B, H, L, D (self-attention, Lq = Lk = L)

/**
 * Float64 checks of sampled rows from dense [B, H, L, D] arrays (b = h = 0): O and dQ of query
 * rows, dK and dV of key rows. Each needs the row log-sum-exps, computed once for all rows.
 */
function sampledRef(q: Float32Array, k: Float32Array, v: Float32Array, g: Float32Array, L: number, D: number, qRows: number[], kRows: number[]) {
  const scale = 1 / Math.sqrt(D);
  const dot = (a: Float32Array, i: number, b: Float32Array, j: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += a[i * D + d]! * b[j * D + d]!;
    return s;
  };
  const lse = new Float64Array(L);
  const o = new Float64Array(L * D);
  const need = new Set([...qRows, ...Array.from({ length: L }, (_, i) => i)]);
  for (const i of need) {
    let mx = -Infinity;
    const s = Array.from({ length: L }, (_, j) => scale * dot(q, i, k, j));
    for (const x of s) mx = Math.max(mx, x);
    let sum = 0;
    for (const x of s) sum += Math.exp(x - mx);
    lse[i] = mx + Math.log(sum);
    for (let j = 0; j < L; j++) {
      const p = Math.exp(s[j]! - lse[i]!);
      for (let d = 0; d < D; d++) o[i * D + d] += p * v[j * D + d]!;
    }
  }
  const delta = Array.from({ length: L }, (_, i) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += g[i * D + d]! * o[i * D + d]!;
    return s;
  });
  const ds = (i: number, j: number) => {
    const p = Math.exp(scale * dot(q, i, k, j) - lse[i]!);
    return [p, p * (dot(g, i, v, j) - delta[i]!)] as const;
  };
  const dq = qRows.map((i) => {
    const r = new Float64Array(D);
    for (let j = 0; j < L; j++) {
      const s = scale * ds(i, j)[1];
      for (let d = 0; d < D; d++) r[d] += s * k[j * D + d]!;
    }
    return r;
  });
  const dkv = kRows.map((j) => {
    const dk = new Float64Array(D);
    const dv = new Float64Array(D);
    for (let i = 0; i < L; i++) {
      const [p, s] = ds(i, j);
      for (let d = 0; d < D; d++) {
        dk[d] += scale * s * q[i * D + d]!;
        dv[d] += p * g[i * D + d]!;
      }
    }
    return [dk, dv] as const;
  });
  return { o, dq, dkv };
}

export async function benchAttentionCase(gpu: Gpu, path: AttentionPath, [B, H, L, D]: Shape, backward: boolean, opts: { runs: number; seed: number }): Promise<AttentionBenchRow | null> {
  if (!attentionPathAvailable(gpu, path, D)) return null;
  const rng = new Rng(opts.seed);
  const n = B * H * L * D;
  // [B, H, L, D] inputs, so sample rows of (b, h) = (0, 0) are the first L·D floats.
  const [q, k, v, g] = [rng.floats(n, -2, 2), rng.floats(n), rng.floats(n), rng.floats(n)];
  const lay = { strides: headsLayout.bhld(L, H, D) };
  const [Q, K, V, G] = [gpu.upload(q, 'bench:Q'), gpu.upload(k, 'bench:K'), gpu.upload(v, 'bench:V'), gpu.upload(g, 'bench:dO')];
  const [O, dQ, dK, dV] = ['O', 'dQ', 'dK', 'dV'].map((s) => gpu.alloc(n, `bench:${s}`)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  for (const b of [O, dQ, dK, dV]) gpu.write(b, new Float32Array(n).fill(NaN));
  const call: AttentionCall = { B, H, Lq: L, Lk: L, D, q: { buffer: Q, ...lay }, k: { buffer: K, ...lay }, v: { buffer: V, ...lay }, o: { buffer: O, ...lay }, path };
  const record = () => {
    const saved = attention(gpu, call);
    if (backward) attentionBackward(gpu, call, saved, { dO: { buffer: G, ...lay }, dQ: { buffer: dQ, ...lay }, dK: { buffer: dK, ...lay }, dV: { buffer: dV, ...lay } });
    releaseAttentionSaved(gpu, saved);
  };
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
  const ref = sampledRef(q.subarray(0, L * D), k.subarray(0, L * D), v.subarray(0, L * D), g.subarray(0, L * D), L, D, backward ? qRows : [], backward ? kRows : []);
  const tol = { atol: 1e-5, rtol: 1e-4 };
  const checks = [compareClose(got.o, ref.o, tol, qRows.flatMap((i) => Array.from({ length: D }, (_, d) => i * D + d)))];
  if (backward) {
    const rows = (flat: Float32Array, idx: number[]) => Float32Array.from(idx.flatMap((i) => Array.from(flat.subarray(i * D, (i + 1) * D))));
    checks.push(compareClose(rows(got.dq, qRows), ref.dq.flatMap((r) => Array.from(r)), tol));
    checks.push(compareClose(rows(got.dk, kRows), ref.dkv.flatMap(([dk]) => Array.from(dk)), tol));
    checks.push(compareClose(rows(got.dv, kRows), ref.dkv.flatMap(([, dv]) => Array.from(dv)), tol));
  }
  const t = await timeCalls(gpu, record, { tag: `bench:attention:${path}:${backward}:${B}x${H}x${L}x${D}`, runs: opts.runs });
  for (const b of [Q, K, V, G, O, dQ, dK, dV]) gpu.release(b);
  return {
    path, pass: backward ? 'fwd+bwd' : 'fwd', B, H, L, D, ms: t.ms, gflops: attentionFlops(B, H, L, L, D, backward) / (t.ms * 1e6), extraBytes, clock: t.clock,
    maxAbsError: Math.max(...checks.map((c) => c.maxAbsError)), ok: checks.every((c) => c.ok),
  };
}

function parseShapes(s: string): Shape[] {
  return s.split(',').map((tok) => {
    const parts = tok.trim().split('x').map(Number);
    if (parts.length !== 1 && parts.length !== 4) throw new BenchInputError(`--sizes: "${tok}" is neither L nor BxHxLxD`);
    const shape = (parts.length === 1 ? [1, 4, parts[0]!, 32] : parts) as Shape;
    if (shape.some((d) => !Number.isInteger(d) || d <= 0)) throw new BenchInputError(`--sizes: "${tok}" has a dimension that is not a positive integer`);
    return shape;
  });
}

const mib = (bytes: number) => bytes / 2 ** 20;

export const attentionBench: BenchFamily = {
  name: 'attention',
  describe: 'softmax(scale·Q·Kᵀ)·V, fused vs unfused, forward and forward+backward; GFLOP/s and extra GPU memory',
  async run(ctx) {
    // Presets: 64 patch tokens and 33 text tokens at head dim 32; then long sequences, where the
    // unfused path's L×L matrices dominate memory.
    const shapes = parseShapes(ctx.sizes ?? '8x4x64x32,8x4x33x32,1x4x1024x32,1x1x4096x32');
    const paths = parseList<AttentionPath>('variant', ctx.variant, ATTENTION_PATHS);
    const rows: AttentionBenchRow[] = [];
    for (const shape of shapes) {
      for (const backward of [false, true]) {
        for (const path of paths) {
          const p = caseProgress(`attention ${path} ${backward ? 'fwd+bwd' : 'fwd'} ${shape.join('x')}`);
          const r = await benchAttentionCase(ctx.gpu, path, shape, backward, ctx);
          if (!r) {
            p.done('not available on this adapter');
            continue;
          }
          rows.push(r);
          p.done(`${fmt(r.ms, 2)} ms, ${fmt(r.gflops, 2)} GFLOP/s${r.ok ? '' : ' FAILED validation'}`);
        }
      }
    }
    console.log();
    printTable(
      ['path', 'pass', 'B x H x L x D', 'ms', 'GFLOP/s', '% FMA ceiling', 'extra MiB', 'check (max abs err)'],
      rows.map((r) => [
        r.path, r.pass, `${r.B}x${r.H}x${r.L}x${r.D}`, fmt(r.ms, 3), fmt(r.gflops, 2), fmt((100 * r.gflops) / ctx.ceilings.gflops, 1),
        fmt(mib(r.extraBytes), 2), `${r.ok ? 'ok' : 'FAILED'} (${r.maxAbsError.toExponential(1)})`,
      ]),
      3,
    );
    return { failed: rows.filter((r) => !r.ok).length, report: { rows } };
  },
};
