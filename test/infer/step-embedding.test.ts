// A decoding step's token and position embeddings in one dispatch: the gather adds the step's
// position row in its own pass (embedding with `positions`, CocaModel.decodeStep) instead of an
// addBroadcastRow after it. The kernel form (ids [N, 1], the position row at an offset of the
// positional table) against float64 with the output poisoned, at N = 1, 9, 13, 16 and a prime
// width; the op's output bit for bit the unfused pair's, in one dispatch instead of two; under a
// tape that needs the positions' gradient it falls back to the pair, and both gradients are
// float64's (the table's rows summed per id, the position row summed over the batch).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { embedding as embeddingKernel, releaseTokenIds, uploadTokenIds } from '../../kernels/embedding.ts';
import { embeddingRef } from '../../kernels/embedding.ref.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { embedding } from '../../src/tensor/ops/embedding.ts';
import { addBroadcastRow } from '../../src/tensor/ops/sequence.ts';
import { narrowRows } from '../../src/tensor/ops/shape.ts';
import { Tape, noGrad, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { counted } from '../helpers/dispatches.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const [V, D, T] = [29, 37, 11];

function inputs(salt: number, N: number) {
  const rng = testRng(salt);
  const table = rng.floats(V * D);
  const pos = rng.floats(T * D);
  const ids = Int32Array.from({ length: N }, () => Math.floor(rng.floats(1, 0, 1)[0]! * V) % V);
  return { table, pos, ids };
}

describe('a decoding step embedding with its position row', () => {
  it('kernel: ids [N, 1] and the row at position p against float64, output poisoned (N = 1, 9, 13, 16)', async () => {
    for (const [i, N] of [1, 9, 13, 16].entries()) {
      const { table, pos, ids } = inputs(2000 + i, N);
      const p = (3 * i + 2) % T;
      const Tb = gpu.upload(table, 'table');
      const Pb = gpu.upload(pos, 'pos');
      const out = poisoned(gpu, N * D + 5, 'out');
      const tid = uploadTokenIds(gpu, ids, { shape: [N, 1], vocab: V });
      embeddingKernel(gpu, { ids: tid, table: { buffer: Tb, shape: [V, D] }, pos: { buffer: Pb, shape: [1, D], offset: p * D }, out: { buffer: out, shape: [N, 1, D], offset: 2 } });
      const got = await gpu.read(out, N * D + 5);
      releaseTokenIds(gpu, tid);
      for (const b of [Tb, Pb, out]) gpu.release(b);
      // One f32 add of two f32 values: float64's sum rounded once is the kernel's exact answer.
      const want = embeddingRef(table, ids, D, { table: pos.subarray(p * D, (p + 1) * D), T: 1 }).map(Math.fround);
      expect(Array.from(got.subarray(2, 2 + N * D)), `N ${N}`).toEqual(Array.from(want));
      expect([...got.subarray(0, 2), ...got.subarray(2 + N * D)].every(Number.isNaN), `N ${N}: nothing written outside the output`).toBe(true);
    }
  });

  it('op: the bits of the gather followed by addBroadcastRow, in one dispatch instead of two', async () => {
    for (const [i, N] of [1, 16].entries()) {
      const { table, pos, ids } = inputs(2010 + i, N);
      const tt = Tensor.fromArray(gpu, table, [V, D], 'table');
      const pt = Tensor.fromArray(gpu, pos, [T, D], 'pos');
      const tid = uploadTokenIds(gpu, ids, { shape: [N, 1], vocab: V });
      const run = (fn: () => Tensor) => counted(gpu, () => noGrad(fn));
      const row = narrowRows(pt, 7, 1);
      const fused = await run(() => embedding(tt, tid, row));
      const apart = await run(() => addBroadcastRow(embedding(tt, tid), row));
      row.release();
      releaseTokenIds(gpu, tid);
      tt.release();
      pt.release();
      expect(fused.values.every(Number.isFinite)).toBe(true);
      expect(fused.values, `N ${N}: bits`).toEqual(apart.values);
      expect([fused.dispatches, apart.dispatches], `N ${N}: dispatches`).toEqual([1, 2]);
    }
  });

  it('under a tape that needs the positions\' gradient: the table\'s and the positions\' gradients are float64\'s', async () => {
    const N = 13;
    const { table, pos, ids } = inputs(2020, N);
    const tt = Tensor.fromArray(gpu, table, [V, D], 'table', true);
    const pt = Tensor.fromArray(gpu, pos.subarray(0, D), [1, D], 'pos', true);
    const tid = uploadTokenIds(gpu, ids, { shape: [N, 1], vocab: V });
    const seedHost = testRng(2021).floats(N * D);
    const seed = Tensor.fromArray(gpu, seedHost, [N, 1, D], 'seed');
    const tape = new Tape();
    const y = withTape(tape, () => embedding(tt, tid, pt));
    const got = await y.toArray();
    tape.backward(y, seed);
    const [dT, dP] = [await tt.grad!.toArray(), await pt.grad!.toArray()];
    tape.dispose();
    releaseTokenIds(gpu, tid);
    for (const t of [tt, pt, seed, tt.grad!, pt.grad!]) t.release();
    expect(Array.from(got)).toEqual(Array.from(embeddingRef(table, ids, D, { table: pos.subarray(0, D), T: 1 }).map(Math.fround)));
    const wantT = new Float64Array(V * D);
    const wantP = new Float64Array(D);
    for (let n = 0; n < N; n++)
      for (let d = 0; d < D; d++) {
        wantT[ids[n]! * D + d] += seedHost[n * D + d]!;
        wantP[d] += seedHost[n * D + d]!;
      }
    const close = (a: Float32Array, b: Float64Array, what: string) => a.forEach((x, j) => expect(Math.abs(x - b[j]!), `${what} ${j}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(b[j]!))));
    close(dT, wantT, 'dTable');
    close(dP, wantP, 'dPos');
  });

  it('refuses positions that do not fit the ids in one line', () => {
    const tt = Tensor.fromArray(gpu, new Float32Array(V * D), [V, D], 'table');
    const pt = Tensor.fromArray(gpu, new Float32Array(2 * D), [2, D], 'pos');
    const flat = uploadTokenIds(gpu, [1, 2], { shape: [2], vocab: V });
    const twoByOne = uploadTokenIds(gpu, [1, 2], { shape: [2, 1], vocab: V });
    expect(() => noGrad(() => embedding(tt, flat, pt))).toThrow(ShapeError);
    expect(() => noGrad(() => embedding(tt, twoByOne, pt))).toThrow(/give ids \[B, T\] and positions \[T, 37\]/);
    releaseTokenIds(gpu, flat);
    releaseTokenIds(gpu, twoByOne);
    tt.release();
    pt.release();
  });
});
