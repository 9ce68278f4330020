// Greedy decoding's device pick against the CPU rule (kernels/argmax.ref.ts): awkward vocabulary
// sizes around the workgroup width, many ties (values on a coarse grid), rows of nothing but -inf,
// every mask, offsets into shared buffers, and rows already done. Outputs are poisoned first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { argmaxRows, type PickMasks } from '../../kernels/argmax.ts';
import { argmaxRowsRef } from '../../kernels/argmax.ref.ts';
import { placed, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const POISON = 0xdeadbeef;

async function run(N: number, V: number, masks: Omit<PickMasks, 'banned'> & { banned: number[] }, opts: { grid?: number; prev?: number[]; offLogits?: number; offOut?: number; fill?: (n: number, v: number) => number; salt?: number } = {}) {
  const rng = testRng(opts.salt ?? N * 1000 + V);
  // A coarse grid makes ties common, so the tie rule is tested, not just the maximum.
  const grid = opts.grid ?? 4;
  const x = Float32Array.from({ length: N * V }, (_, i) => (opts.fill ? opts.fill(Math.floor(i / V), i % V) : Math.round(rng.normal() * grid) / grid));
  const offLogits = opts.offLogits ?? 0;
  const offOut = opts.offOut ?? 0;
  const logits = placed(gpu, x, offLogits, 'logits');
  const out = gpu.upload(new Uint32Array(offOut + N + 2).fill(POISON), 'ids');
  const prev = opts.prev ? gpu.upload(new Uint32Array([7, ...opts.prev]), 'prev') : null;
  const banned = masks.banned.length ? { buffer: gpu.upload(new Uint32Array(masks.banned), 'banned'), count: masks.banned.length } : null;
  argmaxRows(gpu, { logits: { buffer: logits, shape: [N, V], offset: offLogits }, prev: prev ? { buffer: prev, offset: 1 } : null, out: { buffer: out, offset: offOut }, masks: { ...masks, banned } });
  const got = new Uint32Array(await gpu.readBytes(out));
  for (const b of [logits, out, prev, banned?.buffer]) if (b) gpu.release(b);
  const want = argmaxRowsRef(x, N, V, masks, opts.prev ?? null);
  expect(Array.from(got.subarray(offOut, offOut + N))).toEqual(Array.from(want));
  // Nothing outside its N words is written.
  expect(Array.from(got.subarray(0, offOut)).every((w) => w === POISON)).toBe(true);
  expect(got[offOut + N]).toBe(POISON);
  return want;
}

const plain = { pad: 0, sot: 1, sotAllowed: false, eot: 2, maskEot: false, banned: [] as number[] };

describe('argmaxRows', () => {
  it.each([
    [1, 5],
    [1, 64],
    [3, 63],
    [2, 65],
    [17, 127],
    [5, 2049],
    [4, 4099],
  ])('N %i, V %i: the first largest after the masks, ties to the lower id', async (N, V) => {
    await run(N, V, plain);
    await run(N, V, { ...plain, pad: -1, sotAllowed: true }, { salt: 7 });
  });

  it('ties everywhere: a grid of two values picks the lowest id holding the larger', async () => {
    const want = await run(6, 301, plain, { grid: 0.5, salt: 3 });
    expect(new Set(want).size).toBeGreaterThan(1);
    // Every row's maximum is held by many ids; the pick is the first of them.
    await run(3, 257, plain, { fill: (n, v) => (v % (n + 3) === 0 ? 1 : 0) });
  });

  it('a row of nothing but -inf or masked ids picks id 0, as the CPU scan does', async () => {
    const want = await run(2, 70, { ...plain, maskEot: true, banned: Array.from({ length: 67 }, (_, i) => i + 3) }, { fill: (n, v) => (n === 0 ? -Infinity : v < 3 ? 5 : 1) });
    expect(Array.from(want)).toEqual([0, 0]);
  });

  it('masks [EOT] below min-len, banned ids and [SOT], and keeps a finished row at [EOT]', async () => {
    // Each row's largest is [EOT], then a banned id, then [SOT]: the masks move the pick down the list.
    const fill = (n: number, v: number) => (v === 2 ? 9 : v === 11 ? 8 : v === 1 ? 7 : v === 40 + n ? 6 : (v % 5) / 10);
    expect(Array.from(await run(4, 97, { ...plain, banned: [11, 13] }, { fill }))).toEqual([2, 2, 2, 2]);
    expect(Array.from(await run(4, 97, { ...plain, banned: [11, 13], maskEot: true }, { fill }))).toEqual([40, 41, 42, 43]);
    expect(Array.from(await run(4, 97, { ...plain, sotAllowed: true, maskEot: true }, { fill }))).toEqual([11, 11, 11, 11]);
    expect(Array.from(await run(4, 97, { ...plain, maskEot: true }, { fill, prev: [5, 2, 9, 2] }))).toEqual([11, 2, 11, 2]);
  });

  it('reads its rows from an offset and writes its ids from an offset', async () => {
    await run(3, 131, { ...plain, banned: [5] }, { offLogits: 37, offOut: 5, salt: 11 });
  });

  it('refuses ids outside the vocabulary and shared in/out buffers, naming them', () => {
    const b = gpu.alloc(64, 'l');
    const o = gpu.alloc(8, 'o');
    const call = (m: Partial<PickMasks>, prev: GPUBuffer | null = null) => () => argmaxRows(gpu, { logits: { buffer: b, shape: [2, 32] }, prev: prev ? { buffer: prev } : null, out: { buffer: o }, masks: { ...plain, banned: null, ...m } });
    expect(call({ eot: 32 })).toThrow(/eot id 32 is outside the vocabulary \[0, 32\)/);
    expect(call({ pad: -2 })).toThrow(/pad id -2/);
    expect(call({}, o)).toThrow(/different buffers/);
    gpu.release(b);
    gpu.release(o);
  });
});
