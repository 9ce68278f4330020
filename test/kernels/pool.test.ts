// The pooling family against its float64 reference: 1x1 planes, primes, windows that overlap
// (stride < kernel, so dx sums several dy), skip pixels (stride > kernel), padding on one axis,
// ties (inputs rounded to a few levels: the first maximum must win, in both the values and the
// indices), planes past one workgroup's range and taller than its rows; operands at odd offsets with NaN around them;
// outputs poisoned; dx accumulated onto what it holds. Global average pool likewise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward } from '../../kernels/pool.ts';
import { POOL_TOL, globalAvgPoolBackwardRef, globalAvgPoolRef, maxPoolBackwardRef, maxPoolRef, poolRefOut, type PoolRefDims } from '../../kernels/pool.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

interface MaxCase {
  /** B, C, H, W */
  s: [number, number, number, number];
  k: [number, number];
  stride?: [number, number];
  pad?: [number, number];
  off?: number;
  ties?: boolean;
  accumulate?: boolean;
}

async function runMax(c: MaxCase, salt: number): Promise<void> {
  const rng = testRng(salt);
  const [B, C, H, W] = c.s;
  const [KH, KW] = c.k;
  const [sh, sw] = c.stride ?? c.k;
  const [ph, pw] = c.pad ?? [0, 0];
  const d: PoolRefDims = { planes: B * C, H, W, KH, KW, sh, sw, ph, pw };
  const [OH, OW] = poolRefOut(d);
  const what = `maxPool2d x[${B},${C},${H},${W}] ${KH}x${KW} stride ${sh}x${sw} pad ${ph}x${pw} offset ${c.off ?? 0}${c.ties ? ', ties' : ''}`;
  const nx = B * C * H * W;
  const ny = B * C * OH * OW;
  const x = rng.floats(nx);
  if (c.ties) for (let i = 0; i < nx; i++) x[i] = Math.round(x[i]! * 2) / 2;
  const dy = rng.floats(ny);
  const o = (k: number) => (c.off ? c.off + k : 0);
  const X = placed(gpu, x, o(0), 'x');
  const Y = poisoned(gpu, o(1) + ny, 'y');
  const I = poisoned(gpu, o(2) + ny, 'idx');
  const geo = { kernel: c.k, stride: [sh, sw] as [number, number], padding: [ph, pw] as [number, number] };
  const yShape = [B, C, OH, OW];
  maxPool2d(gpu, { x: { buffer: X, shape: [B, C, H, W], offset: o(0) }, y: { buffer: Y, shape: yShape, offset: o(1) }, indices: { buffer: I, shape: yShape, offset: o(2) }, ...geo });
  const ref = maxPoolRef(x, d);
  expectClose(await gpu.read(Y, ny, o(1)), ref.y, POOL_TOL.exact, `${what}: y`);
  const idxF = await gpu.read(I, ny, o(2));
  const idx = new Uint32Array(idxF.buffer, idxF.byteOffset, ny);
  expect([...idx], `${what}: indices`).toEqual([...ref.idx]);

  const DY = placed(gpu, dy, o(3), 'dy');
  const dx0 = c.accumulate ? rng.floats(nx) : null;
  const DX = poisoned(gpu, o(4) + nx, 'dx');
  if (dx0) gpu.write(DX, dx0, o(4) * 4);
  maxPool2dBackward(gpu, { dy: { buffer: DY, shape: yShape, offset: o(3) }, indices: { buffer: I, shape: yShape, offset: o(2) }, dx: { buffer: DX, shape: [B, C, H, W], offset: o(4) }, accumulate: c.accumulate, ...geo });
  const want = maxPoolBackwardRef(ref.idx, dy, d);
  if (dx0) for (let i = 0; i < nx; i++) want[i] += dx0[i]!;
  expectClose(await gpu.read(DX, nx, o(4)), want, POOL_TOL.maxDx, `${what}: dx`);
  for (const b of [X, Y, I, DY, DX]) gpu.release(b);
}

async function runAvg(s: [number, number, number, number], off: number, salt: number, accumulate = false): Promise<void> {
  const rng = testRng(salt);
  const [B, C, H, W] = s;
  const planes = B * C;
  const hw = H * W;
  const what = `globalAvgPool x[${B},${C},${H},${W}] offset ${off}`;
  const x = rng.floats(planes * hw);
  const dy = rng.floats(planes);
  const o = (k: number) => (off ? off + k : 0);
  const X = placed(gpu, x, o(0), 'x');
  const Y = poisoned(gpu, o(1) + planes, 'y');
  globalAvgPool(gpu, { x: { buffer: X, shape: s, offset: o(0) }, y: { buffer: Y, shape: [B, C], offset: o(1) } });
  expectClose(await gpu.read(Y, planes, o(1)), globalAvgPoolRef(x, planes, hw), POOL_TOL.avg(hw), `${what}: y`);
  const DY = placed(gpu, dy, o(2), 'dy');
  const DX = poisoned(gpu, o(3) + planes * hw, 'dx');
  const dx0 = accumulate ? rng.floats(planes * hw) : null;
  if (dx0) gpu.write(DX, dx0, o(3) * 4);
  globalAvgPoolBackward(gpu, { dy: { buffer: DY, shape: [B, C], offset: o(2) }, dx: { buffer: DX, shape: s, offset: o(3) }, accumulate });
  const want = globalAvgPoolBackwardRef(dy, planes, hw);
  if (dx0) for (let i = 0; i < want.length; i++) want[i] += dx0[i]!;
  expectClose(await gpu.read(DX, planes * hw, o(3)), want, POOL_TOL.maxDx, `${what}: dx`);
  for (const b of [X, Y, DY, DX]) gpu.release(b);
}

describe('maxPool2d', () => {
  it('matches float64 forward and backward at awkward shapes', async () => {
    const cases: MaxCase[] = [
      { s: [1, 1, 1, 1], k: [1, 1] },
      { s: [2, 3, 7, 5], k: [2, 2], off: 3 },
      // ResNet's stem pool: 3x3, stride 2, padding 1 (overlapping windows, dx sums up to 4 dy).
      { s: [2, 5, 13, 11], k: [3, 3], stride: [2, 2], pad: [1, 1], off: 1 },
      // Stride 1: windows overlap by all but one column.
      { s: [1, 2, 6, 9], k: [3, 2], stride: [1, 1], pad: [1, 0] },
      // Stride past the window: some pixels feed no output.
      { s: [3, 1, 11, 13], k: [2, 3], stride: [3, 4], off: 2 },
      // Many planes: more invocations than one row of workgroups covers several times.
      { s: [4, 37, 9, 7], k: [3, 3], stride: [2, 2], pad: [1, 1] },
      // Taller than one workgroup's 32 rows, in and out (the forward's 35 rows, the backward's 70).
      { s: [1, 2, 70, 9], k: [3, 3], stride: [2, 2], pad: [1, 1], off: 1 },
    ];
    let salt = 0;
    for (const c of cases) await runMax(c, salt++);
  });

  it('takes the first maximum on ties, in the values and the indices', async () => {
    await runMax({ s: [2, 3, 9, 9], k: [3, 3], stride: [2, 2], pad: [1, 1], ties: true, off: 1 }, 10);
    await runMax({ s: [1, 2, 8, 7], k: [2, 2], stride: [1, 1], ties: true }, 11);
  });

  it('adds dx to what dx holds when asked', async () => {
    await runMax({ s: [2, 3, 7, 7], k: [3, 3], stride: [2, 2], pad: [1, 1], accumulate: true, off: 3 }, 12);
  });
});

describe('globalAvgPool', () => {
  it('matches float64 forward and backward', async () => {
    await runAvg([1, 1, 1, 1], 0, 20);
    await runAvg([2, 3, 7, 5], 3, 21);
    await runAvg([3, 5, 1, 67], 1, 22);
    await runAvg([2, 71, 13, 11], 0, 23, true);
    // Planes longer than one workgroup's 1024 elements.
    await runAvg([2, 3, 37, 41], 2, 24, true);
  });
});

describe('pool bad input', () => {
  it('names what does not fit', () => {
    const b = Array.from({ length: 3 }, (_, i) => gpu.alloc(4096, `b${i}`));
    const t = (i: number, shape: number[]) => ({ buffer: b[i]!, shape });
    expect(() => maxPool2d(gpu, { x: t(0, [1, 2, 8, 8]), y: t(1, [1, 2, 4, 4]), indices: t(2, [1, 2, 4, 4]), kernel: 3, padding: 2 })).toThrow(/padding 2x2 is more than half the 3x3 window/);
    expect(() => maxPool2d(gpu, { x: t(0, [1, 2, 8, 8]), y: t(1, [1, 2, 3, 3]), indices: t(2, [1, 2, 3, 3]), kernel: 2 })).toThrow(/y \[1, 2, 3, 3\] should be \[1, 2, 4, 4\]/);
    expect(() => maxPool2d(gpu, { x: t(0, [1, 2, 8, 8]), y: t(1, [1, 2, 4, 4]), indices: t(1, [1, 2, 4, 4]), kernel: 2 })).toThrow(/indices must not share a buffer with y/);
    expect(() => globalAvgPool(gpu, { x: t(0, [2, 3, 4, 4]), y: t(1, [3, 2]) })).toThrow(/the pooled \[3, 2\] should be \[2, 3\]/);
    for (const x of b) gpu.release(x);
  });
});
