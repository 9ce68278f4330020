// How long an almost empty dispatch takes on this adapter: N dispatches of a 4-float copy, the
// JS recording time and the wall time to the end of the work, per dispatch.
import { Gpu } from '../../src/gpu/gpu.ts';
import { copyRows } from '../../kernels/copy.ts';
const gpu = await Gpu.open();
const a = gpu.alloc(64, 'a');
const b = gpu.alloc(64, 'b');
const l = { offset: 0, batchStride: 0, rowStride: 4 };
for (const N of [1, 10, 100, 100, 400, 400]) {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) copyRows(gpu, { src: a, dst: b, B: 1, R: 1, C: 4, srcLayout: l, dstLayout: l });
  const t1 = performance.now();
  gpu.flush();
  const t2 = performance.now();
  await gpu.sync();
  const ms = performance.now() - t0;
  console.log(`${N} dispatches: record ${((t1 - t0) / N * 1000).toFixed(0)} µs, submit ${((t2 - t1) / N * 1000).toFixed(0)} µs, all ${(ms / N * 1000).toFixed(0)} µs each`);
}
gpu.destroy();
