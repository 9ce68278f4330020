// DeViSE's zero-shot evaluation (src/eval/devise.ts) with a stand-in model and GPU: the "GPU" keeps
// buffers as arrays, and the model scores a picture against each label row it is given as t_j·v,
// with v a vector the test gives each item (eval-fixture.ts tells the items apart by their pixels).
// The labels' vectors are one-hot, so each score is a component of v and every rank, hit, coverage
// and hinge below is worked out by hand.
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchLoader } from '../../../src/data/loader.ts';
import { StoredDataset } from '../../../src/data/store.ts';
import { TokenizerCore } from '../../../src/data/tokenizer-core.ts';
import { deviseSection, deviseZeroShot, labelMatrix, type DeviseEvalContext, type DeviseZeroShot } from '../../../src/eval/devise.ts';
import type { Gpu } from '../../../src/gpu/gpu.ts';
import type { DeviseModel } from '../../../src/model/devise.ts';
import type { LabelSpace } from '../../../src/model/devise-space.ts';
import type { Tensor } from '../../../src/tensor/tensor.ts';
import path from 'node:path';
import { tempDir, testPreprocess, writeCorrupt, writeImage } from '../data/fixtures.ts';
import { COCA, handJson } from './hand-tokenizer.ts';
import { itemOf, SIDE, writeCutPng, writeEvalSet } from './eval-fixture.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
beforeEach(() => vi.spyOn(os, 'availableParallelism').mockReturnValue(2));
afterEach(() => vi.restoreAllMocks());

const tok = TokenizerCore.fromJSON(handJson(COCA));
const PLANE = 3 * SIDE * SIDE;
type FakeBuffer = { size: number; data: Float32Array };

function fakeGpu() {
  const released: FakeBuffer[] = [];
  const allocated: FakeBuffer[] = [];
  const gpu = {
    alloc(floats: number): FakeBuffer {
      const b = { size: floats * 4, data: new Float32Array(floats) };
      allocated.push(b);
      return b;
    },
    write(b: FakeBuffer, data: Float32Array) {
      b.data.set(data);
    },
    release(b: FakeBuffer) {
      released.push(b);
    },
  };
  return { gpu: gpu as unknown as Gpu, released, allocated };
}

/** Scores t_j·v(item) for each picture, reading the label rows from the tensor it is given. */
function standIn(gpu: Gpu, v: number[][]) {
  const calls: { B: number; values: number; labels: number[][] }[] = [];
  const model = {
    gpu,
    async scores(images: Float32Array, B: number, T: Tensor) {
      const [L, D] = T.shape as [number, number];
      const t = (T.buffer as unknown as FakeBuffer).data;
      calls.push({ B, values: images.length, labels: Array.from({ length: L }, (_, j) => Array.from(t.subarray(j * D, (j + 1) * D))) });
      const out = new Float32Array(B * L);
      for (let r = 0; r < B; r++) {
        const vi = v[itemOf(images[r * PLANE]!)] ?? [1, 0, 0]; // a user's picture (not the grey fixture's): red
        for (let j = 0; j < L; j++) for (let d = 0; d < D; d++) out[r * L + j]! += t[j * D + d]! * vi[d]!;
      }
      return out;
    },
  };
  return { model: model as unknown as DeviseModel, calls };
}

const oneHot: Record<string, number[]> = { red: [1, 0, 0], green: [0, 1, 0], blue: [0, 0, 1], shirt: [1, 0, 0], shoe: [0, 1, 0] };
const space: LabelSpace = { kind: 'text', dim: 3, vector: (l) => (oneHot[l] ? Float32Array.from(oneHot[l]) : null) };

/** Item i's vector v: scores against red, green, blue are its components. */
const V = [
  [0.9, 0.5, 0], // red: rank 1
  [0.8, 0.3, 0.1], // green: rank 2
  [0.5, 0.4, 0.1], // blue: rank 3
  [0, 1, 0.5], // red: rank 3
  [1, 1, 1], // 'unknown' has no vector: a miss
];

function dataset(): string {
  const dir = tempDir();
  dirs.push(dir);
  writeEvalSet(dir, {
    test: { captions: [['red'], ['green', 'extra words'], ['blue'], ['red'], ['unknown']] },
    fmnist: { captions: [['a'], ['b'], ['c']], classes: ['shirt', 'shoe', 'bag'], labels: [1, 0, 1] },
  });
  return dir;
}

const ctxOf = (model: DeviseModel, over: Partial<DeviseEvalContext> = {}): DeviseEvalContext => ({ model, space, tokenizer: tok, pre: testPreprocess(SIDE), batch: 2, margin: 0.1, ...over });

describe('deviseZeroShot', () => {
  it('ranks every picture against the distinct captions that have a vector; a label without one is a miss', async () => {
    const data = dataset();
    const { gpu, released, allocated } = fakeGpu();
    const { model, calls } = standIn(gpu, V);
    const close = vi.spyOn(BatchLoader.prototype, 'close');
    const dsClose = vi.spyOn(StoredDataset.prototype, 'close');
    const z = await deviseZeroShot(ctxOf(model), data, 'test', [1, 2]);
    // Labels: red, green, extra words, blue, unknown (every caption of the pictures, first seen first); three have a vector.
    expect(z).toEqual({ split: 'test', classes: false, labels: 5, withVector: 3, pictures: 5, covered: 4, ks: [1, 2], hits: [1, 2], hinge: expect.any(Number) });
    // Hinge, margin 0.1, per covered picture Σ_j max(0, 0.1 − s_y + s_j): 0, 0.6, 0.5 + 0.4, 1.1 + 0.6 → 3.2 / 4.
    expect(z.hinge).toBeCloseTo(0.8, 6);
    // One label matrix, the vectors of red, green, blue in that order, released after; batches of 2, 2, 1.
    const rgb = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    expect(calls).toEqual([
      { B: 2, values: 2 * PLANE, labels: rgb },
      { B: 2, values: 2 * PLANE, labels: rgb },
      { B: 1, values: PLANE, labels: rgb },
    ]);
    expect(allocated).toHaveLength(1);
    expect(released).toEqual(allocated);
    expect(close).toHaveBeenCalledTimes(1);
    expect(dsClose).toHaveBeenCalled();
    // The default ks are 1 and 5: every covered picture is within 5.
    const d = await deviseZeroShot(ctxOf(standIn(fakeGpu().gpu, V).model), data, 'test');
    expect([d.ks, d.hits]).toEqual([[1, 5], [1, 4]]);
  });

  it('scores only the first maxItems pictures, and their captions only', async () => {
    const data = dataset();
    const { gpu } = fakeGpu();
    const { model, calls } = standIn(gpu, V);
    const next = vi.spyOn(BatchLoader.prototype, 'next');
    const z = await deviseZeroShot(ctxOf(model, { maxItems: 3 }), data, 'test', [1, 2]);
    expect(z).toMatchObject({ labels: 4, withVector: 3, pictures: 3, covered: 3, hits: [1, 2] });
    expect(z.hinge).toBeCloseTo((0 + 0.6 + 0.9) / 3, 6);
    expect(calls.map((c) => [c.B, c.values])).toEqual([[2, 2 * PLANE], [1, PLANE]]);
    expect(next).toHaveBeenCalledTimes(2);
    // A limit on a batch boundary reads no further batch.
    next.mockClear();
    const four = await deviseZeroShot(ctxOf(standIn(fakeGpu().gpu, V).model, { maxItems: 4 }), data, 'test', [1]);
    expect(four.pictures).toBe(4);
    expect(next).toHaveBeenCalledTimes(2);
  });

  it('takes a classification split’s class names as the labels, each picture’s its class', async () => {
    const data = dataset();
    const { gpu } = fakeGpu();
    // shoe 0.9 vs shirt 0.2: rank 1; shirt 0.3 vs 0.6: rank 2; shoe 0.5 vs 0.5: a tie ranks behind, 2.
    const { model, calls } = standIn(gpu, [[0.2, 0.9, 0], [0.3, 0.6, 0], [0.5, 0.5, 0]]);
    const z = await deviseZeroShot(ctxOf(model), data, 'fmnist', [1, 2]);
    expect(z).toEqual({ split: 'fmnist', classes: true, labels: 3, withVector: 2, pictures: 3, covered: 3, ks: [1, 2], hits: [1, 3], hinge: expect.any(Number) });
    expect(z.hinge).toBeCloseTo((0 + 0.4 + 0.1) / 3, 6);
    expect(calls[0]!.labels).toEqual([[1, 0, 0], [0, 1, 0]]);
  });

  it('with no label vector at all scores nothing: no hits, no coverage, no hinge', async () => {
    const data = dataset();
    const { gpu, allocated } = fakeGpu();
    const { model, calls } = standIn(gpu, V);
    const none: LabelSpace = { kind: 'text', dim: 3, vector: () => null };
    const z = await deviseZeroShot(ctxOf(model, { space: none }), data, 'test', [1, 2]);
    expect(z).toEqual({ split: 'test', classes: false, labels: 5, withVector: 0, pictures: 5, covered: 0, ks: [1, 2], hits: [0, 0], hinge: NaN });
    expect(calls).toEqual([]);
    expect(allocated).toEqual([]);
  });

  it('scores no batch whose pictures all failed, reads on to the good ones and stops at the last batch', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await writeCutPng(path.join(dir, 'cut0.png'));
    await writeCutPng(path.join(dir, 'cut1.png'));
    await writeImage(path.join(dir, 'good.png'), 12, 12, 0);
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'cut0.png\tred\ncut1.png\tgreen\ngood.png\tred\n');
    const { gpu } = fakeGpu();
    const { model, calls } = standIn(gpu, V);
    const z = await deviseZeroShot(ctxOf(model), dir, 'all', [1]);
    // The two that failed fill the first batch: nothing to score there. Only the good picture is scored, once.
    expect(calls.map((c) => c.B)).toEqual([1]);
    expect(z).toMatchObject({ labels: 1, withVector: 1, pictures: 1, covered: 1, hits: [1] });
  });

  it('passes strict to the dataset and to the loader', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await writeImage(path.join(dir, 'good.png'), 12, 12, 0);
    writeCorrupt(path.join(dir, 'junk.png'));
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'good.png\tred\njunk.png\tgreen\n');
    const { gpu } = fakeGpu();
    const { model } = standIn(gpu, V);
    await expect(deviseZeroShot(ctxOf(model, { strict: true }), dir, 'all')).rejects.toThrow(/^corrupt or unreadable images: .*junk\.png/);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect((await deviseZeroShot(ctxOf(model), dir, 'all')).pictures).toBe(1);
    expect(warn.mock.calls.flat().join('\n')).toMatch(/junk\.png/);
    // A picture that reads as one but does not decode: the loader stops there with strict, leaves it out without.
    fs.rmSync(path.join(dir, 'junk.png'));
    await writeCutPng(path.join(dir, 'cut.png'));
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'good.png\tred\ncut.png\tgreen\n');
    await expect(deviseZeroShot(ctxOf(model, { strict: true }), dir, 'all')).rejects.toThrow(/cut\.png/);
    expect((await deviseZeroShot(ctxOf(model), dir, 'all')).pictures).toBe(1);
  });

  it('labelMatrix lays the rows out one after another', () => {
    const { gpu, allocated } = fakeGpu();
    const T = labelMatrix(gpu, [Float32Array.of(1, 2), Float32Array.of(3, 4), Float32Array.of(5, 6)], 2);
    expect(T.shape).toEqual([3, 2]);
    expect(T.name).toBe('label_vectors');
    expect(Array.from(allocated[0]!.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('deviseSection', () => {
  const z: DeviseZeroShot = { split: 'test', classes: false, labels: 5, withVector: 3, pictures: 5, covered: 4, ks: [1, 2], hits: [1, 2], hinge: 0.8 };

  it('gives hit@k over all pictures, the coverage and chance over all labels', () => {
    expect(deviseSection(z, 'devise')).toEqual({
      title: 'test, captions as classes (flat hit@k)',
      sizes: { images: 5, classes: 5, 'with a vector': 3 },
      rows: [
        { name: 'devise', metrics: { top1: 0.2, top2: 0.4, coverage: 0.8 } },
        { name: 'chance', metrics: { top1: 0.2, top2: 0.4 } },
      ],
    });
  });

  it('names a split of classes as zero-shot; with no pictures the rates are NaN, chance is capped at 1', () => {
    const s = deviseSection({ ...z, split: 'fmnist', classes: true, labels: 3, pictures: 0, covered: 0, ks: [1, 5], hits: [0, 0] }, 'm');
    expect(s.title).toBe("fmnist (zero-shot, the labels' vectors)");
    expect(s.rows[0]).toEqual({ name: 'm', metrics: { top1: NaN, top5: NaN, coverage: NaN } });
    expect(s.rows[1]).toEqual({ name: 'chance', metrics: { top1: 1 / 3, top5: 1 } });
  });
});
