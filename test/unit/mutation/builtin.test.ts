// The built-in set's sources (src/data/builtin) offline: each source reads a package folder laid
// out as the real package is, written here in miniature into a cache marked complete, so nothing
// is fetched (the PATH is emptied to make sure). Expected values follow from each package's
// documented layout and from the rules in each module's header, worked by hand.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { channelStats, PRESETS, presetVocabSize, splitPairs, storedItem, withLanguages } from '../../../src/data/builtin/build.ts';
import { emojiKey, emojiSources, readEmojibaseLabels } from '../../../src/data/builtin/emoji.ts';
import { fmnistTest, readIdx } from '../../../src/data/builtin/fmnist.ts';
import { gameIconsSource } from '../../../src/data/builtin/gameicons.ts';
import { writeLicenses } from '../../../src/data/builtin/licenses.ts';
import { readStampText, tuxpaintSource } from '../../../src/data/builtin/tuxpaint.ts';
import type { SourcePair } from '../../../src/data/builtin/types.ts';
import { DataError } from '../../../src/data/errors.ts';

let root: string;
const saved = { cache: process.env['COCA_CACHE'], path: process.env['PATH'] };
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-builtin-'));
  process.env['COCA_CACHE'] = root;
  process.env['PATH'] = ''; // a source that tried to fetch would fail
});
afterEach(() => {
  process.env['PATH'] = saved.path;
  if (saved.cache === undefined) delete process.env['COCA_CACHE'];
  else process.env['COCA_CACHE'] = saved.cache;
  fs.rmSync(root, { recursive: true, force: true });
});

/** A fetched package in the cache: its files (relative path → contents) and the completion mark. */
function cached(key: string, files: Record<string, string | Buffer>): string {
  const dir = path.join(root, 'sources', key);
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
  fs.writeFileSync(path.join(dir, '.complete'), `${key}\n`);
  return dir;
}
const json = (x: unknown) => JSON.stringify(x);

describe('emoji', () => {
  it('emojiKey: upper-case code points joined by -, FE0F and empty parts dropped, _ read as -', () => {
    expect(emojiKey('1f469-200d-1f692')).toBe('1F469-200D-1F692');
    expect(emojiKey('2764_fe0f')).toBe('2764');
    expect(emojiKey('FE0F-1f600--')).toBe('1F600');
  });

  it('readEmojibaseLabels: base and skin labels, and the labels of each locale where it has one', () => {
    const en = path.join(root, 'en.json');
    const ru = path.join(root, 'ru.json');
    fs.writeFileSync(en, json([
      { label: 'dog face', hexcode: '1F436' },
      { label: 'waving hand', hexcode: '1F44B', skins: [{ label: 'waving hand: light skin tone', hexcode: '1F44B-1F3FB' }] },
      { label: 'red heart', hexcode: '2764-FE0F' },
    ]));
    fs.writeFileSync(ru, json([
      { label: 'морда собаки', hexcode: '1F436' },
      { label: '', hexcode: '1F44B', skins: [{ label: 'машет рукой: очень светлый тон кожи', hexcode: '1F44B-1F3FB' }] },
      { label: 'не в английском', hexcode: '1F9FF' },
    ]));
    const labels = readEmojibaseLabels(en, { ru });
    expect([...labels.entries()]).toEqual([
      ['1F436', { label: 'dog face', base: '1F436', tone: false, translations: { ru: 'морда собаки' } }],
      ['1F44B', { label: 'waving hand', base: '1F44B', tone: false }],
      ['1F44B-1F3FB', { label: 'waving hand: light skin tone', base: '1F44B', tone: true, translations: { ru: 'машет рукой: очень светлый тон кожи' } }],
      ['2764', { label: 'red heart', base: '2764', tone: false }],
    ]);
    expect(readEmojibaseLabels(en).get('1F436')).toEqual({ label: 'dog face', base: '1F436', tone: false });
  });

  /** emojibase-data (four locales), OpenMoji, Twemoji's datasource and Fluent 3-D, in miniature. */
  function emojiPackages(): Record<string, string> {
    const base = cached('npm-emojibase-data-17.0.0', {
      'package/en/data.json': json([
        { label: 'Dog Face', hexcode: '1F436' },
        { label: 'waving hand', hexcode: '1F44B', skins: [{ label: 'waving hand: light skin tone', hexcode: '1F44B-1F3FB' }] },
      ]),
      'package/ru/data.json': json([{ label: 'Морда собаки', hexcode: '1F436' }]),
      'package/zh/data.json': json([{ label: '狗脸', hexcode: '1F436' }]),
      'package/ms/data.json': json([]),
    });
    const om = cached('npm-openmoji-17.0.0', {
      'package/data/openmoji.json': json([
        { hexcode: '1F436', annotation: 'dog face (openmoji)', skintone: '', skintone_base_hexcode: '' },
        { hexcode: 'E000', annotation: 'openmoji only', skintone: '', skintone_base_hexcode: '' },
        { hexcode: 'E001', annotation: 'toned', skintone: '1', skintone_base_hexcode: 'E000' },
        { hexcode: 'E003', annotation: 'no picture', skintone: '', skintone_base_hexcode: '' },
      ]),
      'package/color/svg/1F436.svg': '<svg/>',
      'package/color/svg/E000.svg': '<svg/>',
      'package/color/svg/E001.svg': '<svg/>',
    });
    const tw = cached('npm-emoji-datasource-twitter-16.0.0', {
      'package/emoji.json': json([
        { unified: '1F44B', image: '1f44b.png', skin_variations: { '1F3FB': { unified: '1F44B-1F3FB', image: '1f44b-1f3fb.png' } } },
        { unified: '1F436', image: '1f436.png' },
        { unified: '1F9FF', image: '1f9ff.png' }, // named by no one
      ]),
      'package/img/twitter/64/1f44b.png': 'png',
      'package/img/twitter/64/1f44b-1f3fb.png': 'png',
      'package/img/twitter/64/1f436.png': 'png',
      'package/img/twitter/64/1f9ff.png': 'png',
    });
    const fl = cached('npm-lobehub-fluent-emoji-3d-1.1.0', {
      'package/assets/1f436.webp': 'webp',
      'package/assets/e000.webp': 'webp',
      'package/assets/notes.txt': 'not a picture',
    });
    return { base, om, tw, fl };
  }

  it('emojiSources: OpenMoji, then Twemoji, then Fluent; names from emojibase, else OpenMoji; skin tones linked to their base', async () => {
    const { om, tw, fl } = emojiPackages();
    const { pairs, info } = await emojiSources(['fluent', 'twitter', 'openmoji'], {}, ['en', 'ru', 'zh']);
    const twImg = (f: string) => ({ path: path.join(tw, 'package', 'img', 'twitter', '64', f) });
    const omImg = (f: string) => ({ path: path.join(om, 'package', 'color', 'svg', f) });
    const dogI18n = { ru: 'морда собаки', zh: '狗脸' };
    expect(pairs).toEqual<SourcePair[]>([
      { id: 'openmoji/1f436', style: 'openmoji', caption: 'dog face', link: 'emoji:1F436', tone: false, image: omImg('1F436.svg'), translations: dogI18n },
      { id: 'openmoji/e000', style: 'openmoji', caption: 'openmoji only', link: 'emoji:E000', tone: false, image: omImg('E000.svg') },
      { id: 'openmoji/e001', style: 'openmoji', caption: 'toned', link: 'emoji:E000', tone: true, image: omImg('E001.svg') },
      { id: 'twitter/1f44b', style: 'twitter', caption: 'waving hand', link: 'emoji:1F44B', tone: false, image: twImg('1f44b.png') },
      { id: 'twitter/1f44b-1f3fb', style: 'twitter', caption: 'waving hand: light skin tone', link: 'emoji:1F44B', tone: true, image: twImg('1f44b-1f3fb.png') },
      { id: 'twitter/1f436', style: 'twitter', caption: 'dog face', link: 'emoji:1F436', tone: false, image: twImg('1f436.png'), translations: dogI18n },
      { id: 'fluent/1f436', style: 'fluent', caption: 'dog face', link: 'emoji:1F436', tone: false, image: { path: path.join(fl, 'package', 'assets', '1f436.webp') }, translations: dogI18n },
      { id: 'fluent/e000', style: 'fluent', caption: 'openmoji only', link: 'emoji:E000', tone: false, image: { path: path.join(fl, 'package', 'assets', 'e000.webp') } },
    ]);
    expect(info.map((i) => [i.name, i.version, i.role, i.license])).toEqual([
      ['emojibase-data', '17.0.0', 'names', 'MIT'],
      ['openmoji', '17.0.0', 'pictures', 'CC-BY-SA-4.0'],
      ['emoji-datasource-twitter', '16.0.0', 'pictures', 'CC-BY-4.0'],
      ['@lobehub/fluent-emoji-3d', '1.1.0', 'pictures', 'MIT'],
    ]);
    expect(info.every((i) => i.attribution.length > 20)).toBe(true);
  });

  it('emojiSources: Fluent alone still takes OpenMoji names but no OpenMoji pictures; English only gives no translations; Google is fetched only when asked', async () => {
    emojiPackages();
    const { pairs, info } = await emojiSources(['fluent'], {});
    expect(pairs.map((p) => [p.id, p.caption, p.translations])).toEqual([
      ['fluent/1f436', 'dog face', undefined],
      ['fluent/e000', 'openmoji only', undefined],
    ]);
    expect(info.map((i) => i.name)).toEqual(['emojibase-data', '@lobehub/fluent-emoji-3d']);
    // Not in the cache, no npm on the PATH: asking for Google tries to fetch it.
    await expect(emojiSources(['google'], {})).rejects.toThrow(/could not fetch emoji-datasource-google@16\.0\.0/);
  });

  it('Noto (Google) art: its own folder and licence', async () => {
    emojiPackages();
    const g = cached('npm-emoji-datasource-google-16.0.0', { 'package/emoji.json': json([{ unified: '1F436', image: '1f436.png' }]), 'package/img/google/64/1f436.png': 'png' });
    const { pairs, info } = await emojiSources(['google'], {});
    expect(pairs).toEqual([{ id: 'google/1f436', style: 'google', caption: 'dog face', link: 'emoji:1F436', tone: false, image: { path: path.join(g, 'package', 'img', 'google', '64', '1f436.png') } }]);
    expect(info[1]).toMatchObject({ name: 'emoji-datasource-google', version: '16.0.0', role: 'pictures', license: 'Apache-2.0' });
    expect(info[1]!.attribution).toMatch(/Google, Apache License 2\.0/);
  });
});

describe('game-icons', () => {
  it('one SVG per icon in slug order, the set or icon size in the viewBox, the slug as the caption', async () => {
    cached('npm-iconify-json-game-icons-1.2.4', {
      'package/icons.json': json({ width: 256, icons: { 'sitting-dog': { body: '<path d="M0 0"/>' }, 'axe-in-stump': { body: '<g/>', width: 100, height: 50 }, 'bat-wing': { body: '<b/>' } } }),
      'package/info.json': '{}',
    });
    const { pairs, info } = await gameIconsSource({});
    expect(pairs).toEqual([
      { id: 'game-icons/axe-in-stump', style: 'game-icons', caption: 'axe in stump', link: 'game-icons/axe-in-stump', tone: false, image: { svg: '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50" color="#000"><g/></svg>' } },
      { id: 'game-icons/bat-wing', style: 'game-icons', caption: 'bat wing', link: 'game-icons/bat-wing', tone: false, image: { svg: '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="512" viewBox="0 0 256 512" color="#000"><b/></svg>' } },
      { id: 'game-icons/sitting-dog', style: 'game-icons', caption: 'sitting dog', link: 'game-icons/sitting-dog', tone: false, image: { svg: '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="512" viewBox="0 0 256 512" color="#000"><path d="M0 0"/></svg>' } },
    ]);
    expect(info).toEqual([expect.objectContaining({ name: '@iconify-json/game-icons', version: '1.2.4', role: 'pictures', license: 'CC-BY-3.0' })]);
  });
});

// A Debian package installed on this machine is read from / instead of the cache (fetchDeb).
const tuxInstalled = fs.existsSync('/usr/share/tuxpaint/stamps');
const fmnistInstalled = fs.existsSync('/usr/share/datasets/fashion-mnist');

describe('Tux Paint stamps', () => {
  it('readStampText: the first line in English, the translations of the languages asked (zh from zh_CN)', () => {
    const text = 'A  Dog.\nru.utf8=Собака\nzh_CN.utf8=狗\nzh_TW.utf8=狗狗\nms.utf8=\n';
    expect(readStampText(text, ['en', 'ru', 'zh', 'ms', 'xx'])).toEqual({ caption: 'a dog.', translations: { ru: 'собака', zh: '狗' } });
    expect(readStampText('', ['ru'])).toEqual({ caption: '', translations: {} });
  });

  it.skipIf(tuxInstalled)('tuxpaintSource: every .txt with a picture beside it (the SVG before the PNG), sorted, a caption required', async () => {
    const s = 'usr/share/tuxpaint/stamps';
    const dir = cached('deb-tuxpaint-stamps-default', {
      [`${s}/animals/dog.txt`]: 'Dog\nru.utf8=Собака\n',
      [`${s}/animals/dog.png`]: 'png',
      [`${s}/animals/dog.svg`]: 'svg',
      [`${s}/animals/cat.txt`]: 'Cat\n',
      [`${s}/animals/cat.png`]: 'png',
      [`${s}/food/nopicture.txt`]: 'Nothing to show\n',
      [`${s}/food/blank.txt`]: '\nru.utf8=Пусто\n',
      [`${s}/food/blank.png`]: 'png',
    });
    const { pairs, info } = await tuxpaintSource({}, ['en', 'ru']);
    const at = (f: string) => ({ path: path.join(dir, s, f) });
    expect(pairs).toEqual([
      { id: 'tuxpaint/animals/cat', style: 'tuxpaint', caption: 'cat', link: 'tuxpaint/animals/cat', tone: false, image: at('animals/cat.png') },
      { id: 'tuxpaint/animals/dog', style: 'tuxpaint', caption: 'dog', link: 'tuxpaint/animals/dog', tone: false, image: at('animals/dog.svg'), translations: { ru: 'собака' } },
    ]);
    expect(info).toEqual([expect.objectContaining({ name: 'tuxpaint-stamps-default', role: 'pictures', license: 'GPL-2.0' })]);
    // English only by default.
    expect((await tuxpaintSource({})).pairs.some((p) => p.translations)).toBe(false);
  });
});

describe('Fashion-MNIST', () => {
  /** An idx3 image file (magic 0x803, count, rows, columns, pixels) and an idx1 label file (0x801, count, labels). */
  function idx(count: number, rows: number, cols: number, pixels: number[], labels: number[], labelCount = count) {
    const head = (magic: number, ...dims: number[]) => {
      const b = Buffer.alloc(4 * (dims.length + 1));
      [magic, ...dims].forEach((v, i) => b.writeUInt32BE(v, 4 * i));
      return b;
    };
    return { images: Buffer.concat([head(0x803, count, rows, cols), Buffer.from(pixels)]), labels: Buffer.concat([head(0x801, labelCount), Buffer.from(labels)]) };
  }

  it('readIdx: sizes, pixels and labels, plain or gzipped', () => {
    const { images, labels } = idx(2, 2, 3, [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255], [9, 0]);
    fs.writeFileSync(path.join(root, 'i'), images);
    fs.writeFileSync(path.join(root, 'l.gz'), zlib.gzipSync(labels));
    const got = readIdx(path.join(root, 'i'), path.join(root, 'l.gz'));
    expect([got.count, got.width, got.height, [...got.pixels], [...got.labels]]).toEqual([2, 3, 2, [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255], [9, 0]]);
  });

  it('readIdx: the wrong kind of file, or labels not one per image, in one line', () => {
    const { images, labels } = idx(2, 1, 1, [0, 1], [0, 1]);
    const [i, l] = [path.join(root, 'i'), path.join(root, 'l')];
    fs.writeFileSync(i, images);
    fs.writeFileSync(l, images); // images where labels belong
    expect(() => readIdx(i, l)).toThrow(new DataError(`${i} or ${l} is not an idx file`));
    fs.writeFileSync(l, labels);
    fs.writeFileSync(i, labels);
    expect(() => readIdx(i, l)).toThrow(new DataError(`${i} or ${l} is not an idx file`));
    fs.writeFileSync(i, images);
    fs.writeFileSync(l, idx(2, 1, 1, [0, 1], [0, 1, 2], 3).labels);
    expect(() => readIdx(i, l)).toThrow(new DataError(`${l} has 3 labels for 2 images`));
  });

  it.skipIf(fmnistInstalled)('fmnistTest: the t10k files, inverted to dark on white', async () => {
    const d = 'usr/share/datasets/fashion-mnist';
    const { images, labels } = idx(2, 1, 2, [0, 255, 10, 200], [5, 8]);
    cached('deb-dataset-fashion-mnist', { [`${d}/t10k-images-idx3-ubyte.gz`]: zlib.gzipSync(images), [`${d}/t10k-labels-idx1-ubyte.gz`]: zlib.gzipSync(labels) });
    const { images: got, info } = await fmnistTest({});
    expect([got.count, got.width, got.height, [...got.pixels], [...got.labels]]).toEqual([2, 2, 1, [255, 0, 245, 55], [5, 8]]);
    expect(info).toMatchObject({ name: 'dataset-fashion-mnist', role: 'pictures', license: 'MIT' });
  });
});

describe('licences', () => {
  it('LICENSES.md: the header and one table row per source', () => {
    writeLicenses(root, [
      { role: 'pictures', name: 'a', version: '1', license: 'MIT', attribution: 'A by x.' },
      { role: 'names', name: 'b', version: 'Debian bookworm', license: 'GPL-2.0', attribution: 'B.' },
    ]);
    const text = fs.readFileSync(path.join(root, 'LICENSES.md'), 'utf8');
    expect(text.split('\n')).toEqual([
      '# Sources of this dataset',
      '',
      'Built by `coca data build` from packaged art. Each picture keeps the licence of its source;',
      'the CC BY and CC BY-SA sources require the attribution below when the pictures are shared,',
      'and the Tux Paint stamps are under the GNU GPL 2.',
      '',
      '| source | version | licence | attribution |',
      '|---|---|---|---|',
      '| a | 1 | MIT | A by x. |',
      '| b | Debian bookworm | GPL-2.0 | B. |',
      '',
    ]);
  });
});

describe('the build plan', () => {
  it('withLanguages: English first, then the others once each in the order given; the vocabulary grows with more than one', () => {
    const p = withLanguages(PRESETS.small, ['ru', 'en', 'zh', 'ru']);
    expect(p.languages).toEqual(['en', 'ru', 'zh']);
    expect({ ...p, languages: PRESETS.small.languages }).toEqual(PRESETS.small);
    expect(presetVocabSize(PRESETS.small)).toBe(1024);
    expect(presetVocabSize(p)).toBe(2048);
    expect(presetVocabSize(withLanguages(PRESETS.full, ['en']))).toBe(2048);
    expect(presetVocabSize(PRESETS.full)).toBe(4096);
  });

  it('storedItem: English in captions, the other languages in i18n, none when there are none', () => {
    const base = { id: 'x/1', style: 'twitter', caption: 'dog', link: 'l', tone: false, image: { path: '/p' }, group: 'dog' };
    expect(storedItem(base)).toEqual({ id: 'x/1', captions: ['dog'], group: 'dog', style: 'twitter' });
    expect(storedItem({ ...base, translations: { ru: 'собака', zh: '狗' } })).toEqual({ id: 'x/1', captions: ['dog'], group: 'dog', style: 'twitter', i18n: { ru: ['собака'], zh: ['狗'] } });
    expect(storedItem({ ...base, translations: {} })).not.toHaveProperty('i18n');
  });

  it('splitPairs: a concept on one side; Fluent art only in test-style and only of train concepts', () => {
    const pairs: SourcePair[] = [];
    for (let c = 0; c < 300; c++) {
      for (const style of ['twitter', 'openmoji', 'fluent']) pairs.push({ id: `${style}/${c}`, style, caption: `concept number ${c}`, link: `emoji:${c}`, tone: false, image: { path: '/p' } });
    }
    pairs.push({ id: 'fluent/only', style: 'fluent', caption: 'fluent only', link: 'emoji:only', tone: false, image: { path: '/p' } });
    const s = splitPairs(pairs, 7);
    const sideOf = new Map<string, string>();
    for (const split of ['train', 'val', 'test-concept'] as const) {
      for (const p of s[split]) {
        expect(p.style).not.toBe('fluent');
        const c = p.id.split('/')[1]!;
        expect(sideOf.get(c) ?? split, p.id).toBe(split);
        sideOf.set(c, split);
      }
    }
    expect(sideOf.size).toBe(300); // every non-Fluent concept placed
    expect(s.train.length + s.val.length + s['test-concept'].length).toBe(600);
    expect(s['test-style'].map((p) => p.id).sort()).toEqual([...sideOf].filter(([, v]) => v === 'train').map(([c]) => `fluent/${c}`).sort());
    // 5 % and 5 % of 300 concepts: each held-out side is used.
    expect(s.val.length).toBeGreaterThan(0);
    expect(s['test-concept'].length).toBeGreaterThan(0);
    expect(s.train[0]!.group).toBe(`concept number ${s.train[0]!.id.split('/')[1]}`);
  });

  it('channelStats: mean and standard deviation per channel on [0, 1], rounded to 6 decimals, a flat channel at 1e-6', () => {
    const file = path.join(root, 'x.u8');
    // Two RGB pixels: (0, 255, 51) and (255, 255, 102) → R 0 and 1, G 1 and 1, B 0.2 and 0.4.
    fs.writeFileSync(file, Buffer.from([0, 255, 51, 255, 255, 102]));
    expect(channelStats(file)).toEqual({ mean: [0.5, 1, 0.3], std: [0.5, 0.000001, 0.1] });
  });
});
