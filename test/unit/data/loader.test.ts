import { beforeAll, describe, expect, it } from 'vitest';
import { fullCrop, toTensor } from '../../../src/data/augment.ts';
import { BatchLoader, type Batch } from '../../../src/data/loader.ts';
import { trainTokenizer, type Tokenizer } from '../../../src/data/tokenizer.ts';
import { MemoryDataset, testPreprocess } from './fixtures.ts';

let tok: Tokenizer;
beforeAll(() => {
  tok = trainTokenizer(Array.from({ length: 50 }, (_, i) => `item ${i} caption ${i % 3}`), 300);
});

const opts = (seed: number, extra = {}) => ({ batchSize: 4, contextLength: 10, tokenizer: tok, preprocess: testPreprocess(8), seed, ...extra });

async function take(loader: BatchLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  return out;
}

function same(a: Batch, b: Batch): void {
  expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
  expect(a.captions).toEqual(b.captions);
  expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
  expect(Array.from(a.images)).toEqual(Array.from(b.images));
}

describe('BatchLoader', () => {
  it('yields batches of fixed shape with tokens that decode to the chosen captions', async () => {
    const ds = new MemoryDataset(10, 8, new Set(), 3);
    const [b] = await take(new BatchLoader(ds, opts(1)), 1);
    expect(b!.rows).toBe(4);
    expect(b!.images.length).toBe(4 * 3 * 8 * 8);
    expect(b!.tokens.length).toBe(4 * 10);
    for (let r = 0; r < 4; r++) {
      expect(ds.captions(b!.indices[r]!)).toContain(b!.captions[r]);
      expect(tok.decode(b!.tokens.subarray(r * 10, (r + 1) * 10))).toBe(b!.captions[r]);
    }
  });

  it('is deterministic for a seed, and another seed gives another order', async () => {
    const ds = new MemoryDataset(23);
    const a = await take(new BatchLoader(ds, opts(3)), 7);
    const b = await take(new BatchLoader(ds, opts(3)), 7);
    a.forEach((x, i) => same(x, b[i]!));
    const c = await take(new BatchLoader(ds, opts(4)), 7);
    expect(c.map((x) => Array.from(x.indices))).not.toEqual(a.map((x) => Array.from(x.indices)));
  });

  it('visits each item at most once per epoch, drops the short last batch, and reshuffles next epoch', async () => {
    const ds = new MemoryDataset(10);
    const batches = await take(new BatchLoader(ds, opts(2)), 4);
    expect(batches.map((b) => b.epoch)).toEqual([0, 0, 1, 1]);
    const e0 = [...batches[0]!.indices, ...batches[1]!.indices];
    expect(new Set(e0).size).toBe(8);
    const e1 = [...batches[2]!.indices, ...batches[3]!.indices];
    expect(e1).not.toEqual(e0);
  });

  it('resumes from a saved state with exactly the batches an unbroken run gives, prefetch or not', async () => {
    const ds = new MemoryDataset(19);
    const unbroken = await take(new BatchLoader(ds, opts(9)), 12);
    const first = new BatchLoader(ds, opts(9, { prefetch: 3 }));
    await take(first, 5);
    const saved = JSON.parse(JSON.stringify(first.state()));
    expect(saved).toEqual({ seed: 9, epoch: 1, index: 4 });
    const resumed = new BatchLoader(ds, opts(9, { prefetch: 0 }));
    resumed.restore(saved);
    const rest = await take(resumed, 7);
    rest.forEach((b, i) => same(b, unbroken[5 + i]!));
    expect(() => resumed.restore({ ...saved, seed: 10 })).toThrow(/seed/);
  });

  it('in evaluation covers every item once in order with a short last batch', async () => {
    const ds = new MemoryDataset(10);
    const loader = new BatchLoader(ds, opts(0, { train: false }));
    expect(loader.batchesPerEpoch).toBe(3);
    const b = await take(loader, 3);
    expect(b.map((x) => x.rows)).toEqual([4, 4, 2]);
    expect(b.map((x) => x.last)).toEqual([false, false, true]);
    expect(b.flatMap((x) => Array.from(x.indices))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(b[0]!.captions[0]).toBe(ds.captions(0)[0]);
  });

  it('leaves an undecodable image out of evaluation, counted with its place, or stops with --strict', async () => {
    const ds = new MemoryDataset(8, 8, new Set([3]));
    const warnings: string[] = [];
    const loader = new BatchLoader(ds, opts(0, { train: false, warn: (l: string) => warnings.push(l) }));
    const b = await take(loader, 2);
    expect(b.map((x) => Array.from(x.indices))).toEqual([[0, 1, 2], [4, 5, 6, 7]]);
    expect(b[0]!.images.length).toBe(3 * 3 * 8 * 8);
    expect(b[0]!.captions).toEqual([0, 1, 2].map((i) => ds.captions(i)[0]));
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/m3/);
    expect(loader.skipped).toBe(1);
    expect(loader.decodeSummary()).toMatch(/^warning: 1 of 8 pictures could not be decoded in memory train and was left out \(m3\)/);
    const strict = new BatchLoader(ds, opts(0, { train: false, strict: true, prefetch: 0 }));
    await expect(take(strict, 1)).rejects.toThrow(/m3/);
  });

  it('replaces an undecodable image by the next item in training, counted in one line', async () => {
    const ds = new MemoryDataset(8, 8, new Set([3, 5]));
    const loader = new BatchLoader(ds, opts(0));
    const b = await take(loader, 4);
    expect(b.every((x) => x.rows === 4)).toBe(true);
    const drawn = b.flatMap((x) => Array.from(x.indices));
    expect(drawn).not.toContain(3);
    expect(drawn).not.toContain(5);
    expect(loader.decodeSummary()).toMatch(/^warning: 2 pictures could not be decoded in memory train and were replaced by other items \(m[35], m[35]\); pass --strict/);
    expect(new BatchLoader(ds, opts(0)).decodeSummary()).toBeNull();
  });

  it('never flips a picture whose caption says left or right', async () => {
    class Handed extends MemoryDataset {
      override captions(i: number): readonly string[] {
        return [i % 2 ? `person running facing right ${i}` : `person running ${i}`];
      }
    }
    const ds = new Handed(40, 6);
    const pre = testPreprocess(6);
    const loader = new BatchLoader(ds, opts(0, { batchSize: 40, preprocess: pre, augment: { scale: [1, 1], ratio: [1, 1], flip: true } }));
    const b = await loader.next();
    const plane = 3 * 6 * 6;
    let flipped = 0;
    for (let r = 0; r < 40; r++) {
      const i = b.indices[r]!;
      const want = new Float32Array(plane);
      toTensor(await ds.image(i), fullCrop(await ds.image(i)), 6, pre.mean, pre.std, want);
      const same = b.images.subarray(r * plane, (r + 1) * plane).every((v, k) => Math.abs(v - want[k]!) < 1e-5);
      if (i % 2) expect(same).toBe(true);
      else if (!same) flipped++;
    }
    expect(flipped).toBeGreaterThan(0);
  });

  it('refuses an empty dataset and one smaller than a training batch', () => {
    expect(() => new BatchLoader(new MemoryDataset(0), opts(0))).toThrow(/empty/);
    expect(() => new BatchLoader(new MemoryDataset(3), opts(0))).toThrow(/fewer than the batch size/);
  });
});
