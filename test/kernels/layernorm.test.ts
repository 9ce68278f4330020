// The layernorm family against its float64 reference: rows of 1 element, primes, lengths past
// the vec4 width and past one register block (64), many rows (several per workgroup, so γ in
// registers and the dγ/dβ partials are exercised), odd offsets, |x| up to 1e4; backward with a
// random upstream gradient; outputs poisoned with NaN; determinism.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layernorm, layernormBackward } from '../../kernels/layernorm.ts';
import { layernormBackwardRef, layernormRef, layernormTolerance } from '../../kernels/layernorm.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());


async function runCase(rows: number, cols: number, off: number, salt: number, range = 2, arena = false, accumulate = false): Promise<Float32Array[]> {
  const rng = testRng(salt);
  const n = rows * cols;
  const x = rng.floats(n, -range, range);
  const gamma = rng.floats(cols, 0.5, 1.5);
  const beta = rng.floats(cols);
  const dy = rng.floats(n);
  const what = `layernorm [${rows}, ${cols}] offset ${off}${range !== 2 ? ` |x| ≤ ${range}` : ''}${arena ? ', dβ right after dγ' : ''}`;
  // Every operand at its own offset, so a kernel that mixes offsets up reads NaN.
  const o = (k: number) => (off === 0 ? 0 : off + k);
  const X = placed(gpu, x, o(0), 'x');
  const G = placed(gpu, gamma, o(1), 'gamma');
  const B = placed(gpu, beta, o(2), 'beta');
  const [Y, M, R] = [poisoned(gpu, o(3) + n, 'y'), poisoned(gpu, o(4) + rows, 'mean'), poisoned(gpu, o(5) + rows, 'rstd')];
  const t = (buffer: GPUBuffer, shape: number[], k: number) => ({ buffer, shape, offset: o(k) });
  layernorm(gpu, { x: t(X, [rows, cols], 0), gamma: t(G, [cols], 1), beta: t(B, [cols], 2), y: t(Y, [rows, cols], 3), mean: t(M, [rows], 4), rstd: t(R, [rows], 5) });
  const ref = layernormRef(x, gamma, beta, rows, cols);
  const tol = layernormTolerance(rows, cols);
  const [y, mean, rstd] = [await gpu.read(Y, n, o(3)), await gpu.read(M, rows, o(4)), await gpu.read(R, rows, o(5))];
  expectClose(y, ref.y, tol.y, `${what}: y`);
  expectClose(mean, ref.mean, { atol: tol.stats.atol * range, rtol: tol.stats.rtol }, `${what}: mean`);
  expectClose(rstd, ref.rstd, tol.stats, `${what}: rstd`);

  const DY = placed(gpu, dy, o(6), 'dy');
  // accumulate: dx already holds a sum (the residual stream's gradient) that the kernel adds to.
  const dx0 = accumulate ? rng.floats(n) : null;
  const DX = poisoned(gpu, o(7) + n, 'dx');
  if (dx0) gpu.write(DX, dx0, o(7) * 4);
  // arena: dγ and dβ side by side in one buffer, as a parameter arena holds them (the kernel then
  // reduces both straight into place); NaN around them.
  const DG = poisoned(gpu, o(8) + cols + (arena ? cols + 2 : 0), 'dgamma');
  const DB = arena ? DG : poisoned(gpu, o(9) + cols, 'dbeta');
  const offDB = arena ? o(8) + cols : o(9);
  layernormBackward(gpu, {
    x: t(X, [rows, cols], 0),
    gamma: t(G, [cols], 1),
    mean: t(M, [rows], 4),
    rstd: t(R, [rows], 5),
    dy: t(DY, [rows, cols], 6),
    dx: t(DX, [rows, cols], 7),
    accumulateDx: accumulate,
    dgamma: t(DG, [cols], 8),
    dbeta: { buffer: DB, shape: [cols], offset: offDB },
  });
  // The reference backward from the kernel's own saved statistics, as training would use them.
  const bref = layernormBackwardRef(x, gamma, mean, rstd, dy, rows, cols);
  if (dx0) bref.dx = bref.dx.map((v, i) => v + dx0[i]!);
  const [dx, dgamma, dbeta] = [await gpu.read(DX, n, o(7)), await gpu.read(DG, cols, o(8)), await gpu.read(DB, cols, offDB)];
  if (arena) expect(Number.isNaN((await gpu.read(DG, 1, o(8) + 2 * cols))[0]!), `${what}: the float after dβ is left alone`).toBe(true);
  // dx scales with rstd (316 for a row of one element, whose x̂ is 0 and dx exactly 0).
  const rmax = Math.max(...rstd);
  expectClose(dx, bref.dx, { atol: tol.dx.atol * Math.max(1, rmax), rtol: tol.dx.rtol }, `${what}: dx`);
  expectClose(dgamma, bref.dgamma, tol.dparams, `${what}: dgamma`);
  expectClose(dbeta, bref.dbeta, tol.dparams, `${what}: dbeta`);
  for (const b of new Set([X, G, B, Y, M, R, DY, DX, DG, DB])) gpu.release(b);
  return [y, dx, dgamma, dbeta];
}

describe('layernorm', () => {
  it('matches float64 forward and backward at awkward shapes, vec4 and scalar', async () => {
    // One 1024-wide row at offset 0 only: its register block (VPT 16) is the slowest pipeline to JIT.
    const shapes: [number, number, number[]][] = [[1, 1, [0, 3]], [3, 1, [0, 3]], [5, 7, [0, 3]], [4, 12, [0, 3]], [7, 33, [0, 3]], [3, 67, [0, 3]], [2, 251, [0, 3]], [5, 1024, [0]]];
    let salt = 0;
    for (const [rows, cols, offs] of shapes) for (const off of offs) await runCase(rows, cols, off, salt++);
  });

  it('walks several rows per workgroup and folds dγ, dβ over workgroups', async () => {
    await runCase(1031, 12, 0, 20);
    await runCase(600, 13, 3, 21);
  });

  it('adds dx to what dx holds when asked (the residual stream), vec4 and scalar', async () => {
    await runCase(9, 12, 0, 25, 2, false, true);
    await runCase(5, 7, 3, 26, 2, false, true);
  });

  it('reduces dγ and dβ straight into place when dβ follows dγ in one buffer', async () => {
    await runCase(1031, 12, 0, 22, 2, true);
    await runCase(5, 7, 3, 23, 2, true);
    await runCase(2, 251, 3, 24, 2, true);
  });

  it('is stable at |x| up to 1e4', async () => {
    await runCase(7, 37, 0, 30, 1e4);
    await runCase(3, 64, 0, 31, 1e4);
  });

  it('gives the same bits twice', async () => {
    const a = await runCase(700, 20, 0, 40);
    const b = await runCase(700, 20, 0, 40);
    for (let i = 0; i < a.length; i++) expect(Buffer.from(a[i]!.buffer).equals(Buffer.from(b[i]!.buffer)), `output ${i}`).toBe(true);
  });
});

describe('layernorm bad input', () => {
  it('names the shapes that do not fit', () => {
    const bufs = Array.from({ length: 6 }, (_, i) => gpu.alloc(64, `b${i}`));
    const t = (i: number, shape: number[]) => ({ buffer: bufs[i]!, shape });
    expect(() => layernorm(gpu, { x: t(0, [4, 5]), gamma: t(1, [4]), beta: t(2, [5]), y: t(3, [4, 5]), mean: t(4, [4]), rstd: t(5, [4]) })).toThrow(
      /x \[4, 5\] has rows of 5 but gamma is \[4\]/,
    );
    expect(() => layernorm(gpu, { x: t(0, [4, 5]), gamma: t(1, [5]), beta: t(2, [5]), y: t(3, [4, 5]), mean: t(4, [5]), rstd: t(5, [4]) })).toThrow(
      /x \[4, 5\] has 4 rows but mean is \[5\]/,
    );
    expect(() => layernorm(gpu, { x: t(0, [4, 5]), gamma: t(1, [5]), beta: t(2, [5]), y: t(3, [5, 4]), mean: t(4, [4]), rstd: t(5, [4]) })).toThrow(
      /x \[4, 5\] and y \[5, 4\] differ in shape/,
    );
    expect(() => layernorm(gpu, { x: t(0, [4, 5]), gamma: t(1, [5]), beta: t(2, [5]), y: t(0, [4, 5]), mean: t(4, [4]), rstd: t(5, [4]) })).toThrow(
      /y must not share a buffer with x/,
    );
    for (const b of bufs) gpu.release(b);
  });
});
