// `coca data build` end to end, offline: every source package in miniature in a cache marked
// complete (real SVG, PNG and WebP pictures, an idx pair), built at 8 and 4 px with a tokenizer of
// a few hundred ids. What is checked follows from build.ts's header and the manifest's meaning:
// which pairs reach which split, the sizes of the picture files, what a skipped picture costs,
// the licences and the sources' counts, and the swap of a finished build into place.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBuiltin, channelStats, type BuildPreset } from '../../../src/data/builtin/build.ts';
import { FMNIST_CLASSES } from '../../../src/data/builtin/fmnist.ts';
import { hashString } from '../../../src/data/rng.ts';

let root: string;
const saved = { cache: process.env['COCA_CACHE'], path: process.env['PATH'] };
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-build-'));
  process.env['COCA_CACHE'] = path.join(root, 'cache');
  process.env['PATH'] = ''; // nothing may be fetched
});
afterEach(() => {
  process.env['PATH'] = saved.path;
  if (saved.cache === undefined) delete process.env['COCA_CACHE'];
  else process.env['COCA_CACHE'] = saved.cache;
  fs.rmSync(root, { recursive: true, force: true });
});

function cached(key: string, files: Record<string, string | Buffer>): void {
  const dir = path.join(root, 'cache', 'sources', key);
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
  fs.writeFileSync(path.join(dir, '.complete'), `${key}\n`);
}
const json = (x: unknown) => JSON.stringify(x);
const svg = (fill: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="${fill}"/></svg>`;
const raster = (format: 'png' | 'webp', r: number) => sharp({ create: { width: 6, height: 6, channels: 3, background: { r, g: 40, b: 200 } } })[format]().toBuffer();

async function sources(): Promise<void> {
  cached('npm-emojibase-data-17.0.0', {
    'package/en/data.json': json([
      { label: 'dog face', hexcode: '1F436' },
      { label: 'cat face', hexcode: '1F431' },
      { label: 'waving hand', hexcode: '1F44B', skins: [{ label: 'waving hand: light skin tone', hexcode: '1F44B-1F3FB' }] },
    ]),
    'package/ru/data.json': '[]',
    'package/zh/data.json': '[]',
    'package/ms/data.json': '[]',
  });
  cached('npm-openmoji-17.0.0', {
    'package/data/openmoji.json': json([
      { hexcode: '1F436', annotation: 'dog face', skintone: '', skintone_base_hexcode: '' },
      { hexcode: '1F431', annotation: 'cat face', skintone: '', skintone_base_hexcode: '' },
    ]),
    'package/color/svg/1F436.svg': svg('#a00'),
    'package/color/svg/1F431.svg': svg('#0a0'),
  });
  cached('npm-emoji-datasource-twitter-16.0.0', {
    'package/emoji.json': json([
      { unified: '1F44B', image: '1f44b.png', skin_variations: { '1F3FB': { unified: '1F44B-1F3FB', image: '1f44b-1f3fb.png' } } },
      { unified: '1F436', image: '1f436.png' },
      { unified: '1F431', image: '1f431.png' },
    ]),
    'package/img/twitter/64/1f44b.png': await raster('png', 10),
    'package/img/twitter/64/1f44b-1f3fb.png': await raster('png', 20),
    'package/img/twitter/64/1f436.png': await raster('png', 30),
    'package/img/twitter/64/1f431.png': 'not a PNG', // the picture the build skips
  });
  cached('npm-lobehub-fluent-emoji-3d-1.1.0', { 'package/assets/1f436.webp': await raster('webp', 50), 'package/assets/1f431.webp': await raster('webp', 60) });
  cached('npm-iconify-json-game-icons-1.2.4', {
    'package/icons.json': json({ width: 16, height: 16, icons: { 'sitting-dog': { body: '<path d="M0 0h8v8z"/>' }, 'axe-in-stump': { body: '<path d="M8 8h8v8z"/>' }, 'tall-tower': { body: '<path d="M0 8h8v8z"/>' } } }),
    'package/info.json': '{}',
  });
  const s = 'usr/share/tuxpaint/stamps';
  cached('deb-tuxpaint-stamps-default', { [`${s}/nature/tree.txt`]: 'A tree\n', [`${s}/nature/tree.png`]: await raster('png', 70) });
  const idx = (magic: number, dims: number[], body: number[]) => {
    const b = Buffer.alloc(4 * (dims.length + 1));
    [magic, ...dims].forEach((v, i) => b.writeUInt32BE(v, 4 * i));
    return zlib.gzipSync(Buffer.concat([b, Buffer.from(body)]));
  };
  const d = 'usr/share/datasets/fashion-mnist';
  cached('deb-dataset-fashion-mnist', {
    [`${d}/t10k-images-idx3-ubyte.gz`]: idx(0x803, [5, 2, 2], Array.from({ length: 20 }, (_, i) => i * 12)),
    [`${d}/t10k-labels-idx1-ubyte.gz`]: idx(0x801, [5], [0, 1, 2, 3, 9]),
  });
}

const preset: BuildPreset = { name: 'builtin-test', sizes: [8, 4], emojiStyles: ['openmoji', 'twitter', 'fluent'], tones: false, gameIcons: 2, vocabSize: 300, multilingualVocabSize: 400, fmnist: 3, languages: ['en'] };
const lines = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; captions: string[]; label?: number; style?: string });
const installed = fs.existsSync('/usr/share/tuxpaint/stamps') || fs.existsSync('/usr/share/datasets/fashion-mnist');

describe.skipIf(installed)('buildBuiltin from miniature sources', () => {
  it('builds every split at every size, skips the undecodable picture, counts each source, and can build again in place', async () => {
    await sources();
    const out = path.join(root, 'out');
    const log: string[] = [];
    const progress = new Map<string, [number, number]>();
    const { dir, manifest } = await buildBuiltin({ preset, out, seed: 5, log: (l) => log.push(l), progress: (s, done, total) => progress.set(s, [done, total]), concurrency: 2 });
    expect(dir).toBe(out);

    // Pairs without tones: OpenMoji dog and cat, Twemoji wave, dog and cat (undecodable), Tux Paint's tree, two of three icons.
    const items = Object.fromEntries(['train', 'val', 'test-concept', 'test-style', 'test-fmnist'].map((s) => [s, lines(path.join(out, `${s}.jsonl`))]));
    const seen = [...items['train']!, ...items['val']!, ...items['test-concept']!];
    const icons = ['game-icons/axe-in-stump', 'game-icons/sitting-dog', 'game-icons/tall-tower'].sort((a, b) => hashString(a, 5) - hashString(b, 5)).slice(0, 2);
    expect(seen.map((i) => i.id).sort()).toEqual(['openmoji/1f431', 'openmoji/1f436', 'twitter/1f436', 'twitter/1f44b', 'tuxpaint/nature/tree', ...icons].sort());
    // Fluent art only for concepts on the train side.
    const trainCaptions = new Set(items['train']!.map((i) => i.captions[0]));
    expect(items['test-style']!.map((i) => i.id).sort()).toEqual(['fluent/1f431', 'fluent/1f436'].filter((id) => trainCaptions.has(id.endsWith('1f436') ? 'dog face' : 'cat face')));
    expect(items['test-style']!.every((i) => i.style === 'fluent')).toBe(true);

    // The picture files: count × size² × 3 bytes at each size.
    for (const [split, list] of Object.entries(items)) {
      expect(manifest.splits[split]!.count, split).toBe(list.length);
      for (const s of [8, 4]) expect(fs.statSync(path.join(out, `${split}.${s}px.u8`)).size, `${split} ${s}`).toBe(list.length * s * s * 3);
      // Progress counts every planned picture, the skipped one too; a split with none reports nothing.
      if (split !== 'test-fmnist') expect(progress.get(split), split).toEqual(planned(list) ? [planned(list), planned(list)] : undefined);
    }
    // Fashion-MNIST: 3 of 5 picked by seeded hash, in index order, named by their class.
    const picked = [0, 1, 2, 3, 4].sort((a, b) => hashString(`fm${a}`, 5) - hashString(`fm${b}`, 5)).slice(0, 3).sort((a, b) => a - b);
    const labels = [0, 1, 2, 3, 9];
    expect(items['test-fmnist']).toEqual(picked.map((i) => ({ id: `fmnist/${i}`, captions: [FMNIST_CLASSES[labels[i]!]], label: labels[i], style: 'fashion-mnist' })));
    expect(progress.get('test-fmnist')).toEqual([3, 3]);

    expect(manifest.build.skipped).toBe(1);
    expect(log.filter((l) => l.startsWith('warning'))).toEqual([expect.stringMatching(/^warning: skipped 1 pictures that could not be decoded, first: twitter\/1f431 \(.+\)$/)]);
    expect(log).toContain(`learning a 300-token byte-level BPE on ${planned(items['train']!)} train captions`);
    expect([manifest.name, manifest.imageSizes, manifest.seed, manifest.languages, manifest.build.preset]).toEqual(['builtin-test', [8, 4], 5, ['en'], 'builtin-test']);
    expect(manifest.classes).toEqual({ 'test-fmnist': FMNIST_CLASSES });
    expect(manifest.splits['test-style']!.about).toBe('Fluent 3-D emoji (a style never seen in training) of concepts seen in training');
    expect(manifest).toMatchObject(channelStats(path.join(out, 'train.8px.u8')));
    expect(manifest.tokenizer.file).toBe('tokenizer.json');
    expect(manifest.tokenizer.vocabSize).toBeLessThanOrEqual(300);
    expect(manifest.build.bytes).toBe(fs.readdirSync(out).reduce((n, f) => n + (f === 'manifest.json' ? 0 : fs.statSync(path.join(out, f)).size), 0));
    // Each picture source with the pairs it gave (the skipped one counted: it was planned).
    expect(manifest.sources.map((s) => [s.name, s.role, s.pairs])).toEqual([
      ['emojibase-data', 'names', 0],
      ['openmoji', 'pictures', 2],
      ['emoji-datasource-twitter', 'pictures', 3],
      ['@lobehub/fluent-emoji-3d', 'pictures', items['test-style']!.length],
      ['tuxpaint-stamps-default', 'pictures', 1],
      ['@iconify-json/game-icons', 'pictures', 2],
      ['dataset-fashion-mnist', 'pictures', 3],
    ]);
    expect(fs.readFileSync(path.join(out, 'LICENSES.md'), 'utf8').split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| source'))).toHaveLength(7);
    expect(fs.readdirSync(root).sort()).toEqual(['cache', 'out']); // no temporary folder left

    // Again into the same folder: replaced whole.
    fs.writeFileSync(path.join(out, 'val.16px.u8'), 'from a build at another size');
    await buildBuiltin({ preset, out, seed: 5 });
    expect(fs.existsSync(path.join(out, 'val.16px.u8'))).toBe(false);
    expect(fs.readdirSync(root).sort()).toEqual(['cache', 'out']);
    // A file a build does not write keeps the old build where it is.
    fs.writeFileSync(path.join(out, 'my-notes.md'), 'mine');
    await expect(buildBuiltin({ preset, out, seed: 5 })).rejects.toThrow(`${out} holds files a build does not write (my-notes.md); move them out or build into a new --out, nothing was changed`);
    expect(fs.readFileSync(path.join(out, 'my-notes.md'), 'utf8')).toBe('mine');
    expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(true);
    expect(fs.readdirSync(root).sort()).toEqual(['cache', 'out']);
  });

  it('--strict: the undecodable picture stops the build and nothing is left behind', async () => {
    await sources();
    const out = path.join(root, 'strict');
    await expect(buildBuiltin({ preset, out, seed: 5, strict: true })).rejects.toThrow();
    expect(fs.readdirSync(root).sort()).toEqual(['cache']);
  });
});

/** The pictures a split planned: those kept, and Twemoji's undecodable cat on the side of its concept (where OpenMoji's cat is). */
function planned(list: { id: string }[]): number {
  return list.length + (list.some((i) => i.id === 'openmoji/1f431') ? 1 : 0);
}
