// The loader's worker threads must give exactly the batches the in-thread path gives.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/data/load.ts';
import { BatchLoader, type Batch } from '../../../src/data/loader.ts';
import { trainTokenizer, type Tokenizer } from '../../../src/data/tokenizer.ts';
import { tempDir, testPreprocess, writeCorrupt, writeImage, writeStoredFixture } from './fixtures.ts';
import fs from 'node:fs';

let tok: Tokenizer;
beforeAll(() => {
  tok = trainTokenizer(Array.from({ length: 30 }, (_, i) => `picture ${i} pattern number ${i}`), 300);
});

async function batches(loader: BatchLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  await loader.close();
  return out;
}

function expectSame(a: Batch[], b: Batch[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => {
    expect(Array.from(x.indices)).toEqual(Array.from(b[i]!.indices));
    expect(x.captions).toEqual(b[i]!.captions);
    expect(Array.from(x.tokens)).toEqual(Array.from(b[i]!.tokens));
    expect(Array.from(x.images)).toEqual(Array.from(b[i]!.images));
  });
}

describe('loader worker threads', () => {
  it('prepare the same training batches as the loader thread from a built dataset', async () => {
    const dir = tempDir();
    await writeStoredFixture(dir, 21, 16);
    const ds = await loadDataset(dir, { split: 'train', imageSize: 12 });
    const opts = { batchSize: 5, contextLength: 12, tokenizer: tok, preprocess: testPreprocess(12), seed: 4 };
    const inThread = await batches(new BatchLoader(ds, { ...opts, workers: 0 }), 6);
    const threaded = await batches(new BatchLoader(ds, { ...opts, workers: 2 }), 6);
    expectSame(threaded, inThread);
    // Resampling 16 → 12 px with crops changes the pixels; the batch is not all one value.
    expect(new Set(inThread[0]!.images).size).toBeGreaterThan(50);
  });

  it('decode image files and skip a corrupt one the same way as the loader thread', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    for (let i = 0; i < 9; i++) {
      await writeImage(path.join(dir, `${i}.png`), 20 + i, 15, i);
      lines.push(`${i}.png\tpicture ${i}`);
    }
    writeCorrupt(path.join(dir, 'bad.png'));
    lines.push('bad.png\tpicture bad');
    fs.writeFileSync(path.join(dir, 'captions.tsv'), lines.join('\n'));
    // Not verified at open, so the corrupt file is met by the loader.
    const ds = await loadDataset(dir, { split: 'all', imageSize: 10, verify: 'none' });
    for (const train of [true, false]) {
      const warned: string[][] = [[], []];
      const opts = { batchSize: 4, contextLength: 12, tokenizer: tok, preprocess: testPreprocess(10, 'shortest'), seed: 2, train };
      const a = await batches(new BatchLoader(ds, { ...opts, workers: 0, warn: (l) => warned[0]!.push(l) }), 5);
      const b = await batches(new BatchLoader(ds, { ...opts, workers: 2, warn: (l) => warned[1]!.push(l) }), 5);
      expectSame(b, a);
      expect(warned[0]!.length).toBe(1);
      expect(warned[1]!.length).toBe(1);
      expect(warned[1]![0]).toMatch(/bad\.png/);
    }
  });
});
