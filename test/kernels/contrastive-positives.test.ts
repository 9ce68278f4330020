// The contrastive family with groups (multi-positive InfoNCE, `coca train --contrastive-positives
// concept`) against its float64 reference: batches of 1, primes and one past the backward's chunk of
// 256 columns; groups of one, of all rows, and mixed sizes with ids that are not dense; inputs at
// offsets inside NaN-filled buffers; every output poisoned. The reference is held to the loss's
// definition written out here (each positive's −log softmax, averaged) and to finite differences.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { contrastive } from '../../kernels/contrastive.ts';
import { contrastiveLoss } from '../../kernels/contrastive.ref.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { expectClose } from '../helpers/close.ts';
import { expectGradRows, LOSS_TOL, logScaleTol } from '../helpers/contrastive-tol.ts';
import { numericGrad } from '../helpers/finite-diff.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';
import type { Rng } from '../../src/util/prng.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const MAX = Math.log(100);
// The tolerances of test/kernels/contrastive.test.ts (test/helpers/contrastive-tol.ts): a target
// of δ where a group was meant is off by O(1/B).

/** Embeddings with a shared component, so the similarities are spread and not all near 0. */
function embeddings(rng: Rng, B: number, E: number): Float32Array {
  const common = Float32Array.from({ length: E }, () => rng.normal());
  return Float32Array.from({ length: B * E }, (_, k) => 0.6 * common[k % E]! + rng.normal() * (1 + (k % 3)));
}

type Grouping = 'mixed' | 'singletons' | 'one';

/** Ids spread over ~B/3 groups (sparse, negative and large ids included), one per row, or one for all. */
function drawGroups(rng: Rng, B: number, g: Grouping): number[] {
  if (g === 'singletons') return Array.from({ length: B }, (_, i) => 1000 - 7 * i);
  if (g === 'one') return new Array<number>(B).fill(-3);
  const ids = [5, -2, 40_000, 17, 0, 9, 123_456];
  const k = Math.max(1, Math.min(ids.length, Math.round(B / 3)));
  return Array.from({ length: B }, () => ids[rng.int(k)]!);
}

interface Case {
  B: number;
  E: number;
  logScale: number;
  grouping: Grouping;
  weight?: number;
}

async function runCase(c: Case, salt: number): Promise<void> {
  const { B, E } = c;
  const rng = testRng(salt);
  const img = embeddings(rng, B, E);
  const txt = embeddings(rng, B, E);
  const groups = drawGroups(rng, B, c.grouping);
  const weight = c.weight ?? 1;
  const what = `B=${B} E=${E} ${c.grouping} groups, log-scale ${c.logScale}`;
  const clamped = Math.min(Math.max(c.logScale, 0), MAX);
  const want = contrastiveLoss(img, txt, clamped, B, E, weight, groups);

  const [oi, ot, os] = [2, 7, 1];
  const I = placed(gpu, img, oi, 'img');
  const T = placed(gpu, txt, ot, 'txt');
  const S = placed(gpu, new Float32Array([c.logScale]), os, 'log-scale');
  const out = poisoned(gpu, 3, 'out');
  const dI = poisoned(gpu, B * E + 2, 'dimg');
  const dT = poisoned(gpu, B * E + 1, 'dtxt');
  const gS = poisoned(gpu, 3, 'gscale');
  contrastive(gpu, {
    image: { buffer: I, shape: [B, E], offset: oi },
    text: { buffer: T, shape: [B, E], offset: ot },
    logScale: { buffer: S, offset: os },
    maxLogScale: MAX,
    out: { buffer: out, offset: 1 },
    grads: { image: { buffer: dI, shape: [B, E], offset: 2 }, text: { buffer: dT, shape: [B, E], offset: 1 }, logScale: { buffer: gS, offset: 2 }, weight },
    clampParam: true,
    groups,
  });
  const o = await gpu.read(out, 3);
  expect(Number.isNaN(o[0]!), `${what}: out[0] is left alone`).toBe(true);
  expectClose([o[1]!], [want.loss], LOSS_TOL, `${what}: loss`);
  expect(o[2], `${what}: clamped log-scale`).toBeCloseTo(clamped, 6);
  const scale = Math.exp(clamped);
  expectGradRows(await gpu.read(dI, B * E, 2), want.dImage, img, B, E, scale, weight, `${what}: d image`);
  expectGradRows(await gpu.read(dT, B * E, 1), want.dText, txt, B, E, scale, weight, `${what}: d text`);
  expectClose([(await gpu.read(gS, 1, 2))[0]!], [want.dLogitScale], logScaleTol(scale, weight), `${what}: d log-scale`);
  expect((await gpu.read(S, 1, os))[0], `${what}: the parameter is clamped`).toBe(Math.fround(clamped));
  for (const b of [I, T, S, out, dI, dT, gS]) gpu.release(b);
}

describe('contrastive loss with groups of positives (GPU) against the float64 reference', () => {
  it.each([
    [1, 1, 1.0, 'one'],
    [2, 3, 0.5, 'one'],
    [7, 13, Math.log(1 / 0.07), 'mixed'],
    [31, 67, 2.2, 'mixed'],
    [37, 130, 3.9, 'mixed'],
    [11, 5, 6.0, 'one'], // the log-scale clamped at ln 100
    [13, 9, 2.6, 'singletons'],
    [257, 5, 1.1, 'mixed'], // past one chunk of the backward's column loop (256)
  ] as const)('B=%i E=%i at log-scale %f, %s groups: forward and backward', async (B, E, s, grouping) => {
    await runCase({ B, E, logScale: s, grouping, weight: 0.7 }, B * 1000 + E + 17);
  });

  it('groups of one give the one-positive kernel: the same gradients to the bit, the loss to rounding', async () => {
    const [B, E] = [19, 23];
    const rng = testRng(77);
    const img = embeddings(rng, B, E);
    const txt = embeddings(rng, B, E);
    const I = gpu.upload(img, 'img');
    const T = gpu.upload(txt, 'txt');
    const run = async (groups?: number[]) => {
      const S = gpu.upload(new Float32Array([2.9]), 'log-scale');
      const [out, dI, dT, gS] = [poisoned(gpu, 2, 'out'), poisoned(gpu, B * E, 'dimg'), poisoned(gpu, B * E, 'dtxt'), poisoned(gpu, 1, 'gscale')];
      contrastive(gpu, {
        image: { buffer: I, shape: [B, E] },
        text: { buffer: T, shape: [B, E] },
        logScale: { buffer: S },
        maxLogScale: MAX,
        out: { buffer: out },
        grads: { image: { buffer: dI, shape: [B, E] }, text: { buffer: dT, shape: [B, E] }, logScale: { buffer: gS }, weight: 1 },
        groups,
      });
      const r = { out: await gpu.read(out, 2), dI: await gpu.read(dI, B * E), dT: await gpu.read(dT, B * E), gS: await gpu.read(gS, 1) };
      for (const b of [S, out, dI, dT, gS]) gpu.release(b);
      return r;
    };
    const plain = await run();
    const grouped = await run(Array.from({ length: B }, (_, i) => 3 * i + 1));
    expect([...grouped.dI]).toEqual([...plain.dI]);
    expect([...grouped.dT]).toEqual([...plain.dT]);
    expect([...grouped.gS]).toEqual([...plain.gS]);
    expectClose([grouped.out[0]!], [plain.out[0]!], LOSS_TOL, 'loss');
    expect(grouped.out[1]).toBe(plain.out[1]);
    for (const b of [I, T]) gpu.release(b);
  });

  it('forward only (validation-style call) gives the grouped loss and touches no gradient', async () => {
    const [B, E] = [10, 6];
    const rng = testRng(5);
    const img = embeddings(rng, B, E);
    const txt = embeddings(rng, B, E);
    const groups = [0, 1, 0, 2, 1, 0, 3, 3, 4, 2];
    const I = gpu.upload(img, 'img');
    const T = gpu.upload(txt, 'txt');
    const S = gpu.upload(new Float32Array([1.7]), 'log-scale');
    const out = poisoned(gpu, 2, 'out');
    contrastive(gpu, { image: { buffer: I, shape: [B, E] }, text: { buffer: T, shape: [B, E] }, logScale: { buffer: S }, maxLogScale: MAX, out: { buffer: out }, groups });
    const o = await gpu.read(out, 2);
    expectClose([o[0]!], [contrastiveLoss(img, txt, 1.7, B, E, 1, groups).loss], LOSS_TOL, 'loss');
    expect(o[0]).not.toBeCloseTo(contrastiveLoss(img, txt, 1.7, B, E).loss, 3);
    for (const b of [I, T, S, out]) gpu.release(b);
  });

  it('refuses group ids that do not fit the batch, in one line, before dispatching', () => {
    const [I, T, S, out] = [gpu.alloc(12, 'image'), gpu.alloc(12, 'text'), gpu.alloc(1, 's'), gpu.alloc(2, 'out')];
    const call = (groups: number[]) => () =>
      contrastive(gpu, { image: { buffer: I, shape: [4, 3] }, text: { buffer: T, shape: [4, 3] }, logScale: { buffer: S }, maxLogScale: MAX, out: { buffer: out }, groups });
    const before = gpu.counters.dispatches;
    expect(call([0, 1, 2])).toThrow(new ShapeError('contrastive: 3 group ids for a batch of 4; give one per row'));
    expect(call([0, 1, 2.5, 3])).toThrow(/group id 2.5 of row 2 is not an integer/);
    expect(gpu.counters.dispatches).toBe(before);
    for (const x of [I, T, S, out]) gpu.release(x);
  });
});

describe('the grouped float64 reference', () => {
  /** The loss as SupCon/UniCL write it: for each row and each column, the mean over its positives of −log softmax. */
  function definition(img: Float64Array, txt: Float64Array, s: number, B: number, E: number, groups: readonly number[]): number {
    const unit = (x: Float64Array, i: number) => {
      const v = x.subarray(i * E, (i + 1) * E);
      const n = Math.max(Math.hypot(...v), 1e-12);
      return Array.from(v, (a) => a / n);
    };
    const sim = (i: number, j: number) => {
      const a = unit(img, i);
      const t = unit(txt, j);
      return Math.exp(s) * a.reduce((acc, x, e) => acc + x * t[e]!, 0);
    };
    let total = 0;
    for (const rowWise of [true, false]) {
      for (let i = 0; i < B; i++) {
        const l = Array.from({ length: B }, (_, j) => (rowWise ? sim(i, j) : sim(j, i)));
        const logZ = Math.log(l.reduce((acc, x) => acc + Math.exp(x), 0));
        const pos = l.map((x, j) => [x, j] as const).filter(([, j]) => groups[j] === groups[i]);
        total += pos.reduce((acc, [x]) => acc + (logZ - x), 0) / pos.length;
      }
    }
    return total / (2 * B);
  }

  it('is the multi-positive loss as defined, in both directions', () => {
    const rng = testRng(3);
    const [B, E] = [6, 4];
    const img = Float64Array.from({ length: B * E }, () => rng.normal());
    const txt = Float64Array.from({ length: B * E }, () => rng.normal());
    for (const groups of [[0, 0, 1, 2, 1, 0], [4, 4, 4, 4, 4, 4], [0, 1, 2, 3, 4, 5]]) {
      expect(contrastiveLoss(img, txt, 1.3, B, E, 1, groups).loss).toBeCloseTo(definition(img, txt, 1.3, B, E, groups), 12);
    }
  });

  it('its gradients are those of its loss (central finite differences)', () => {
    const rng = testRng(4);
    const [B, E] = [5, 3];
    const groups = [7, 2, 7, 7, 2];
    const img = Float64Array.from({ length: B * E }, () => rng.normal());
    const txt = Float64Array.from({ length: B * E }, () => rng.normal());
    const weight = 1.6;
    const s = 1.9;
    const r = contrastiveLoss(img, txt, s, B, E, weight, groups);
    const lossOf = (i: Float64Array, t: Float64Array, ls: number) => Float64Array.of(weight * contrastiveLoss(i, t, ls, B, E, 1, groups).loss);
    const one = Float64Array.of(1);
    const tol = { atol: 1e-7, rtol: 1e-6 };
    expectClose(r.dImage, numericGrad((x) => lossOf(x, txt, s), Float64Array.from(img), one), tol, 'd image');
    expectClose(r.dText, numericGrad((x) => lossOf(img, x, s), Float64Array.from(txt), one), tol, 'd text');
    expectClose([r.dLogitScale], numericGrad((x) => lossOf(img, txt, x[0]!), Float64Array.of(s), one), tol, 'd log-scale');
  });
});
