// The batch norm family against its float64 reference, in training (batch statistics, running
// statistics updated in place) and inference (running statistics): [B, C] features and
// [B, C, H, W] maps at 1, primes, channel counts past one row of workgroups and planes past one
// workgroup's elements; each channel
// holding fewer elements than a workgroup's invocations and many more; |x| offset far from 0
// (the two-pass variance); every operand at an odd offset with NaN around it; outputs poisoned;
// dx accumulated; determinism.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { batchnorm, batchnormBackward } from '../../kernels/batchnorm.ts';
import { batchnormBackwardRef, batchnormRef, batchnormTolerance } from '../../kernels/batchnorm.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

interface Case {
  shape: number[];
  training: boolean;
  off?: number;
  /** x drawn from [shift − 2, shift + 2]. */
  shift?: number;
  accumulate?: boolean;
  /** Training without running statistics to update. */
  noRunning?: boolean;
}

async function runCase(c: Case, salt: number): Promise<Float32Array[]> {
  const rng = testRng(salt);
  const [B, C] = c.shape as [number, number];
  const S = c.shape.slice(2).reduce((a, b) => a * b, 1);
  const total = B * C * S;
  const shift = c.shift ?? 0;
  const what = `batchnorm ${c.training ? 'training' : 'inference'} [${c.shape.join(', ')}] offset ${c.off ?? 0}${shift ? ` x around ${shift}` : ''}`;
  const x = rng.floats(total, shift - 2, shift + 2);
  const gamma = rng.floats(C, 0.5, 1.5);
  const beta = rng.floats(C);
  const rm0 = rng.floats(C);
  const rv0 = rng.floats(C, 0.5, 2);
  const dy = rng.floats(total);
  const o = (k: number) => (c.off ? c.off + k : 0);
  const t = (buffer: GPUBuffer, shape: number[], k: number) => ({ buffer, shape, offset: o(k) });
  const X = placed(gpu, x, o(0), 'x');
  const G = placed(gpu, gamma, o(1), 'gamma');
  const Be = placed(gpu, beta, o(2), 'beta');
  const RM = placed(gpu, rm0, o(3), 'running_mean');
  const RV = placed(gpu, rv0, o(4), 'running_var');
  const Y = poisoned(gpu, o(5) + total, 'y');
  const M = poisoned(gpu, o(6) + C, 'mean');
  const R = poisoned(gpu, o(7) + C, 'rstd');
  const running = c.noRunning ? {} : { runningMean: t(RM, [C], 3), runningVar: t(RV, [C], 4) };
  batchnorm(gpu, { x: t(X, c.shape, 0), gamma: t(G, [C], 1), beta: t(Be, [C], 2), y: t(Y, c.shape, 5), mean: t(M, [C], 6), rstd: t(R, [C], 7), training: c.training, ...running });
  const ref = batchnormRef(x, gamma, beta, B, C, S, { training: c.training, runningMean: rm0, runningVar: rv0 });
  const tol = batchnormTolerance(B * S);
  // x near `shift` carries float32's rounding of |shift| into the mean (≈ |shift|·2⁻²³ per
  // rounding), and dx inherits it; a one-pass variance would be off by ~shift²·2⁻²⁴ instead.
  const far = 4 * Math.abs(shift) * 2 ** -23;
  tol.dx.atol += far;
  const [y, mean, rstd] = [await gpu.read(Y, total, o(5)), await gpu.read(M, C, o(6)), await gpu.read(R, C, o(7))];
  expectClose(mean, ref.mean, { atol: tol.stats.atol * (1 + Math.abs(shift)), rtol: tol.stats.rtol }, `${what}: mean`);
  // y from the kernel's own mean, as the backward below is checked from its saved statistics:
  // x − mean is exact near the shift (Sterbenz), so y carries the float32 mean's error times
  // rstd·γ, which is the mean check's business (above); y itself is held to its own rounding.
  // Against the float64 mean with a fixed allowance of 4 ulps of |shift| it failed by chance: over
  // 20,000 seeds of the shift-300 case, 51 had a channel whose 126-term float32 sum put the mean
  // more than 4 ulps of 300 off (worst 1.38× the allowance); from the kernel's mean, none.
  const yWant = ref.y.map((v, i) => {
    const ch = Math.floor(i / S) % C;
    return v + (ref.mean[ch]! - mean[ch]!) * ref.rstd[ch]! * gamma[ch]!;
  });
  expectClose(y, yWant, tol.y, `${what}: y`);
  expectClose(rstd, ref.rstd, tol.stats, `${what}: rstd`);
  const [rm, rv] = [await gpu.read(RM, C, o(3)), await gpu.read(RV, C, o(4))];
  if (c.training && !c.noRunning) {
    expectClose(rm, ref.runningMean, { atol: tol.stats.atol * (1 + Math.abs(shift)), rtol: tol.stats.rtol }, `${what}: running mean`);
    expectClose(rv, ref.runningVar, tol.stats, `${what}: running var`);
  } else {
    expect([...rm], `${what}: running mean left alone`).toEqual([...rm0]);
    expect([...rv], `${what}: running var left alone`).toEqual([...rv0]);
  }

  const DY = placed(gpu, dy, o(8), 'dy');
  const DX = poisoned(gpu, o(9) + total, 'dx');
  const dx0 = c.accumulate ? rng.floats(total) : null;
  if (dx0) gpu.write(DX, dx0, o(9) * 4);
  const DG = poisoned(gpu, o(10) + C, 'dgamma');
  const DB = poisoned(gpu, o(11) + C, 'dbeta');
  batchnormBackward(gpu, {
    x: t(X, c.shape, 0),
    gamma: t(G, [C], 1),
    mean: t(M, [C], 6),
    rstd: t(R, [C], 7),
    dy: t(DY, c.shape, 8),
    training: c.training,
    dx: t(DX, c.shape, 9),
    accumulateDx: c.accumulate,
    dgamma: t(DG, [C], 10),
    dbeta: t(DB, [C], 11),
  });
  // From the kernel's own saved statistics, as training would use them.
  const bref = batchnormBackwardRef(x, gamma, mean, rstd, dy, B, C, S, c.training);
  if (dx0) bref.dx = bref.dx.map((v, i) => v + dx0[i]!);
  const [dx, dg, db] = [await gpu.read(DX, total, o(9)), await gpu.read(DG, C, o(10)), await gpu.read(DB, C, o(11))];
  const rmax = Math.max(...rstd);
  expectClose(dx, bref.dx, { atol: tol.dx.atol * Math.max(1, rmax), rtol: tol.dx.rtol }, `${what}: dx`);
  expectClose(dg, bref.dgamma, tol.dparams, `${what}: dgamma`);
  expectClose(db, bref.dbeta, tol.dparams, `${what}: dbeta`);
  for (const b of [X, G, Be, RM, RV, Y, M, R, DY, DX, DG, DB]) gpu.release(b);
  return [y, mean, rstd, rm, rv, dx, dg, db];
}

describe('batchnorm', () => {
  it('matches float64 in training at awkward shapes', async () => {
    const cases: Case[] = [
      { shape: [2, 1], training: true },
      { shape: [3, 7], training: true, off: 3 },
      { shape: [1, 3, 1, 2], training: true, off: 1 },
      { shape: [5, 67, 3, 1], training: true },
      { shape: [4, 3, 13, 11], training: true, off: 5 },
      { shape: [2, 5, 17], training: true, noRunning: true },
      // Planes longer than one workgroup's 64·16 elements.
      { shape: [2, 3, 37, 41], training: true, off: 1 },
    ];
    let salt = 0;
    for (const c of cases) await runCase(c, salt++);
  });

  it('matches float64 in inference (running statistics read, left alone)', async () => {
    await runCase({ shape: [1, 1], training: false }, 10);
    await runCase({ shape: [3, 7, 5, 2], training: false, off: 3 }, 11);
    await runCase({ shape: [2, 67], training: false, off: 1 }, 12);
  });

  it('is stable with x far from 0, and adds dx to what it holds when asked', async () => {
    await runCase({ shape: [6, 5, 7, 3], training: true, shift: 300 }, 20);
    await runCase({ shape: [3, 4, 5], training: true, accumulate: true, off: 2 }, 21);
    await runCase({ shape: [3, 4, 5], training: false, accumulate: true }, 22);
  });

  it('gives the same bits twice', async () => {
    const a = await runCase({ shape: [8, 3, 9, 9], training: true }, 30);
    const b = await runCase({ shape: [8, 3, 9, 9], training: true }, 30);
    for (let i = 0; i < a.length; i++) expect(Buffer.from(a[i]!.buffer).equals(Buffer.from(b[i]!.buffer)), `output ${i}`).toBe(true);
  });
});

describe('batchnorm bad input', () => {
  it('names what does not fit', () => {
    const b = Array.from({ length: 7 }, (_, i) => gpu.alloc(256, `b${i}`));
    const t = (i: number, shape: number[]) => ({ buffer: b[i]!, shape });
    const call = { x: t(0, [4, 3, 2, 2]), gamma: t(1, [3]), beta: t(2, [3]), y: t(3, [4, 3, 2, 2]), mean: t(4, [3]), rstd: t(5, [3]) };
    expect(() => batchnorm(gpu, { ...call, gamma: t(1, [4]), training: true })).toThrow(/gamma \[4\] should be \[3\]/);
    expect(() => batchnorm(gpu, { ...call, training: false })).toThrow(/inference needs runningMean and runningVar/);
    expect(() => batchnorm(gpu, { ...call, x: t(0, [1, 3]), y: t(3, [1, 3]), training: true })).toThrow(/has 1 value per channel; training statistics need more than 1/);
    expect(() => batchnorm(gpu, { ...call, y: t(0, [4, 3, 2, 2]), training: true })).toThrow(/y must not share a buffer with x/);
    expect(() => batchnorm(gpu, { ...call, runningMean: t(6, [3]), training: true })).toThrow(/give runningMean and runningVar together/);
    for (const x of b) gpu.release(x);
  });
});
