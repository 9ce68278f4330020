// Two src/data survivors earlier passes left "untested" (docs/mutation.md, ninth pass): the names
// `builtin` and `builtin-small` are the built-in sets even where the working folder holds shard
// folders of those names (load.ts), and a built set's raster file is opened once, not per read
// (prep.ts). The first needs process.chdir, which the worker threads Stryker runs vitest in refuse:
// it runs in the project's own test runs (forked processes) and was checked by hand there.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { isShardData } from '../../../src/data/load.ts';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { readSource } from '../../../src/data/prep.ts';

const dirs: string[] = [];
const cwd = process.cwd();
afterEach(() => {
  if (process.cwd() !== cwd) process.chdir(cwd);
  dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});
const temp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-data-rest-'));
  dirs.push(d);
  return d;
};

describe('isShardData', () => {
  it.skipIf(!isMainThread)('builtin and builtin-small name the built-in sets even beside shard folders of those names', () => {
    const dir = temp();
    for (const name of ['builtin', 'builtin-small']) {
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, 'shard-000000.tar'), Buffer.alloc(1024));
    }
    process.chdir(dir);
    // The folders are shard data when named as paths...
    expect(isShardData('./builtin')).toBe(true);
    expect(isShardData('./builtin-small')).toBe(true);
    // ...but the bare names are the built-in sets.
    expect(isShardData('builtin')).toBe(false);
    expect(isShardData('builtin-small')).toBe(false);
  });
});

describe('readSource of a stored raster', () => {
  it('opens the raster file once, however many pictures are read from it', async () => {
    const dir = temp();
    const file = path.join(dir, 'train.1px.u8');
    fs.writeFileSync(file, Uint8Array.from({ length: 300 }, (_, k) => k % 256));
    const pre: ImagePreprocess = { size: 1, mean: [0, 0, 0], std: [1, 1, 1], interpolation: 'bilinear', resizeMode: 'squash', background: [255, 255, 255] };
    const open = () => fs.readdirSync('/proc/self/fd').length;
    await readSource({ kind: 'stored', file, index: 0, side: 1 }, false, pre);
    const before = open();
    for (let i = 0; i < 100; i++) {
      const img = await readSource({ kind: 'stored', file, index: i, side: 1 }, false, pre);
      expect(Array.from(img.data)).toEqual([(3 * i) % 256, (3 * i + 1) % 256, (3 * i + 2) % 256]);
    }
    // A descriptor per read would add 100; anything else in the process opens a few at most.
    expect(open() - before).toBeLessThan(50);
  });
});
