// Gpu.readLater: reads recorded now and waited for later (pipelined decoding keeps the device busy
// with later steps in between). Each part comes back as it was when the read was recorded, even
// when work recorded after it overwrites the buffer before the wait; parts at offsets, of sizes
// that are not multiples of 4 words, from several buffers, in one staging copy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { copyRows } from '../../kernels/copy.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

describe('Gpu.readLater', () => {
  it('gives each part as it was when the read was recorded, whatever runs before the wait', async () => {
    const a = gpu.upload(Float32Array.from({ length: 40 }, (_, i) => i), 'a');
    const b = gpu.upload(Uint32Array.from({ length: 9 }, (_, i) => 1000 + i), 'b');
    const reads = gpu.readLater([{ buffer: a, bytes: 7 * 4, offset: 3 * 4 }, { buffer: b, bytes: 5 * 4 }, { buffer: a, bytes: 2 }]);
    // Recorded after the read, and run before it is waited for: a is overwritten with -1s.
    const src = gpu.upload(new Float32Array(40).fill(-1), 'src');
    const l = { offset: 0, batchStride: 0, rowStride: 40 };
    copyRows(gpu, { src, dst: a, B: 1, R: 1, C: 40, srcLayout: l, dstLayout: l });
    const second = gpu.readLater([{ buffer: a, bytes: 8, offset: 0 }]);
    const [p, q, r] = await reads();
    expect(Array.from(new Float32Array(p!))).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(new Uint32Array(q!))).toEqual([1000, 1001, 1002, 1003, 1004]);
    expect(r!.byteLength).toBe(2);
    expect(new Uint8Array(r!)).toEqual(new Uint8Array(new Float32Array([0]).buffer).subarray(0, 2));
    expect(Array.from(new Float32Array((await second())[0]!))).toEqual([-1, -1]);
    for (const x of [a, b, src]) gpu.release(x);
  });

  it('counts one read, and its bytes, per call', async () => {
    const a = gpu.upload(new Float32Array(16), 'a');
    const before = { ...gpu.counters };
    await gpu.readLater([{ buffer: a, bytes: 12 }, { buffer: a, bytes: 20, offset: 4 }])();
    expect(gpu.counters.reads - before.reads).toBe(1);
    expect(gpu.counters.bytesRead - before.bytesRead).toBe(32);
    gpu.release(a);
  });
});
