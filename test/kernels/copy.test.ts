// The strided block copy against its float64 reference: broadcast sources, accumulation,
// blocks inside larger sequences (slices and concatenations), awkward sizes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { copyRows, type BlockLayout } from '../../kernels/copy.ts';
import { copyRowsRef } from '../../kernels/copy.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

describe('copyRows', () => {
  it('copies x[:, 1:] of [3, 7, 5] into a fresh [3, 6, 5] (poisoned) exactly', async () => {
    const rng = testRng(1);
    const [B, L, C] = [3, 7, 5];
    const x = rng.floats(B * L * C);
    const src = gpu.upload(x, 'x');
    const dst = poisoned(gpu, B * (L - 1) * C, 'y');
    const s: BlockLayout = { offset: C, batchStride: L * C, rowStride: C };
    const d: BlockLayout = { offset: 0, batchStride: (L - 1) * C, rowStride: C };
    copyRows(gpu, { src, dst, B, R: L - 1, C, srcLayout: s, dstLayout: d });
    const want = copyRowsRef(x, new Float64Array(B * (L - 1) * C), B, L - 1, C, s, d, false);
    expectClose(await gpu.read(dst, B * (L - 1) * C), want, { atol: 0, rtol: 0 }, 'slice');
    gpu.release(src);
    gpu.release(dst);
  });

  it('broadcasts one row to every batch (a CLS token) and accumulates into a strided block', async () => {
    const rng = testRng(2);
    const [B, L, C] = [5, 3, 13];
    const cls = rng.floats(C);
    const base = rng.floats(B * (L + 1) * C);
    const src = gpu.upload(cls, 'cls');
    const dst = gpu.upload(base, 'seq');
    const s: BlockLayout = { offset: 0, batchStride: 0, rowStride: C };
    const d: BlockLayout = { offset: L * C, batchStride: (L + 1) * C, rowStride: C };
    copyRows(gpu, { src, dst, B, R: 1, C, srcLayout: s, dstLayout: d, accumulate: true });
    const want = copyRowsRef(cls, base, B, 1, C, s, d, true);
    // One float32 rounding per accumulated element.
    expectClose(await gpu.read(dst, B * (L + 1) * C), want, { atol: 0, rtol: 1.2e-7 }, 'broadcast accumulate');
    gpu.release(src);
    gpu.release(dst);
  });

  it('refuses a block that does not fit, naming it', () => {
    const a = gpu.alloc(10, 'a');
    const b = gpu.alloc(10, 'b');
    // Pooled buffers are rounded up to 256 bytes: a 2x8x5 block at batch stride 40 needs 320.
    const l = { offset: 0, batchStride: 40, rowStride: 5 };
    expect(() => copyRows(gpu, { src: a, dst: b, B: 2, R: 8, C: 5, srcLayout: l, dstLayout: l })).toThrow(/2x8x5 block .* needs 320 bytes of src "a", which holds 256/);
    gpu.release(a);
    gpu.release(b);
  });
});
