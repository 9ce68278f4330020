// `coca data shards` (src/data/shard-writer.ts), what shard-writer.test.ts leaves open: a built set
// whose largest raster is above 64 px is written at that raster (not at the 64 px a user folder or
// shards are read at, which would pick the smallest raster not below 64); a file that only starts
// like a shard (`00000.tar.bak`) in a split folder of the output is the user's and stays; a
// sample's json has no `label` key when the item has no label.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleJson, writeShards } from '../../../src/data/shard-writer.ts';
import { FORMAT, FORMAT_VERSION, ImageWriter, imageFile, writeItems } from '../../../src/data/store.ts';
import { MemoryDataset, tempDir, writeImage } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const newDir = () => {
  const d = tempDir('coca-data-shardw-');
  dirs.push(d);
  return d;
};

async function firstPicture(file: string): Promise<Buffer> {
  const ex = tar.extract();
  fs.createReadStream(file).pipe(ex);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.name.endsWith('.png')) return Buffer.concat(chunks);
  }
  throw new Error(`no picture in ${file}`);
}

describe('writeShards, the rest', () => {
  it('writes a built set at its largest raster, even where a raster between 64 px and it exists', async () => {
    const src = newDir();
    // Rasters of 66 and 70 px: item 0 is grey 90 in the 66 px file and grey 170 in the 70 px one.
    for (const [size, g] of [[66, 90], [70, 170]] as const) {
      const w = new ImageWriter(imageFile(src, 'test', size), size);
      w.write(new Uint8Array(size * size * 3).fill(g), 0);
      w.close();
    }
    writeItems(src, 'test', [{ id: 'x0', captions: ['zero'] }]);
    const manifest = {
      format: FORMAT, version: FORMAT_VERSION, name: 'b', imageSizes: [66, 70], splits: { test: { count: 1, about: '' } },
      seed: 0, sources: [], build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: '' }, tokenizer: { file: 'tokenizer.json', vocabSize: 0 },
    };
    fs.writeFileSync(path.join(src, 'manifest.json'), JSON.stringify(manifest));
    const out = path.join(newDir(), 'o');
    await writeShards(src, out, { perShard: 5, shuffle: false });
    const { data, info } = await sharp(await firstPicture(path.join(out, 'test', '00000.tar'))).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([70, 70]);
    expect(data.every((v) => v === 170)).toBe(true);
  });

  it('leaves a file that only starts like a shard in a split folder of the output', async () => {
    const src = newDir();
    await writeImage(path.join(src, 'a.png'), 4, 4, 1);
    fs.writeFileSync(path.join(src, 'captions.tsv'), 'a.png\ta picture\n');
    const out = newDir();
    fs.mkdirSync(path.join(out, 'all'));
    fs.writeFileSync(path.join(out, 'all', '00000.tar.bak'), 'mine');
    fs.writeFileSync(path.join(out, 'all', '00001.tar'), 'an old shard');
    await writeShards(src, out, { perShard: 5, splits: ['all'] });
    expect(fs.readFileSync(path.join(out, 'all', '00000.tar.bak'), 'utf8')).toBe('mine');
    expect(fs.existsSync(path.join(out, 'all', '00001.tar'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'all', '00000.tar'))).toBe(true);
  });

  it('writes no label key for an item without a label', () => {
    const json = sampleJson(new MemoryDataset(1), 0);
    expect(json).toEqual({ id: 'm0', caption: 'item 0 caption 0', captions: ['item 0 caption 0'] });
    expect('label' in json).toBe(false);
  });
});
