// The contrastive family against its float64 reference: batches of 1, primes and one past a
// workgroup's chunk of columns, widths of 1, primes and past the workgroup size; the log-scale
// inside its range and clamped at both ends (and written back only when asked); inputs at
// offsets inside NaN-filled buffers; every output poisoned with NaN first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { contrastive } from '../../kernels/contrastive.ts';
import { contrastiveLoss } from '../../kernels/contrastive.ref.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { expectClose } from '../helpers/close.ts';
import { expectGradRows, LOSS_TOL, logScaleTol } from '../helpers/contrastive-tol.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const MAX = Math.log(100);
interface Case {
  B: number;
  E: number;
  logScale: number;
  clampParam?: boolean;
  weight?: number;
}

async function runCase(c: Case, salt: number): Promise<void> {
  const { B, E } = c;
  const rng = testRng(salt);
  const what = `B=${B} E=${E} log-scale ${c.logScale}`;
  // Embeddings with a shared component, so the similarities are spread and not all near 0.
  const common = Float32Array.from({ length: E }, () => rng.normal());
  const draw = () => Float32Array.from({ length: B * E }, (_, k) => 0.6 * common[k % E]! + rng.normal() * (1 + (k % 3)));
  const img = draw();
  const txt = draw();
  const weight = c.weight ?? 1;
  const want = contrastiveLoss(img, txt, Math.min(Math.max(c.logScale, 0), MAX), B, E, weight);

  const [oi, ot, os] = [3, 5, 2];
  const I = placed(gpu, img, oi, 'img');
  const T = placed(gpu, txt, ot, 'txt');
  const S = placed(gpu, new Float32Array([c.logScale]), os, 'log-scale');
  const out = poisoned(gpu, 3, 'out');
  const dI = poisoned(gpu, B * E + 1, 'dimg');
  const dT = poisoned(gpu, B * E + 2, 'dtxt');
  const gS = poisoned(gpu, 4, 'gscale');
  contrastive(gpu, {
    image: { buffer: I, shape: [B, E], offset: oi },
    text: { buffer: T, shape: [B, E], offset: ot },
    logScale: { buffer: S, offset: os },
    maxLogScale: MAX,
    out: { buffer: out, offset: 1 },
    grads: { image: { buffer: dI, shape: [B, E], offset: 1 }, text: { buffer: dT, shape: [B, E], offset: 2 }, logScale: { buffer: gS, offset: 3 }, weight },
    clampParam: c.clampParam,
  });
  const o = await gpu.read(out, 3);
  expect(Number.isNaN(o[0]!), `${what}: out[0] is left alone`).toBe(true);
  expectClose([o[1]!], [want.loss], LOSS_TOL, `${what}: loss`);
  expect(o[2], `${what}: clamped log-scale`).toBeCloseTo(Math.min(Math.max(c.logScale, 0), MAX), 6);
  const scale = Math.exp(Math.min(Math.max(c.logScale, 0), MAX));
  expectGradRows(await gpu.read(dI, B * E, 1), want.dImage, img, B, E, scale, weight, `${what}: d image`);
  expectGradRows(await gpu.read(dT, B * E, 2), want.dText, txt, B, E, scale, weight, `${what}: d text`);
  expectClose([(await gpu.read(gS, 1, 3))[0]!], [want.dLogitScale], logScaleTol(scale, weight), `${what}: d log-scale`);
  const stored = (await gpu.read(S, 1, os))[0]!;
  const clamped = Math.fround(Math.min(Math.max(c.logScale, 0), MAX));
  expect(stored, `${what}: the parameter ${c.clampParam ? 'is clamped' : 'is left alone'}`).toBe(c.clampParam ? clamped : Math.fround(c.logScale));
  for (const b of [I, T, S, out, dI, dT, gS]) gpu.release(b);
}

describe('contrastive loss (GPU) against the float64 reference', () => {
  it.each([
    [1, 1, 1.0],
    [1, 7, Math.log(1 / 0.07)],
    [2, 3, 0.5],
    [7, 13, Math.log(1 / 0.07)],
    [31, 67, 2.2],
    [37, 130, 3.9],
    [257, 5, 1.1], // past one chunk of the backward's column loop (256)
  ])('B=%i E=%i at log-scale %f, forward and backward', async (B, E, s) => {
    await runCase({ B, E, logScale: s, weight: 0.7 }, B * 1000 + E);
  });

  it('clamps the log-scale at both ends, and writes the clamp back only when asked', async () => {
    await runCase({ B: 5, E: 11, logScale: 5.3 }, 1);
    await runCase({ B: 5, E: 11, logScale: 5.3, clampParam: true }, 2);
    await runCase({ B: 3, E: 4, logScale: -0.4, clampParam: true }, 3);
    await runCase({ B: 3, E: 4, logScale: MAX, clampParam: true }, 4);
  });

  it('forward only writes the loss and the clamped scale, and touches no gradient', async () => {
    const [B, E] = [6, 9];
    const rng = testRng(9);
    const img = Float32Array.from({ length: B * E }, () => rng.normal());
    const txt = Float32Array.from({ length: B * E }, () => rng.normal());
    const I = gpu.upload(img, 'img');
    const T = gpu.upload(txt, 'txt');
    const S = gpu.upload(new Float32Array([6]), 'log-scale');
    const out = poisoned(gpu, 2, 'out');
    contrastive(gpu, { image: { buffer: I, shape: [B, E] }, text: { buffer: T, shape: [B, E] }, logScale: { buffer: S }, maxLogScale: MAX, out: { buffer: out } });
    const o = await gpu.read(out, 2);
    expectClose([o[0]!], [contrastiveLoss(img, txt, MAX, B, E).loss], LOSS_TOL, 'loss');
    expect(o[1]).toBeCloseTo(MAX, 6);
    expect((await gpu.read(S, 1))[0]).toBe(6);
    for (const b of [I, T, S, out]) gpu.release(b);
  });

  it('refuses shapes that do not fit, in one line', () => {
    const b = gpu.alloc(64, 'x');
    const o = gpu.alloc(2, 'out');
    const s = gpu.alloc(1, 's');
    expect(() => contrastive(gpu, { image: { buffer: b, shape: [4, 8] }, text: { buffer: b, shape: [4, 7] }, logScale: { buffer: s }, maxLogScale: MAX, out: { buffer: o } })).toThrow(ShapeError);
    expect(() => contrastive(gpu, { image: { buffer: b, shape: [4, 8] }, text: { buffer: b, shape: [4, 8] }, logScale: { buffer: s }, maxLogScale: MAX, out: { buffer: b } })).toThrow(/must not share a buffer/);
    for (const x of [b, o, s]) gpu.release(x);
  });

  it('refuses a batch whose B×B similarities would not fit one storage binding, before dispatching', () => {
    const B = Math.ceil(Math.sqrt(gpu.limits.maxStorageBufferBindingSize / 4)) + 1;
    const [I, T, S, out] = [gpu.alloc(B, 'image'), gpu.alloc(B, 'text'), gpu.alloc(1, 's'), gpu.alloc(2, 'out')];
    const before = gpu.counters.dispatches;
    expect(() => contrastive(gpu, { image: { buffer: I, shape: [B, 1] }, text: { buffer: T, shape: [B, 1] }, logScale: { buffer: S }, maxLogScale: MAX, out: { buffer: out } })).toThrow(new RegExp(`a batch of ${B} needs .* MiB of scratch .* storage-binding limit`));
    expect(gpu.counters.dispatches).toBe(before);
    for (const x of [I, T, S, out]) gpu.release(x);
  });
});
