// The Node loader (src/data/loader.ts) against its header: worker threads only on machines with
// cores to spare (4 or more: cores − 2, at most 4) and only for datasets that say where their
// pictures are; batches from the workers equal, value for value, those of the loader's thread (a
// built set, and image files with an undecodable one, which both leave out the same way); pictures
// read from their source with the model's preprocessing, or from the dataset without one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../../../src/data/load.ts';
import { BatchLoader, defaultWorkers, type Batch } from '../../../src/data/loader.ts';
import { TokenizerCore } from '../../../src/data/tokenizer-core.ts';
import { MemoryDataset, patternPixels, tempDir, testPreprocess, writeCorrupt, writeImage, writeStoredFixture } from '../data/fixtures.ts';
import { COCA, handJson } from './hand-tokenizer.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
afterEach(() => vi.restoreAllMocks());
const tok = TokenizerCore.fromJSON(handJson(COCA));
const pool = (l: BatchLoader) => (l as unknown as { pool?: { size: number } }).pool;

async function batches(loader: BatchLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  await loader.close();
  return out;
}

describe('BatchLoader (Node)', () => {
  it('uses no worker below 4 cores, then cores − 2 up to 4', () => {
    const spy = vi.spyOn(os, 'availableParallelism');
    const want: [number, number][] = [[1, 0], [2, 0], [3, 0], [4, 2], [5, 3], [6, 4], [7, 4], [64, 4]];
    for (const [cores, workers] of want) {
      spy.mockReturnValue(cores);
      expect(defaultWorkers(), `${cores} cores`).toBe(workers);
    }
  });

  it('starts its default pool only for a dataset whose pictures have a source, and stops it on close', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await writeStoredFixture(dir, 4, 8);
    const stored = await loadDataset(dir, { split: 'train' });
    vi.spyOn(os, 'availableParallelism').mockReturnValue(5);
    const opts = { batchSize: 2, contextLength: 6, tokenizer: tok, preprocess: testPreprocess(8) };
    const withSource = new BatchLoader(stored, opts);
    expect(pool(withSource)?.size).toBe(3);
    await withSource.close();
    expect(pool(withSource)).toBeUndefined();
    const memory = new BatchLoader(new MemoryDataset(4), opts);
    expect(pool(memory)).toBeUndefined();
    // Told none, none, whatever the cores.
    expect(pool(new BatchLoader(stored, { ...opts, workers: 0 }))).toBeUndefined();
    await memory.close();
    // A dataset without sources is read through its own image(): pixel 0's red of item 0, normalised
    // as the preprocessing says ((v / 255 − mean) / std; 8 px asked of 8 px pictures, no crop in evaluation).
    const pre = testPreprocess(8);
    const [e] = await batches(new BatchLoader(new MemoryDataset(4), { ...opts, train: false }), 1);
    expect(e!.images[0]).toBeCloseTo((patternPixels(8, 8, 0)[0]! / 255 - pre.mean[0]) / pre.std[0], 5);
    stored.close();
  });

  it('gives the same batches from worker threads as from its own thread: a built set', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await writeStoredFixture(dir, 7, 12);
    const ds = await loadDataset(dir, { split: 'train', imageSize: 10 });
    const opts = { batchSize: 3, contextLength: 8, tokenizer: tok, preprocess: testPreprocess(10), seed: 5, train: true };
    const here = await batches(new BatchLoader(ds, { ...opts, workers: 0 }), 2);
    const threaded = new BatchLoader(ds, { ...opts, workers: 1 });
    // The pictures are prepared by the pool, not on this thread.
    const run = vi.spyOn(pool(threaded) as unknown as { run: (t: unknown[]) => Promise<unknown[]> }, 'run');
    const there = await batches(threaded, 2);
    expect(run).toHaveBeenCalled();
    for (let k = 0; k < 2; k++) {
      expect(Array.from(there[k]!.indices)).toEqual(Array.from(here[k]!.indices));
      expect(Array.from(there[k]!.images)).toEqual(Array.from(here[k]!.images));
    }
    // Every row filled, with pictures that differ: not one value throughout.
    expect(here[0]!.images.every(Number.isFinite)).toBe(true);
    expect(new Set(here[0]!.images).size).toBeGreaterThan(30);
    ds.close();
  });

  it('gives the same batches from worker threads as from its own thread: files, one undecodable', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const lines: string[] = [];
    for (let i = 0; i < 5; i++) {
      await writeImage(path.join(dir, `${i}.png`), 14 + i, 11, i);
      lines.push(`${i}.png\tpicture ${i}`);
    }
    writeCorrupt(path.join(dir, 'bad.png'));
    lines.push('bad.png\tpicture bad');
    fs.writeFileSync(path.join(dir, 'captions.tsv'), lines.join('\n'));
    const ds = await loadDataset(dir, { split: 'all', imageSize: 9, verify: 'none' });
    const opts = { batchSize: 6, contextLength: 8, tokenizer: tok, preprocess: testPreprocess(9, 'shortest'), seed: 1, train: false };
    const warned: string[] = [];
    const [here] = await batches(new BatchLoader(ds, { ...opts, workers: 0, warn: (l) => warned.push(l) }), 1);
    const [there] = await batches(new BatchLoader(ds, { ...opts, workers: 1, warn: (l) => warned.push(l) }), 1);
    // Evaluation leaves the undecodable picture out: five rows, in dataset order.
    expect(here!.rows).toBe(5);
    expect(there!.rows).toBe(5);
    expect(there!.captions).toEqual(here!.captions);
    expect(Array.from(there!.images)).toEqual(Array.from(here!.images));
    expect(warned).toHaveLength(2);
    expect(warned[1]).toMatch(/bad\.png/);
  });
});
