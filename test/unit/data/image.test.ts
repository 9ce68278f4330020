import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadShorterSide, loadSquare } from '../../../src/data/image.ts';
import { patternPixels, tempDir, writeCorrupt } from './fixtures.ts';

describe('image decoding', () => {
  const dir = tempDir();
  const raw = () => sharp(Buffer.from(patternPixels(24, 16, 5)), { raw: { width: 24, height: 16, channels: 3 } });

  it('decodes JPEG, PNG, WebP, GIF, AVIF and SVG to RGB at the asked size', async () => {
    await raw().jpeg().toFile(path.join(dir, 'p.jpg'));
    await raw().png().toFile(path.join(dir, 'p.png'));
    await raw().webp().toFile(path.join(dir, 'p.webp'));
    await raw().gif().toFile(path.join(dir, 'p.gif'));
    await raw().avif().toFile(path.join(dir, 'p.avif'));
    fs.writeFileSync(path.join(dir, 'p.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="16"><rect width="24" height="16" fill="#f00"/></svg>');
    for (const f of ['p.jpg', 'p.png', 'p.webp', 'p.gif', 'p.avif', 'p.svg']) {
      const px = await loadSquare({ path: path.join(dir, f) }, 8, 'cover');
      expect(px.length, f).toBe(8 * 8 * 3);
      // Not a blank page: the pattern (or the red square) came through.
      expect(new Set(px).size, f).toBeGreaterThan(1);
    }
  });

  it('flattens transparency on white and letterboxes art with white', async () => {
    // A 10×20 half-transparent black bar.
    const rgba = new Uint8Array(10 * 20 * 4);
    for (let i = 0; i < 200; i++) rgba[i * 4 + 3] = 128;
    const file = path.join(dir, 'alpha.png');
    await sharp(Buffer.from(rgba), { raw: { width: 10, height: 20, channels: 4 } }).png().toFile(file);
    const px = await loadSquare({ path: file }, 20, 'contain');
    const at = (x: number, y: number) => px[(y * 20 + x) * 3]!;
    expect(at(0, 10)).toBe(255); // letterbox
    expect(Math.abs(at(10, 10) - 127)).toBeLessThanOrEqual(2); // 50% black over white
  });

  it('keeps the aspect for training crops, shorter side as asked', async () => {
    const img = await loadShorterSide({ path: path.join(dir, 'p.png') }, 12);
    expect([img.width, img.height]).toEqual([18, 12]);
  });

  it('names the file that cannot be decoded', async () => {
    const bad = path.join(dir, 'bad.jpg');
    writeCorrupt(bad);
    await expect(loadSquare({ path: bad }, 8, 'cover')).rejects.toThrow(/cannot decode image .*bad\.jpg/);
  });
});
