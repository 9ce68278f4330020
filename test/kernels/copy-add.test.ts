// The strided block copy that adds a second block as it copies (copyRows' add, copy.wgsl ADD): a
// sequence concatenation with its position table added in the same pass. Against the float64
// reference (one rounding of src + add, so exact): the table broadcast over the batch (batch
// stride 0) and read per batch, blocks inside larger sequences, accumulation, awkward sizes
// (1, primes, more than one workgroup), destinations poisoned with NaN and checked untouched
// outside the block; and the bits of a copy followed by the position add (pointwise addBias).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { copyRows, type BlockLayout } from '../../kernels/copy.ts';
import { copyRowsRef } from '../../kernels/copy.ref.ts';
import { addBias } from '../../kernels/pointwise.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

interface Case {
  B: number;
  R: number;
  C: number;
  src: BlockLayout;
  dst: BlockLayout;
  add: BlockLayout;
  accumulate?: boolean;
}

const span = (l: BlockLayout, c: Case) => l.offset + (c.B - 1) * l.batchStride + (c.R - 1) * l.rowStride + c.C;

async function run(c: Case, salt: number): Promise<void> {
  const rng = testRng(salt);
  const src = rng.floats(span(c.src, c));
  const add = rng.floats(span(c.add, c));
  const start = c.accumulate ? rng.floats(span(c.dst, c) + 2) : new Float32Array(span(c.dst, c) + 2).fill(NaN);
  const S = gpu.upload(src, 'src');
  const A = placed(gpu, add, 0, 'add');
  const D = c.accumulate ? gpu.upload(start, 'dst') : poisoned(gpu, span(c.dst, c) + 2, 'dst');
  copyRows(gpu, { src: S, dst: D, B: c.B, R: c.R, C: c.C, srcLayout: c.src, dstLayout: c.dst, accumulate: c.accumulate, add: { buffer: A, layout: c.add } });
  const got = await gpu.read(D, span(c.dst, c) + 2);
  for (const b of [S, A, D]) gpu.release(b);
  // Each element is one f32 addition (two with accumulate): the reference rounds as the kernel does.
  const want = copyRowsRef(src, start, c.B, c.R, c.C, c.src, c.dst, false, { data: add, layout: c.add }).map((v, i) => (c.accumulate && inBlock(c, i) ? Math.fround(start[i]! + Math.fround(v)) : Math.fround(v)));
  const what = `${c.B}x${c.R}x${c.C} add ${JSON.stringify(c.add)}${c.accumulate ? ' accumulated' : ''}`;
  const bad = [...got.keys()].filter((i) => !(Object.is(got[i], want[i]) || (Number.isNaN(got[i]!) && Number.isNaN(want[i]!))));
  expect(bad.slice(0, 5).map((i) => `[${i}] ${got[i]} ≠ ${want[i]}`), what).toEqual([]);
}

function inBlock(c: Case, i: number): boolean {
  for (let b = 0; b < c.B; b++) for (let r = 0; r < c.R; r++) {
    const o = c.dst.offset + b * c.dst.batchStride + r * c.dst.rowStride;
    if (i >= o && i < o + c.C) return true;
  }
  return false;
}

describe('copyRows with an added block', () => {
  it('adds a position table broadcast over the batch, into blocks of a longer sequence, exactly', async () => {
    // A CLS token's row (R = 1) and the patches after it (R = 64, C = 37: past one 256-wide workgroup) of
    // a [B, 1 + R, C] sequence, each with its rows of a [1 + R, C] table.
    await run({ B: 3, R: 1, C: 37, src: { offset: 0, batchStride: 0, rowStride: 37 }, dst: { offset: 0, batchStride: 65 * 37, rowStride: 37 }, add: { offset: 0, batchStride: 0, rowStride: 37 } }, 1);
    await run({ B: 3, R: 64, C: 37, src: { offset: 5, batchStride: 64 * 37, rowStride: 37 }, dst: { offset: 37, batchStride: 65 * 37, rowStride: 37 }, add: { offset: 37, batchStride: 0, rowStride: 37 } }, 2);
    await run({ B: 1, R: 1, C: 1, src: { offset: 0, batchStride: 0, rowStride: 1 }, dst: { offset: 1, batchStride: 0, rowStride: 1 }, add: { offset: 2, batchStride: 0, rowStride: 1 } }, 3);
  });

  it('reads the added block per batch and per row in its own strides, and accumulates', async () => {
    await run({ B: 5, R: 7, C: 3, src: { offset: 2, batchStride: 29, rowStride: 4 }, dst: { offset: 1, batchStride: 23, rowStride: 3 }, add: { offset: 3, batchStride: 31, rowStride: 4 } }, 4);
    await run({ B: 2, R: 13, C: 11, src: { offset: 0, batchStride: 143, rowStride: 11 }, dst: { offset: 0, batchStride: 143, rowStride: 11 }, add: { offset: 1, batchStride: 0, rowStride: 11 }, accumulate: true }, 5);
  });

  it('gives the bits of the copy followed by addBias of the table', async () => {
    const rng = testRng(6);
    const [B, L, C] = [4, 33, 19];
    const x = rng.floats(B * L * C);
    const pos = rng.floats(L * C);
    const [X, P] = [gpu.upload(x, 'x'), gpu.upload(pos, 'pos')];
    const [fused, copied, apart] = [poisoned(gpu, B * L * C, 'fused'), poisoned(gpu, B * L * C, 'copied'), poisoned(gpu, B * L * C, 'apart')];
    const dense: BlockLayout = { offset: 0, batchStride: L * C, rowStride: C };
    copyRows(gpu, { src: X, dst: fused, B, R: L, C, srcLayout: dense, dstLayout: dense, add: { buffer: P, layout: { offset: 0, batchStride: 0, rowStride: C } } });
    copyRows(gpu, { src: X, dst: copied, B, R: L, C, srcLayout: dense, dstLayout: dense });
    addBias(gpu, { buffer: copied, shape: [B, L * C] }, { buffer: P, shape: [L * C] }, { buffer: apart, shape: [B, L * C] });
    const [a, b] = [await gpu.read(fused, B * L * C), await gpu.read(apart, B * L * C)];
    for (const buf of [X, P, fused, copied, apart]) gpu.release(buf);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('refuses an added block that is the destination, or that does not fit its buffer, in one line', () => {
    const [S, D] = [gpu.alloc(64, 's'), gpu.alloc(64, 'd')];
    const l: BlockLayout = { offset: 0, batchStride: 0, rowStride: 4 };
    expect(() => copyRows(gpu, { src: S, dst: D, B: 1, R: 2, C: 4, srcLayout: l, dstLayout: l, add: { buffer: D, layout: l } })).toThrow(/added block and the destination must be different buffers/);
    expect(() => copyRows(gpu, { src: S, dst: D, B: 1, R: 2, C: 4, srcLayout: l, dstLayout: l, add: { buffer: S, layout: { offset: S.size / 4, batchStride: 0, rowStride: 4 } } })).toThrow(/needs .* bytes of added/);
    gpu.release(S);
    gpu.release(D);
  });
});
