// The train-in-a-tab page's data: a subset cut from the built-in set (data/subset.ts) is a built
// set `coca train` reads, and the tab's copy of it in memory (memory-set.ts, from the files' bytes)
// gives the loader the batches the folder gives it — the same pictures, captions, crops and
// tokens, across an epoch boundary (worker threads give what the loader thread gives:
// workers.test.ts). Needs the built-in small set.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, loadTokenizer, measuredStats } from '../../../src/data/load.ts';
import { BatchLoaderCore, type Batch } from '../../../src/data/loader-core.ts';
import { BatchLoader } from '../../../src/data/loader.ts';
import { MemoryDataset } from '../../../src/data/memory-set.ts';
import { defaultPreprocess } from '../../../src/data/preprocess.ts';
import { readItems } from '../../../src/data/store.ts';
import { writeSubset } from '../../../src/data/subset.ts';
import { builtinDir } from '../../../src/data/paths.ts';

const built = fs.existsSync(path.join(builtinDir(true), 'manifest.json'));
let dir: string;

describe.skipIf(!built && !process.env.CI)('a subset of the built-in set, on disk and in memory', () => {
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-subset-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is every k-th pair of train, with its pictures, tokenizer and licences', async () => {
    const s = writeSubset('builtin-small', path.join(dir, 'a'), 37);
    const src = readItems(builtinDir(true), 'train');
    const mine = readItems(s.dir, 'train');
    expect(mine.map((it) => it.id)).toEqual(Array.from({ length: 37 }, (_, i) => src[Math.floor((i * src.length) / 37)]!.id));
    const full = await loadDataset('builtin-small', { split: 'train' });
    const sub = await loadDataset(s.dir, { split: 'train' });
    try {
      for (const i of [0, 17, 36]) expect(await sub.image(i, 'eval')).toEqual(await full.image(Math.floor((i * src.length) / 37), 'eval'));
    } finally {
      full.close();
      sub.close();
    }
    expect(fs.readFileSync(path.join(s.dir, 'tokenizer.json'), 'utf8')).toEqual(fs.readFileSync(path.join(builtinDir(true), 'tokenizer.json'), 'utf8'));
    expect(fs.existsSync(path.join(s.dir, 'LICENSES.md'))).toBe(true);
    expect(measuredStats(s.dir)).toEqual(measuredStats('builtin-small'));
    expect(() => writeSubset('builtin-small', path.join(dir, 'b'), src.length + 1)).toThrow(/cannot be cut .* ask for 1 to/);
  });

  it('gives the loader the same batches from memory as from the folder', async () => {
    const s = writeSubset('builtin-small', path.join(dir, 'c'), 40);
    const read = (f: string) => fs.readFileSync(path.join(s.dir, f));
    const mem = MemoryDataset.parse(read('manifest.json').toString(), read('train.jsonl').toString(), new Uint8Array(read('train.32px.u8')), 'train');
    const tokenizer = loadTokenizer(s.dir);
    const o = { batchSize: 16, contextLength: 32, tokenizer, preprocess: defaultPreprocess(32, measuredStats(s.dir)), seed: 3, train: true };
    {
      const workers = 0;
      const disk = await loadDataset(s.dir, { split: 'train', imageSize: 32 });
      const a = new BatchLoader(disk, { ...o, workers });
      const b = new BatchLoaderCore(mem, o);
      try {
        // 40 pairs in batches of 16: two batches an epoch, so five cross three epochs.
        const got: [Batch, Batch][] = [];
        for (let k = 0; k < 5; k++) got.push([await a.next(), await b.next()]);
        for (const [x, y] of got) {
          expect(Array.from(y.indices)).toEqual(Array.from(x.indices));
          expect(y.captions).toEqual(x.captions);
          expect(Array.from(y.tokens)).toEqual(Array.from(x.tokens));
          expect(y.images).toEqual(x.images);
        }
        expect(got.map(([x]) => x.epoch)).toEqual([0, 0, 1, 1, 2]);
        // Crops differ from the whole picture (augmentation on), and from epoch to epoch.
        expect(got[0]![0].images).not.toEqual(got[2]![0].images);
      } finally {
        await a.close();
        disk.close();
      }
    }
  });
});
