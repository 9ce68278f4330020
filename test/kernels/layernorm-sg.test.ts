// layernorm's forward and backward as one subgroup per workgroup (layernorm_sg.wgsl, the default
// where the subgroup size is fixed and divides the row's 16 invocations) give the bits of the
// barrier kernels (COCA_LN_SG=0): y, mean, 1/σ, dx (written and accumulated), dγ and dβ, at row
// lengths that take one to
// four vec4s an invocation and scalar loads (not a multiple of 4), with workgroups of several
// rows, inputs at offsets, outputs poisoned. (layernorm.test.ts holds both against float64.)
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layernorm, layernormBackward, layernormSubgroups } from '../../kernels/layernorm.ts';
import { kernelKeys } from '../helpers/dispatches.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());
afterEach(() => {
  delete process.env.COCA_LN_SG;
});

async function run(rows: number, cols: number, off: number, accumulate: boolean, sg: boolean, salt: number) {
  process.env.COCA_LN_SG = sg ? '1' : '0';
  const rng = testRng(salt);
  const x = placed(gpu, rng.floats(rows * cols), off, 'x');
  const dy = placed(gpu, rng.floats(rows * cols), off, 'dy');
  const gamma = gpu.upload(rng.floats(cols), 'gamma');
  const beta = gpu.upload(rng.floats(cols), 'beta');
  const y = poisoned(gpu, rows * cols, 'y');
  const mean = poisoned(gpu, rows, 'mean');
  const rstd = poisoned(gpu, rows, 'rstd');
  const dx = accumulate ? gpu.upload(rng.floats(rows * cols), 'dx') : poisoned(gpu, rows * cols, 'dx');
  const dg = poisoned(gpu, cols, 'dgamma');
  const db = poisoned(gpu, cols, 'dbeta');
  const t = (buffer: GPUBuffer, shape: number[], offset = 0) => ({ buffer, shape, offset });
  const entries = kernelKeys(gpu, () => {
    layernorm(gpu, { x: t(x, [rows, cols], off), gamma: t(gamma, [cols]), beta: t(beta, [cols]), y: t(y, [rows, cols]), mean: t(mean, [rows]), rstd: t(rstd, [rows]) });
    layernormBackward(gpu, { x: t(x, [rows, cols], off), gamma: t(gamma, [cols]), mean: t(mean, [rows]), rstd: t(rstd, [rows]), dy: t(dy, [rows, cols], off), dx: t(dx, [rows, cols]), accumulateDx: accumulate, dgamma: t(dg, [cols]), dbeta: t(db, [cols]) });
  });
  const out = [await gpu.read(y), await gpu.read(mean), await gpu.read(rstd), await gpu.read(dx), await gpu.read(dg), await gpu.read(db)];
  for (const b of [x, dy, gamma, beta, y, mean, rstd, dx, dg, db]) gpu.release(b);
  return { out, entries };
}

it('runs one subgroup per workgroup on this adapter (so the case below compares the two kernels)', () => {
  expect(layernormSubgroups(gpu)).toBe(true);
});

it('gives the barrier kernels’ bits: y, mean, 1/σ, dx, dγ, dβ', async () => {
  const cases: [number, number, number, boolean][] = [
    [1, 1, 0, false],
    [3, 5, 1, true],
    [7, 64, 0, false],
    [2080, 128, 4, true],
    [1024, 128, 0, false],
    [300, 130, 2, false],
    [513, 256, 8, true],
  ];
  for (const [i, [rows, cols, off, acc]] of cases.entries()) {
    const a = await run(rows, cols, off, acc, true, 6100 + i);
    const b = await run(rows, cols, off, acc, false, 6100 + i);
    const name = `[${rows}, ${cols}] at ${off}${acc ? ', accumulating' : ''}`;
    for (const entry of ['layernorm_fwd_sg', 'layernorm_bwd_sg']) {
      expect(a.entries.some((k) => k.includes(entry)), `${name}: ${a.entries}`).toBe(true);
      expect(b.entries.some((k) => k.includes(entry)), `${name}: ${b.entries}`).toBe(false);
    }
    for (const [j, what] of ['y', 'mean', '1/σ', 'dx', 'dγ', 'dβ'].entries()) {
      expect(a.out[j]!.every(Number.isFinite), `${name} ${what} finite`).toBe(true);
      expect(Array.from(a.out[j]!), `${name} ${what} bits`).toEqual(Array.from(b.out[j]!));
    }
  }
});
