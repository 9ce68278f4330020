// The conv2d family against its float64 reference: 1x1 everything, primes, kernels wider than
// the image with padding, strides that skip input pixels, non-square kernels and strides, channel
// counts past one 64-row tile, dw's K split over workgroups; every operand at an odd offset with
// NaN around it; outputs poisoned with NaN; dx accumulated onto what it holds; dbias written
// beside dw (an arena) and apart from it; determinism.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CONV2D_VARIANTS, conv2d, conv2dBackward, conv2dDims, conv2dDwSlices, conv2dGemm, type Conv2dVariant } from '../../kernels/conv2d.ts';
import { matmulVariantAvailable } from '../../kernels/matmul.ts';
import { conv2dBackwardRef, conv2dRef, conv2dRefOut, conv2dTolerance, type Conv2dRefDims } from '../../kernels/conv2d.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

interface Case {
  /** B, Cin, H, W, Cout, KH, KW */
  s: [number, number, number, number, number, number, number];
  stride?: [number, number];
  pad?: [number, number];
  off?: number;
  bias?: boolean;
  /** dbias right after dw in one buffer. */
  arena?: boolean;
  accumulate?: boolean;
  variant?: Conv2dVariant;
}

async function runCase(c: Case, salt: number): Promise<Float32Array[]> {
  const rng = testRng(salt);
  const [B, Cin, H, W, Cout, KH, KW] = c.s;
  const [sh, sw] = c.stride ?? [1, 1];
  const [ph, pw] = c.pad ?? [0, 0];
  const d: Conv2dRefDims = { B, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw };
  const [OH, OW] = conv2dRefOut(d);
  const what = `conv2d ${c.variant ?? 'default'} x[${B},${Cin},${H},${W}] w[${Cout},${Cin},${KH},${KW}] stride ${sh}x${sw} pad ${ph}x${pw} offset ${c.off ?? 0}`;
  const bias = c.bias ?? true;
  const nx = B * Cin * H * W;
  const nw = Cout * Cin * KH * KW;
  const ny = B * Cout * OH * OW;
  const x = rng.floats(nx);
  const w = rng.floats(nw);
  const b = rng.floats(Cout);
  const dy = rng.floats(ny);
  const o = (k: number) => (c.off ? c.off + k : 0);
  const t = (buffer: GPUBuffer, shape: number[], k: number) => ({ buffer, shape, offset: o(k) });
  const X = placed(gpu, x, o(0), 'x');
  const Wt = placed(gpu, w, o(1), 'w');
  const Bi = placed(gpu, b, o(2), 'bias');
  const Y = poisoned(gpu, o(3) + ny, 'y');
  const geo = { stride: [sh, sw] as [number, number], padding: [ph, pw] as [number, number], variant: c.variant };
  conv2d(gpu, { x: t(X, [B, Cin, H, W], 0), w: t(Wt, [Cout, Cin, KH, KW], 1), bias: bias ? t(Bi, [Cout], 2) : undefined, y: t(Y, [B, Cout, OH, OW], 3), ...geo });
  const y = await gpu.read(Y, ny, o(3));
  expectClose(y, conv2dRef(x, w, bias ? b : null, d), conv2dTolerance(Cin * KH * KW), `${what}: y`);

  const DY = placed(gpu, dy, o(4), 'dy');
  const dx0 = c.accumulate ? rng.floats(nx) : null;
  const DX = poisoned(gpu, o(5) + nx, 'dx');
  if (dx0) gpu.write(DX, dx0, o(5) * 4);
  const DW = poisoned(gpu, o(6) + nw + (c.arena ? Cout + 2 : 0), 'dw');
  const DB = c.arena ? DW : poisoned(gpu, o(7) + Cout, 'dbias');
  const offDB = c.arena ? o(6) + nw : o(7);
  conv2dBackward(gpu, {
    x: t(X, [B, Cin, H, W], 0),
    w: t(Wt, [Cout, Cin, KH, KW], 1),
    dy: t(DY, [B, Cout, OH, OW], 4),
    dx: t(DX, [B, Cin, H, W], 5),
    accumulateDx: c.accumulate,
    dw: t(DW, [Cout, Cin, KH, KW], 6),
    dbias: bias ? { buffer: DB, shape: [Cout], offset: offDB } : undefined,
    ...geo,
  });
  const ref = conv2dBackwardRef(x, w, dy, d);
  if (dx0) ref.dx = ref.dx.map((v, i) => v + dx0[i]!);
  const [dx, dw] = [await gpu.read(DX, nx, o(5)), await gpu.read(DW, nw, o(6))];
  expectClose(dx, ref.dx, conv2dTolerance(Cout * KH * KW), `${what}: dx`);
  expectClose(dw, ref.dw, conv2dTolerance(B * OH * OW), `${what}: dw`);
  const out = [y, dx, dw];
  if (bias) {
    const db = await gpu.read(DB, Cout, offDB);
    expectClose(db, ref.dbias, conv2dTolerance(B * OH * OW), `${what}: dbias`);
    out.push(db);
    if (c.arena) expect(Number.isNaN((await gpu.read(DW, 1, offDB + Cout))[0]!), `${what}: the float after dbias is left alone`).toBe(true);
  }
  for (const buf of new Set([X, Wt, Bi, Y, DY, DX, DW, DB])) gpu.release(buf);
  return out;
}

// The variants a software adapter runs; elsewhere the subgroup one must refuse clearly.
const runnable = (v: Conv2dVariant) => v === 'regblock' || matmulVariantAvailable(gpu, 'subgroup');

describe.each(CONV2D_VARIANTS)('conv2d %s', (variant) => {
  it('matches float64 forward and backward at awkward shapes, strides and paddings', async () => {
    if (!runnable(variant)) {
      await expect(runCase({ s: [1, 1, 1, 1, 1, 1, 1], variant }, 0)).rejects.toThrow(/variant subgroup needs subgroups of a fixed size/);
      return;
    }
    const cases: Case[] = [
      { s: [1, 1, 1, 1, 1, 1, 1] },
      { s: [1, 1, 1, 1, 1, 1, 1], off: 3, bias: false },
      { s: [2, 3, 7, 5, 5, 3, 3], pad: [1, 1], off: 3 },
      // Stride 2 with a 3x2 kernel: dx's gather must skip the taps no output pixel used.
      { s: [3, 2, 9, 11, 7, 3, 2], stride: [2, 3], pad: [1, 0], off: 5 },
      // A 5x5 kernel over a 3x4 image: most taps fall in the padding.
      { s: [1, 5, 3, 4, 3, 5, 5], pad: [2, 2] },
      // Stride larger than the kernel: some input pixels feed no output (their dx is 0).
      { s: [2, 3, 13, 13, 11, 2, 2], stride: [3, 3], pad: [1, 1], off: 1 },
      // More channels than one tile (64 rows, 32 for subgroup), in and out (dx's M = Cin, fwd's M = Cout).
      { s: [2, 67, 3, 5, 71, 1, 1], off: 2 },
      // dx by stride phase: a phase with no pixels (height 1, stride 2) and phases whose
      // first pixel sits past the padding (a 7x7 stem, padding 3).
      { s: [2, 2, 1, 5, 3, 1, 1], stride: [2, 2], off: 2 },
      { s: [1, 3, 9, 8, 4, 7, 7], stride: [2, 2], pad: [3, 3], off: 1 },
      // More columns than one tile of either variant (B·OH·OW = 3·13·11).
      { s: [3, 17, 13, 11, 19, 3, 3], pad: [1, 1], off: 1 },
    ];
    let salt = 0;
    for (const c of cases) await runCase({ ...c, variant }, salt++);
  });

  it('splits dw over B·OH·OW and folds the slices; dbias beside dw or apart; dx accumulated', async () => {
    if (!runnable(variant)) return expect(runnable(variant)).toBe(false);
    const d = conv2dDims('test', [4, 2, 16, 17], [3, 2, 3, 3], { padding: 1 });
    const g = conv2dGemm(d, 'dw');
    expect(conv2dDwSlices(gpu, g.M, g.N, g.K, variant).slices, 'this shape takes several slices').toBeGreaterThan(1);
    await runCase({ s: [4, 2, 16, 17, 3, 3, 3], pad: [1, 1], off: 3, variant }, 20);
    await runCase({ s: [4, 2, 16, 17, 3, 3, 3], pad: [1, 1], arena: true, variant }, 21);
    // One slice: dw and dbias written straight into place.
    await runCase({ s: [2, 3, 7, 5, 5, 3, 3], pad: [1, 1], arena: true, off: 1, variant }, 22);
    await runCase({ s: [2, 3, 6, 7, 4, 3, 3], stride: [2, 2], pad: [1, 1], accumulate: true, off: 1, variant }, 25);
  });

  it('gives the same bits twice', async () => {
    if (!runnable(variant)) return expect(runnable(variant)).toBe(false);
    const a = await runCase({ s: [4, 2, 16, 17, 3, 3, 3], pad: [1, 1], variant }, 40);
    const b = await runCase({ s: [4, 2, 16, 17, 3, 3, 3], pad: [1, 1], variant }, 40);
    for (let i = 0; i < a.length; i++) expect(Buffer.from(a[i]!.buffer).equals(Buffer.from(b[i]!.buffer)), `output ${i}`).toBe(true);
  });
});

describe('conv2d bad input', () => {
  it('names the shapes that do not fit', () => {
    const bufs = Array.from({ length: 4 }, (_, i) => gpu.alloc(4096, `b${i}`));
    const t = (i: number, shape: number[]) => ({ buffer: bufs[i]!, shape });
    expect(() => conv2d(gpu, { x: t(0, [2, 3, 8, 8]), w: t(1, [4, 5, 3, 3]), y: t(2, [2, 4, 6, 6]) })).toThrow(/x \[2, 3, 8, 8\] has 3 channels but w \[4, 5, 3, 3\] takes 5/);
    expect(() => conv2d(gpu, { x: t(0, [2, 3, 8, 8]), w: t(1, [4, 3, 3, 3]), y: t(2, [2, 4, 8, 8]) })).toThrow(/y \[2, 4, 8, 8\] should be \[2, 4, 6, 6\]/);
    expect(() => conv2d(gpu, { x: t(0, [2, 3, 2, 2]), w: t(1, [4, 3, 3, 3]), y: t(2, [2, 4, 1, 1]) })).toThrow(/a 3x3 kernel does not fit x \[2, 3, 2, 2\] padded by 0x0/);
    expect(() => conv2d(gpu, { x: t(0, [2, 3, 8, 8]), w: t(1, [4, 3, 3, 3]), y: t(2, [2, 4, 6, 6]), stride: 0 })).toThrow(/stride 0 must be a whole number ≥ 1/);
    expect(() => conv2d(gpu, { x: t(0, [2, 3, 8, 8]), w: t(1, [4, 3, 3, 3]), y: t(0, [2, 4, 6, 6]) })).toThrow(/y must not share a buffer with x/);
    expect(() => conv2d(gpu, { x: t(0, [2, 3, 8]), w: t(1, [4, 3, 3, 3]), y: t(2, [2, 4, 6, 6]) })).toThrow(/x \[2, 3, 8\] must be \[batch, channels, height, width\]/);
    for (const b of bufs) gpu.release(b);
  });
});
