// Checks on the built-in small dataset as built by `coca data build --small` (set-up runs it);
// skipped where it has not been built, except in CI (CI=true), where set-up must have built it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset, loadTokenizer, measuredStats } from '../../../src/data/load.ts';
import { defaultPreprocess } from '../../../src/data/preprocess.ts';
import { BatchLoader } from '../../../src/data/loader.ts';
import { builtinDir } from '../../../src/data/paths.ts';
import { readItems, readManifest } from '../../../src/data/store.ts';
import { conceptKey, normaliseCaption } from '../../../src/data/text.ts';

const dir = builtinDir(true);
const built = fs.existsSync(path.join(dir, 'manifest.json'));

describe.skipIf(!built && !process.env.CI)('built-in small dataset (coca data build --small)', () => {
  const captionsOf = (split: string) => readItems(dir, split).flatMap((it) => it.captions);

  it('has the five splits, at 32 px, with files of the size the manifest says', () => {
    const m = readManifest(dir);
    expect(Object.keys(m.splits).sort()).toEqual(['test-concept', 'test-fmnist', 'test-style', 'train', 'val']);
    expect(m.imageSizes).toEqual([32]);
    for (const [split, info] of Object.entries(m.splits)) {
      expect(info.count).toBeGreaterThan(0);
      expect(readItems(dir, split).length).toBe(info.count);
      expect(fs.statSync(path.join(dir, `${split}.32px.u8`)).size).toBe(info.count * 32 * 32 * 3);
    }
    expect(fs.readFileSync(path.join(dir, 'LICENSES.md'), 'utf8')).toMatch(/CC-BY-SA-4\.0/);
  });

  it('lets no caption of val or test-concept, nor a variant of it, appear in train', () => {
    const train = new Set(captionsOf('train'));
    const trainKeys = new Set([...train].map(conceptKey));
    for (const split of ['val', 'test-concept']) {
      for (const c of captionsOf(split)) {
        expect(train.has(c), `${split} caption "${c}" is in train`).toBe(false);
        expect(trainKeys.has(conceptKey(c)), `${split} caption "${c}" has a variant in train`).toBe(false);
      }
    }
  });

  it('tests the unseen style only on captions seen in training', () => {
    const train = new Set(captionsOf('train').map(conceptKey));
    const style = readItems(dir, 'test-style');
    expect(style.every((it) => it.style === 'fluent')).toBe(true);
    for (const it of style) expect(train.has(conceptKey(it.captions[0]!))).toBe(true);
  });

  it('round-trips every built-in caption through its tokenizer', () => {
    const tok = loadTokenizer('builtin-small');
    const all = new Set(['train', 'val', 'test-concept', 'test-style', 'test-fmnist'].flatMap(captionsOf));
    for (const c of all) expect(tok.decode(tok.encode(c))).toBe(normaliseCaption(c));
  });

  it("loads batches whose white pixels normalise to (1 - mean) / std with a new model's default preprocessing", async () => {
    const ds = await loadDataset('builtin-small', { split: 'test-style', imageSize: 32 });
    const pre = defaultPreprocess(32, measuredStats('builtin-small'));
    expect(pre.mean).toEqual(readManifest(builtinDir(true)).mean);
    const loader = new BatchLoader(ds, { batchSize: 8, contextLength: 32, tokenizer: loadTokenizer('builtin-small'), preprocess: pre, train: false });
    const b = await loader.next();
    expect(b.images.length).toBe(8 * 3 * 32 * 32);
    // Corner pixels of the letterboxed art are background white.
    for (let c = 0; c < 3; c++) expect(b.images[c * 32 * 32]).toBeCloseTo((1 - pre.mean[c]!) / pre.std[c]!, 4);
    ds.close();
  });
});

describe('coca data on bad input', () => {
  it('prints one line and exits non-zero for a missing dataset and an unknown format', () => {
    const bin = path.resolve('bin/coca.js');
    for (const data of ['/nonexistent/dataset', path.resolve('package.json')]) {
      let status = 0;
      let stderr = '';
      try {
        execFileSync(process.execPath, [bin, 'data', 'info', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        status = (e as { status: number }).status;
        stderr = (e as { stderr: Buffer }).stderr.toString();
      }
      expect(status).not.toBe(0);
      const lines = stderr.trim().split('\n').filter((l) => !/^npm warn/.test(l));
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/^coca: /);
    }
  });
});
