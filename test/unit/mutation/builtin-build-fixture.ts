// Miniature source packages for buildBuiltin, in a cache marked complete (nothing is fetched):
// Google and Twemoji art, OpenMoji, Fluent, emojibase's English and Russian names, Tux Paint
// stamps with a Russian line, three game icons and five Fashion-MNIST pictures. Each test of
// builtin-build-more.test.ts asks for the parts it needs; what a build must do with them is
// written in the tests from build.ts's header and the manifest's meaning.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';

export interface Miniature {
  /** Every picture file replaced by bytes no decoder reads. */
  broken?: boolean;
  /** Tux Paint's .txt without its Russian line. */
  noRussianStamp?: boolean;
  /** Cache keys left out (a source that would have to be fetched). */
  without?: string[];
  /** Game icons' slugs (default three). */
  icons?: string[];
}

function cached(cache: string, key: string, files: Record<string, string | Buffer>, o: Miniature = {}): void {
  if (o.without?.includes(key)) return;
  const dir = path.join(cache, 'sources', key);
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
  fs.writeFileSync(path.join(dir, '.complete'), `${key}\n`);
}

const json = (x: unknown) => JSON.stringify(x);

/** Writes the miniature packages under `cache` (COCA_CACHE). */
export async function writeMiniatureSources(cache: string, o: Miniature = {}): Promise<void> {
  const put = (key: string, files: Record<string, string | Buffer>) => cached(cache, key, files, o);
  const png = async (r: number) => (o.broken ? 'not a PNG' : await sharp({ create: { width: 6, height: 6, channels: 3, background: { r, g: 40, b: 200 } } }).png().toBuffer());
  const webp = async (r: number) => (o.broken ? 'not a WebP' : await sharp({ create: { width: 6, height: 6, channels: 3, background: { r, g: 90, b: 10 } } }).webp().toBuffer());
  const svg = (fill: string) => (o.broken ? 'not an SVG' : `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="${fill}"/></svg>`);
  put('npm-emojibase-data-17.0.0', {
    'package/en/data.json': json([
      { label: 'dog face', hexcode: '1F436' },
      { label: 'cat face', hexcode: '1F431' },
      { label: 'waving hand', hexcode: '1F44B', skins: [{ label: 'waving hand: light skin tone', hexcode: '1F44B-1F3FB' }] },
    ]),
    'package/ru/data.json': json([
      { label: 'морда собаки', hexcode: '1F436' },
      { label: 'морда кошки', hexcode: '1F431' },
    ]),
    'package/zh/data.json': '[]',
    'package/ms/data.json': '[]',
  });
  put('npm-openmoji-17.0.0', {
    'package/data/openmoji.json': json([{ hexcode: '1F436', annotation: 'dog face', skintone: '', skintone_base_hexcode: '' }]),
    'package/color/svg/1F436.svg': svg('#a00'),
  });
  for (const style of ['google', 'twitter'] as const) {
    put(`npm-emoji-datasource-${style}-16.0.0`, {
      'package/emoji.json': json([
        { unified: '1F44B', image: '1f44b.png', skin_variations: { '1F3FB': { unified: '1F44B-1F3FB', image: '1f44b-1f3fb.png' } } },
        { unified: '1F436', image: '1f436.png' },
        { unified: '1F431', image: '1f431.png' },
      ]),
      [`package/img/${style}/64/1f44b.png`]: await png(10),
      [`package/img/${style}/64/1f44b-1f3fb.png`]: await png(20),
      [`package/img/${style}/64/1f436.png`]: await png(30),
      [`package/img/${style}/64/1f431.png`]: await png(40),
    });
  }
  put('npm-lobehub-fluent-emoji-3d-1.1.0', { 'package/assets/1f436.webp': await webp(50), 'package/assets/1f431.webp': await webp(60) });
  put('npm-iconify-json-game-icons-1.2.4', {
    'package/icons.json': json({ width: 16, height: 16, icons: Object.fromEntries((o.icons ?? ['sitting-dog', 'axe-in-stump', 'tall-tower']).map((slug, i) => [slug, { body: `<path d="M${i % 8} 0h8v8z"/>` }])) }),
    'package/info.json': '{}',
  });
  const s = 'usr/share/tuxpaint/stamps';
  put('deb-tuxpaint-stamps-default', {
    [`${s}/nature/tree.txt`]: o.noRussianStamp ? 'A tree\n' : 'A tree\nru.utf8=Дерево\n',
    [`${s}/nature/tree.png`]: await png(70),
  });
  const idx = (magic: number, dims: number[], body: number[]) => {
    const b = Buffer.alloc(4 * (dims.length + 1));
    [magic, ...dims].forEach((v, i) => b.writeUInt32BE(v, 4 * i));
    return zlib.gzipSync(Buffer.concat([b, Buffer.from(body)]));
  };
  const d = 'usr/share/datasets/fashion-mnist';
  put('deb-dataset-fashion-mnist', {
    [`${d}/t10k-images-idx3-ubyte.gz`]: idx(0x803, [5, 2, 2], Array.from({ length: 20 }, (_, i) => i * 12)),
    [`${d}/t10k-labels-idx1-ubyte.gz`]: idx(0x801, [5], [0, 1, 2, 3, 9]),
  });
}

export type Item = { id: string; captions: string[]; i18n?: Record<string, string[]>; label?: number; style?: string; group?: string };

/** A split's items as written (one JSON object a line). */
export function readItems(file: string): Item[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Item);
}
