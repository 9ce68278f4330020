// The kernel suite that runs inside a browser tab (test/browser/kernels.browser.ts builds it with
// esbuild and drives it with playwright-core): the same launchers, the same float64 references
// (kernels/*.ref.ts) and the same comparison (src/util/allclose.ts) as the Node suites, at awkward
// shapes (1, primes, sizes just past the tiles), outputs poisoned with NaN before each run. It is
// a representative subset of test/kernels/, with plain layouts: every matmul variant the adapter
// has in each layout, softmax, layernorm and attention (both paths) forward and backward,
// cross-entropy (loss and gradient), AdamW steps. Each case reports instead of stopping the run,
// so one broken kernel names itself among the others.
import { adamw, type AdamWHyper, type AdamWSegment } from '../../kernels/adamw.ts';
import { adamwRef, type AdamWRefState } from '../../kernels/adamw.ref.ts';
import { attention, attentionBackward, attentionPathAvailable, releaseAttentionSaved, type AttentionPath } from '../../kernels/attention.ts';
import { attentionBackwardRef, attentionRef, type AttentionDims } from '../../kernels/attention.ref.ts';
import { crossEntropy, crossEntropyBackward, IGNORE_INDEX } from '../../kernels/crossentropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../kernels/crossentropy.ref.ts';
import { releaseTokenIds, uploadTokenIds } from '../../kernels/embedding.ts';
import { layernorm, layernormBackward } from '../../kernels/layernorm.ts';
import { layernormBackwardRef, layernormRef, layernormTolerance } from '../../kernels/layernorm.ref.ts';
import { MATMUL_VARIANTS, matmul, matmulVariantAvailable, type MatmulVariant } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { softmax, softmaxBackward } from '../../kernels/softmax.ts';
import { softmaxBackwardRef, softmaxRef, softmaxTolerance } from '../../kernels/softmax.ref.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { configureBrowserHost } from '../../src/gpu/host-browser.ts';
import { compareClose, describeReport, type Tolerance } from '../../src/util/allclose.ts';
import { Rng } from '../../src/util/prng.ts';
import { placed, poisoned } from '../helpers/gpu.ts';

export interface CaseResult {
  family: string;
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

export interface SuiteReport {
  adapter: { vendor: string; architecture: string; device: string; description: string; software: boolean; subgroupSize: number; features: string[] };
  seed: number;
  results: CaseResult[];
}

export interface SuiteOptions {
  seed: number;
  /** Families to run (default all). */
  only?: string[];
  /** Where the WGSL sources are (default shaders/ beside this module). */
  shaders?: string;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  if (got.length < want.length) throw new Error(`${what}: ${got.length} values, ${want.length} expected`);
  const r = compareClose(got, want, tol);
  if (!r.ok) throw new Error(`${what}: ${describeReport(r)}`);
}

type Case = { family: string; name: string; run: (gpu: Gpu, rng: Rng) => Promise<void> };
const cases: Case[] = [];
const add = (family: string, name: string, run: Case['run']) => cases.push({ family, name, run });

// ---- matmul: every variant × layout, at 1s, primes and sizes just past the tile edges --------
const MATMUL_SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 37, 1, 13],
  [3, 33, 17, 7],
  [2, 65, 129, 31],
];
for (const variant of MATMUL_VARIANTS) {
  for (const layout of ['NN', 'NT', 'TN'] as const) {
    add('matmul', `${variant} ${layout}`, async (gpu, rng) => {
      if (!matmulVariantAvailable(gpu, variant)) {
        // Only the subgroup variant may be missing, and only for a reason the adapter states.
        if (variant !== 'subgroup' || (gpu.subgroupSize > 0 && 32 % gpu.subgroupSize === 0)) throw new Error(`${variant} unavailable on an adapter that should have it`);
        return;
      }
      for (const shape of variant === 'tiled128' ? [...MATMUL_SHAPES, [1, 129, 131, 19] as [number, number, number, number]] : MATMUL_SHAPES) {
        await matmulCase(gpu, rng, variant, layout, shape, layout === 'NN' && shape[0] === 3);
      }
    });
  }
}

async function matmulCase(gpu: Gpu, rng: Rng, variant: MatmulVariant, layout: 'NN' | 'NT' | 'TN', [batch, M, N, K]: [number, number, number, number], extras: boolean): Promise<void> {
  const transA = layout === 'TN';
  const transB = layout === 'NT';
  const a = rng.floats(batch * M * K);
  const b = rng.floats(batch * K * N);
  const bias = extras ? rng.floats(N) : undefined;
  const alpha = extras ? 0.37 : undefined;
  const A = gpu.upload(a, 'A');
  const B = gpu.upload(b, 'B');
  const Bias = bias ? gpu.upload(bias, 'bias') : undefined;
  const C = poisoned(gpu, batch * M * N, 'C');
  matmul(gpu, {
    a: { buffer: A, shape: [batch, ...(transA ? [K, M] : [M, K])] },
    b: { buffer: B, shape: [batch, ...(transB ? [N, K] : [K, N])] },
    c: { buffer: C, shape: [batch, M, N] },
    bias: Bias ? { buffer: Bias } : undefined,
    transA,
    transB,
    alpha,
    variant,
  });
  const got = await gpu.read(C, batch * M * N);
  for (const buf of [A, B, C, Bias]) if (buf) gpu.release(buf);
  expectClose(got, matmulRef(a, b, { M, N, K, batch, transA, transB }, { alpha, bias }), matmulTolerance(K), `${variant} ${layout} [${batch}, ${M}, ${N}, ${K}]${extras ? ' bias alpha' : ''}`);
}

// ---- softmax forward and backward: rows of 1, primes, past the vec4 width and a register block --
for (const [rows, cols, off] of [[1, 1, 0], [3, 1, 3], [5, 7, 0], [7, 33, 3], [3, 67, 0], [2, 251, 3]] as const) {
  add('softmax', `[${rows}, ${cols}] offset ${off}`, async (gpu, rng) => {
    const n = rows * cols;
    const x = rng.floats(n, -4, 4);
    const X = placed(gpu, x, off, 'x');
    const Y = poisoned(gpu, off + n, 'y');
    softmax(gpu, { x: { buffer: X, shape: [rows, cols], offset: off }, y: { buffer: Y, shape: [rows, cols], offset: off }, scale: 0.37 });
    const y = await gpu.read(Y, n, off);
    const tol = softmaxTolerance(cols);
    expectClose(y, softmaxRef(x, rows, cols, 0.37), tol.fwd, 'forward');
    const dy = rng.floats(n);
    const DY = gpu.upload(dy, 'dy');
    const DX = poisoned(gpu, off + n, 'dx');
    softmaxBackward(gpu, { y: { buffer: Y, shape: [rows, cols], offset: off }, dy: { buffer: DY, shape: [rows, cols] }, dx: { buffer: DX, shape: [rows, cols], offset: off }, scale: 0.37 });
    expectClose(await gpu.read(DX, n, off), softmaxBackwardRef(y, dy, rows, cols, 0.37), tol.bwd, 'backward');
    for (const b of [X, Y, DY, DX]) gpu.release(b);
  });
}

// ---- layernorm forward and backward: the same rows, and many rows (dγ, dβ over workgroups) ----
for (const [rows, cols, off] of [[1, 1, 0], [5, 7, 3], [7, 33, 0], [2, 251, 3], [600, 13, 3]] as const) {
  add('layernorm', `[${rows}, ${cols}] offset ${off}`, async (gpu, rng) => {
    const n = rows * cols;
    const x = rng.floats(n, -2, 2);
    const gamma = rng.floats(cols, 0.5, 1.5);
    const beta = rng.floats(cols);
    const t = (buffer: GPUBuffer, shape: number[]) => ({ buffer, shape, offset: off });
    const [X, G, B] = [placed(gpu, x, off, 'x'), placed(gpu, gamma, off, 'gamma'), placed(gpu, beta, off, 'beta')];
    const [Y, Mn, R] = [poisoned(gpu, off + n, 'y'), poisoned(gpu, off + rows, 'mean'), poisoned(gpu, off + rows, 'rstd')];
    layernorm(gpu, { x: t(X, [rows, cols]), gamma: t(G, [cols]), beta: t(B, [cols]), y: t(Y, [rows, cols]), mean: t(Mn, [rows]), rstd: t(R, [rows]) });
    const ref = layernormRef(x, gamma, beta, rows, cols);
    const tol = layernormTolerance(rows, cols);
    const [y, mean, rstd] = [await gpu.read(Y, n, off), await gpu.read(Mn, rows, off), await gpu.read(R, rows, off)];
    expectClose(y, ref.y, tol.y, 'y');
    expectClose(mean, ref.mean, { atol: tol.stats.atol * 2, rtol: tol.stats.rtol }, 'mean'); // |x| ≤ 2, as the Node suite scales it
    expectClose(rstd, ref.rstd, tol.stats, 'rstd');
    const dy = rng.floats(n);
    const DY = placed(gpu, dy, off, 'dy');
    const [DX, DG, DB] = [poisoned(gpu, off + n, 'dx'), poisoned(gpu, off + cols, 'dgamma'), poisoned(gpu, off + cols, 'dbeta')];
    layernormBackward(gpu, { x: t(X, [rows, cols]), gamma: t(G, [cols]), mean: t(Mn, [rows]), rstd: t(R, [rows]), dy: t(DY, [rows, cols]), dx: t(DX, [rows, cols]), dgamma: t(DG, [cols]), dbeta: t(DB, [cols]) });
    const bref = layernormBackwardRef(x, gamma, mean, rstd, dy, rows, cols);
    const rmax = Math.max(...rstd);
    expectClose(await gpu.read(DX, n, off), bref.dx, { atol: tol.dx.atol * Math.max(1, rmax), rtol: tol.dx.rtol }, 'dx');
    expectClose(await gpu.read(DG, cols, off), bref.dgamma, tol.dparams, 'dgamma');
    expectClose(await gpu.read(DB, cols, off), bref.dbeta, tol.dparams, 'dbeta');
    for (const b of [X, G, B, Y, Mn, R, DY, DX, DG, DB]) gpu.release(b);
  });
}

// ---- attention forward and backward, both paths: Lq ≠ Lk, lengths 1 and primes, masks ---------
// Tolerances as test/kernels/attention.test.ts states them (largest error measured there 1e-6).
const ATT_FWD = { atol: 4e-6, rtol: 1e-5 };
const ATT_BWD = { atol: 8e-6, rtol: 1e-5 };
const ATTENTION: (AttentionDims & { padded?: boolean })[] = [
  { B: 2, H: 3, Lq: 1, Lk: 1, D: 32 },
  { B: 1, H: 2, Lq: 7, Lk: 13, D: 32, causal: true },
  { B: 2, H: 2, Lq: 19, Lk: 19, D: 32, causal: true, padded: true },
  { B: 1, H: 1, Lq: 5, Lk: 37, D: 64, scale: 0.3 },
  { B: 1, H: 3, Lq: 4, Lk: 6, D: 6, causal: true },
];
for (const c of ATTENTION) {
  for (const path of ['unfused', 'fused'] as const) {
    add('attention', `${path} B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D}${c.causal ? ' causal' : ''}${c.padded ? ' padded' : ''}`, async (gpu, rng) => {
      if (path === 'fused' && !attentionPathAvailable(gpu, 'fused', c.D)) {
        // Allowed only where the head dim is not a multiple of 4 or the subgroup size is not fixed.
        if (c.D % 4 === 0 && gpu.has('subgroups') && gpu.subgroupSize > 0 && gpu.subgroupSize <= 64) throw new Error('fused path unavailable on an adapter that should have it');
        return;
      }
      await attentionCase(gpu, rng, c, path);
    });
  }
}

/** [B, H, L, D] (the reference's order) ↔ [B, L, H, D] (the default layout of the launcher). */
function toBlhd(x: Float32Array, B: number, H: number, L: number, D: number, back = false): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < L; i++)
        for (let d = 0; d < D; d++) {
          const bhld = ((b * H + h) * L + i) * D + d;
          const blhd = ((b * L + i) * H + h) * D + d;
          if (back) out[bhld] = x[blhd]!;
          else out[blhd] = x[bhld]!;
        }
  return out;
}

async function attentionCase(gpu: Gpu, rng: Rng, c: AttentionDims & { padded?: boolean }, path: AttentionPath): Promise<void> {
  const { B, H, Lq, Lk, D } = c;
  const q = rng.floats(B * H * Lq * D, -3, 3);
  const k = rng.floats(B * H * Lk * D);
  const v = rng.floats(B * H * Lk * D);
  const dout = rng.floats(B * H * Lq * D);
  const keyMask = c.padded ? Uint32Array.from({ length: B * Lk }, () => (rng.next() < 0.7 ? 1 : 0)) : undefined;
  const up = (x: Float32Array, L: number, label: string) => gpu.upload(toBlhd(x, B, H, L, D), label);
  const [Q, K, V, dO] = [up(q, Lq, 'q'), up(k, Lk, 'k'), up(v, Lk, 'v'), up(dout, Lq, 'dO')];
  const [O, dQ, dK, dV] = [poisoned(gpu, B * Lq * H * D, 'O'), poisoned(gpu, B * Lq * H * D, 'dQ'), poisoned(gpu, B * Lk * H * D, 'dK'), poisoned(gpu, B * Lk * H * D, 'dV')];
  const Mask = keyMask ? gpu.upload(keyMask, 'keyMask') : undefined;
  const call = { B, H, Lq, Lk, D, q: { buffer: Q }, k: { buffer: K }, v: { buffer: V }, o: { buffer: O }, scale: c.scale, causal: c.causal, keyMask: Mask, path };
  const saved = attention(gpu, call);
  if (saved.path !== path) throw new Error(`ran the ${saved.path} path, not ${path}`);
  attentionBackward(gpu, call, saved, { dO: { buffer: dO }, dQ: { buffer: dQ }, dK: { buffer: dK }, dV: { buffer: dV } });
  const back = async (buf: GPUBuffer, L: number) => toBlhd(await gpu.read(buf, B * L * H * D), B, H, L, D, true);
  const [o, dq, dk, dv] = [await back(O, Lq), await back(dQ, Lq), await back(dK, Lk), await back(dV, Lk)];
  const lse = await gpu.read(saved.lse, B * H * Lq);
  releaseAttentionSaved(gpu, saved);
  for (const b of [Q, K, V, dO, O, dQ, dK, dV, Mask]) if (b) gpu.release(b);
  const d: AttentionDims = { ...c, keyMask };
  const want = attentionRef(q, k, v, d);
  const g = attentionBackwardRef(q, k, v, dout, d);
  expectClose(o, want.o, ATT_FWD, 'O');
  // lse is −∞ on fully masked rows: those exactly, the rest within the tolerance.
  const finite = [...want.lse.keys()].filter((i) => want.lse[i] !== -Infinity);
  for (const i of want.lse.keys()) if (want.lse[i] === -Infinity && lse[i] !== -Infinity) throw new Error(`lse[${i}] of a fully masked row is ${lse[i]}, not −∞`);
  expectClose(finite.map((i) => lse[i]!), finite.map((i) => want.lse[i]!), ATT_FWD, 'lse');
  expectClose(dq, g.dq, ATT_BWD, 'dQ');
  expectClose(dk, g.dk, ATT_BWD, 'dK');
  expectClose(dv, g.dv, ATT_BWD, 'dV');
}

// ---- cross-entropy: vocabularies of 1, primes and past a workgroup, ignored rows -------------
for (const [N, V] of [[1, 1], [5, 7], [9, 1031]] as const) {
  add('crossentropy', `N=${N} V=${V}`, async (gpu, rng) => {
    const logits = rng.floats(N * V, -3, 3);
    const targets = Array.from({ length: N }, (_, n) => (n % 4 === 3 ? IGNORE_INDEX : rng.int(V)));
    const gradScale = rng.uniform(0.5, 2);
    const upstream = rng.uniform(-2, 2);
    const L = gpu.upload(logits, 'logits');
    const T = uploadTokenIds(gpu, targets, { label: 'targets' });
    const dloss = gpu.upload(new Float32Array([upstream]), 'dloss');
    const [loss, rowLoss, stats, grad, dlogits] = [poisoned(gpu, 1, 'loss'), poisoned(gpu, N, 'rowLoss'), poisoned(gpu, 2 * N, 'stats'), poisoned(gpu, N * V, 'grad'), poisoned(gpu, N * V, 'dlogits')];
    const logitsRef = { buffer: L, shape: [N, V] };
    const { count } = crossEntropy(gpu, { logits: logitsRef, targets: T, ignoreIndex: IGNORE_INDEX, loss: { buffer: loss }, rowLoss: { buffer: rowLoss, shape: [N] }, stats: { buffer: stats, shape: [N, 2] }, grad: { buffer: grad, shape: [N, V] }, gradScale });
    crossEntropyBackward(gpu, { logits: logitsRef, targets: T, ignoreIndex: IGNORE_INDEX, stats: { buffer: stats, shape: [N, 2] }, dlogits: { buffer: dlogits, shape: [N, V] }, dloss, gradScale });
    const ref = crossEntropyRef(logits, targets, V, IGNORE_INDEX);
    if (count !== ref.count) throw new Error(`counted ${count} rows, ${ref.count} expected`);
    // Tolerances as test/kernels/crossentropy.test.ts states them.
    const LOSS = { atol: 1e-5, rtol: 1e-5 };
    const gradTol = (s: number) => ({ atol: 1e-6 * Math.abs(s), rtol: 1e-4 });
    const g = ref.count ? gradScale / ref.count : 0;
    expectClose(await gpu.read(rowLoss, N), ref.rowLoss, LOSS, 'rowLoss');
    expectClose(await gpu.read(loss, 1), [ref.loss], LOSS, 'mean loss');
    expectClose(await gpu.read(grad, N * V), crossEntropyBackwardRef(logits, targets, V, IGNORE_INDEX, gradScale), gradTol(g), 'fused grad');
    expectClose(await gpu.read(dlogits, N * V), crossEntropyBackwardRef(logits, targets, V, IGNORE_INDEX, gradScale * upstream), gradTol(g * upstream), 'backward');
    releaseTokenIds(gpu, T);
    for (const b of [L, dloss, loss, rowLoss, stats, grad, dlogits]) gpu.release(b);
  });
}

// ---- AdamW: 3 steps over a flat buffer with decay flags and an untouched gap -----------------
add('adamw', '3 steps, N=1031, decay flags, a gap', async (gpu, rng) => {
  const N = 1031;
  const hyper: AdamWHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 };
  const segments: AdamWSegment[] = [
    { offset: 0, length: 300, decay: true },
    { offset: 300, length: 1, decay: false },
    { offset: 301, length: 349, decay: true },
    { offset: 700, length: 331, decay: false },
  ];
  const p0 = rng.floats(N);
  const ref: AdamWRefState = { param: Float64Array.from(p0), m: new Float64Array(N), v: new Float64Array(N) };
  const [P, G, M, V] = [gpu.upload(p0, 'params'), gpu.alloc(N, 'grads'), gpu.upload(new Float32Array(N), 'm'), gpu.upload(new Float32Array(N), 'v')];
  for (let step = 1; step <= 3; step++) {
    const g = rng.floats(N).map((x, i) => x * (i % 7 === 0 ? 1e-3 : 1));
    gpu.write(G, g);
    adamw(gpu, { params: P, grads: G, m: M, v: V, segments, step, hyper });
    adamwRef(ref, g, segments, step, hyper);
  }
  // As test/kernels/adamw.test.ts: 1e-6 relative, an absolute floor of 1e-7 near 0.
  const TOL = { atol: 1e-7, rtol: 1e-6 };
  const got = await gpu.read(P, N);
  expectClose(got, ref.param, TOL, 'params');
  expectClose(await gpu.read(M, N), ref.m, TOL, 'm');
  expectClose(await gpu.read(V, N), ref.v, TOL, 'v');
  for (let i = 650; i < 700; i++) if (got[i] !== p0[i]) throw new Error(`the gap changed at ${i}`);
  for (const b of [P, G, M, V]) gpu.release(b);
});

export const FAMILIES = [...new Set(cases.map((c) => c.family))];

/** Opens the tab's device and runs the cases; never throws for a case, only for the device. */
export async function runSuite(o: SuiteOptions): Promise<SuiteReport> {
  configureBrowserHost({ shaders: o.shaders ?? new URL('./shaders/', import.meta.url).href });
  const gpu = await Gpu.open();
  const results: CaseResult[] = [];
  let salt = 0;
  for (const c of cases) {
    salt++;
    if (o.only && !o.only.includes(c.family)) continue;
    const t = performance.now();
    try {
      await c.run(gpu, new Rng((o.seed + salt) >>> 0));
      results.push({ family: c.family, name: c.name, ok: true, ms: performance.now() - t });
    } catch (e) {
      // A GPU error (a shader that does not compile) stays on the device and fails the cases
      // after it as well, each naming it; a wrong value fails its own case only.
      results.push({ family: c.family, name: c.name, ok: false, ms: performance.now() - t, error: e instanceof Error ? e.message : String(e) });
    }
  }
  const a = gpu.adapter;
  const report = {
    adapter: { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, software: gpu.software, subgroupSize: gpu.subgroupSize, features: a.features },
    seed: o.seed,
    results,
  };
  gpu.destroy();
  return report;
}

(globalThis as { cocaKernelSuite?: unknown }).cocaKernelSuite = { runSuite, FAMILIES };
