// One item's picture from where it is stored (src/data/prep.ts), against its header: a built set's
// raster read at index·side²·3 as it is, encoded bytes (a view into a larger buffer, as a shard
// member is) and files decoded as the model's preprocessing says, and a prepared picture written
// into the model's input as (v / 255 − mean) / std, channel by channel.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { readSource, toModelInput } from '../../../src/data/prep.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const pre = (size: number): ImagePreprocess => ({ size, mean: [0.5, 0.25, 0.75], std: [0.5, 0.25, 0.125], interpolation: 'bilinear', resizeMode: 'squash', background: [255, 255, 255] });

describe('readSource and toModelInput', () => {
  it("reads a built set's raster at its index, as stored", async () => {
    const dir = tempDir('coca-prep-');
    dirs.push(dir);
    const file = path.join(dir, 'train.2px.u8');
    // Three 2×2 pictures, byte k of picture i = 20·i + k.
    fs.writeFileSync(file, Uint8Array.from({ length: 36 }, (_, k) => 20 * Math.floor(k / 12) + (k % 12)));
    for (const i of [1, 0, 2]) {
      const img = await readSource({ kind: 'stored', file, index: i, side: 2 }, true, pre(4));
      expect([img.width, img.height]).toEqual([2, 2]);
      expect(Array.from(img.data)).toEqual(Array.from({ length: 12 }, (_, k) => 20 * i + k));
    }
  });

  it('decodes encoded bytes from a view into a larger buffer, and a file, naming either on failure', async () => {
    const dir = tempDir('coca-prep-');
    dirs.push(dir);
    const png = await sharp(Buffer.from([200, 100, 50, 10, 20, 30]), { raw: { width: 2, height: 1, channels: 3 } }).png().toBuffer();
    // The member sits at offset 7 of the shard's bytes.
    const shard = new Uint8Array(7 + png.length + 5).fill(9);
    shard.set(png, 7);
    const img = await readSource({ kind: 'bytes', bytes: shard.subarray(7, 7 + png.length), name: 'k0.png' }, false, pre(2));
    expect([img.width, img.height, Array.from(img.data)]).toEqual([2, 1, [200, 100, 50, 10, 20, 30]]);
    await expect(readSource({ kind: 'bytes', bytes: shard.subarray(0, 7), name: 'k1.png' }, false, pre(2))).rejects.toThrow(/^cannot decode image k1\.png: /);
    const file = path.join(dir, 'p.png');
    fs.writeFileSync(file, png);
    const fromFile = await readSource({ kind: 'file', path: file }, false, pre(2));
    expect(Array.from(fromFile.data)).toEqual([200, 100, 50, 10, 20, 30]);
    await expect(readSource({ kind: 'file', path: path.join(dir, 'absent.png') }, false, pre(2))).rejects.toThrow(/^cannot decode image .*absent\.png: /);
  });

  it("writes a prepared picture into the model's input at an offset, channel-major, normalised", () => {
    const img = { data: Uint8Array.from([0, 51, 255, 102, 153, 204, 255, 0, 51, 25, 50, 75]), width: 2, height: 2 };
    const p = pre(2);
    const out = new Float32Array(3 + 12 + 2).fill(-99);
    toModelInput(img, p, out, 3);
    const want = [0, 1, 2].flatMap((c) => [0, 1, 2, 3].map((px) => (img.data[3 * px + c]! / 255 - p.mean[c]!) / p.std[c]!));
    expect(Array.from(out.slice(0, 3))).toEqual([-99, -99, -99]);
    Array.from(out.slice(3, 15)).forEach((v, k) => expect(v, `element ${k}`).toBeCloseTo(want[k]!, 5));
    expect(Array.from(out.slice(15))).toEqual([-99, -99]);
  });
});
