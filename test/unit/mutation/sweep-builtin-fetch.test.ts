// The built-in sources fetched (src/data/builtin): what the ninth pass left "untested offline" —
// the members each source asks `npm pack` / `apt-get download` + `dpkg-deb` to unpack, which
// packages a build fetches at all, the order of Tux Paint's stamps, and the credits each source
// records. `npm`, `apt-get` and `dpkg-deb` are stand-ins first on the PATH (as in fetch.test.ts;
// tar is the real one), serving miniature packages that hold, beside what a build reads, files it
// does not (fetch.ts's header: "each unpacked once (only the members a build reads)"). The
// expected sets of unpacked files are written out by hand: what each source opens, and the
// package's licence record kept beside the art (Debian's copyright file, Iconify's info.json,
// which names the set's author and licence).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emojiSources } from '../../../src/data/builtin/emoji.ts';
import { fmnistTest } from '../../../src/data/builtin/fmnist.ts';
import { gameIconsSource } from '../../../src/data/builtin/gameicons.ts';
import { tuxpaintSource } from '../../../src/data/builtin/tuxpaint.ts';

let root: string;
let bin: string;
let calls: string;
const saved = { cache: process.env['COCA_CACHE'], path: process.env['PATH'] };

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-sweep-fetch-'));
  bin = path.join(root, 'bin');
  fs.mkdirSync(bin);
  calls = path.join(root, 'calls.log');
  fs.writeFileSync(calls, '');
  process.env['COCA_CACHE'] = path.join(root, 'cache');
  process.env['PATH'] = `${bin}:/usr/bin:/bin`;
});
afterEach(() => {
  process.env['PATH'] = saved.path;
  if (saved.cache === undefined) delete process.env['COCA_CACHE'];
  else process.env['COCA_CACHE'] = saved.cache;
  fs.rmSync(root, { recursive: true, force: true });
});

const json = (x: unknown) => JSON.stringify(x);
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function tool(name: string, body: string): void {
  const file = path.join(bin, name);
  fs.writeFileSync(file, `#!/bin/sh\necho "${name} $*" >> ${sh(calls)}\n${body}\n`);
  fs.chmodSync(file, 0o755);
}
const called = (name: string) =>
  fs
    .readFileSync(calls, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${name} `));

/** A folder holding these files (relative path → contents). */
function tree(dir: string, files: Record<string, string | Buffer>): string {
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
  return dir;
}

/** Every file under dir, relative, sorted; [] when there is no such folder. */
function files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else out.push(path.relative(dir, path.join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

/** `npm pack NAME@VERSION --pack-destination DIR …` for these packages (NAME@VERSION → files under package/). */
function fakeNpm(pkgs: Record<string, Record<string, string | Buffer>>): void {
  const cases = Object.entries(pkgs).map(([spec, pkg], i) => {
    const src = tree(path.join(root, `npm-src-${i}`), Object.fromEntries(Object.entries(pkg).map(([k, v]) => [`package/${k}`, v])));
    const tgz = path.join(root, `npm-${i}.tgz`);
    execFileSync('tar', ['-czf', tgz, '-C', src, 'package']);
    return `  ${sh(spec)}) cp ${sh(tgz)} "$4/pkg-${i}.tgz"; echo "pkg-${i}.tgz" ;;`;
  });
  tool('npm', `case "$2" in\n${cases.join('\n')}\n  *) echo "npm error 404 $2" >&2; exit 1 ;;\nesac`);
}

/** `apt-get download -qq NAME` writing NAME_1_all.deb (a plain tar of these files) and `dpkg-deb --fsys-tarfile` printing it. */
function fakeApt(name: string, files: Record<string, string | Buffer>): void {
  const src = tree(path.join(root, 'deb-src'), files);
  const deb = path.join(root, `${name}.tar`);
  execFileSync('tar', ['-cf', deb, '-C', src, ...fs.readdirSync(src)]);
  tool('apt-get', `[ "$3" = ${sh(name)} ] && cp ${sh(deb)} ${sh(`${name}_1_all.deb`)}`);
  tool('dpkg-deb', '[ "$1" = --fsys-tarfile ] && cat "$2"');
}

const cacheOf = (key: string) => files(path.join(root, 'cache', 'sources', key));

describe('game-icons, fetched', () => {
  it('unpacks icons.json and its licence record info.json only, and credits the artists under CC BY 3.0', async () => {
    fakeNpm({
      '@iconify-json/game-icons@1.2.4': {
        'icons.json': json({ width: 512, height: 512, icons: { 'sitting-dog': { body: '<path/>' } } }),
        'info.json': json({ name: 'Game Icons', author: { name: 'GameIcons' }, license: { title: 'CC BY 3.0', spdx: 'CC-BY-3.0' } }),
        'README.md': 'not read',
        'index.js': 'not read',
      },
    });
    const { pairs, info } = await gameIconsSource({});
    expect(pairs.map((p) => p.id)).toEqual(['game-icons/sitting-dog']);
    expect(cacheOf('npm-iconify-json-game-icons-1.2.4')).toEqual(['.complete', 'package/icons.json', 'package/info.json']);
    // CC BY asks for the creators and the licence to be named.
    expect(info[0]!.attribution).toMatch(/game-icons\.net/);
    expect(info[0]!.attribution).toMatch(/CC BY 3\.0/);
  });
});

describe('emoji, fetched', () => {
  const PKGS = {
    'emojibase-data@17.0.0': {
      'en/data.json': json([{ label: 'dog face', hexcode: '1F436' }]),
      'ru/data.json': json([{ label: 'морда собаки', hexcode: '1F436' }]),
      'zh/data.json': json([{ label: '狗脸', hexcode: '1F436' }]),
      'ms/data.json': json([{ label: 'muka anjing', hexcode: '1F436' }]),
      'de/data.json': json([{ label: 'Hundegesicht', hexcode: '1F436' }]), // a locale no build reads
      'en/messages.json': '{}',
      'en/shortcodes/cldr.json': '{}',
    },
    'openmoji@17.0.0': {
      'data/openmoji.json': json([
        { hexcode: '1F436', annotation: 'dog face', skintone: '', skintone_base_hexcode: '' },
        { hexcode: 'E000', annotation: 'openmoji only', skintone: '', skintone_base_hexcode: '' },
      ]),
      'color/svg/1F436.svg': '<svg/>',
      'color/svg/E000.svg': '<svg/>',
      'black/svg/1F436.svg': '<svg/>',
      'color/618x618/1F436.png': 'png',
    },
    'emoji-datasource-twitter@16.0.0': {
      'emoji.json': json([
        { unified: '1F436', image: '1f436.png' },
        { unified: 'E000', image: 'e000.png' }, // named by OpenMoji only
      ]),
      'img/twitter/64/1f436.png': 'png',
      'img/twitter/64/e000.png': 'png',
      'img/twitter/32/1f436.png': 'png',
      'img/twitter/sheets/64.png': 'png',
    },
    'emoji-datasource-google@16.0.0': {
      'emoji.json': json([{ unified: '1F436', image: '1f436.png' }]),
      'img/google/64/1f436.png': 'png',
      'img/google/32/1f436.png': 'png',
    },
    '@lobehub/fluent-emoji-3d@1.1.0': {
      'assets/1f436.webp': 'webp',
      'README.md': 'not read',
    },
  };

  it('unpacks from each package only what the build reads: every locale it knows, the 64 px art, the colour SVGs', async () => {
    fakeNpm(PKGS);
    const { pairs } = await emojiSources(['openmoji', 'twitter', 'google', 'fluent'], {}, ['en', 'ru']);
    expect(pairs.map((p) => p.id)).toEqual(['openmoji/1f436', 'openmoji/e000', 'google/1f436', 'twitter/1f436', 'twitter/e000', 'fluent/1f436']);
    expect(cacheOf('npm-emojibase-data-17.0.0')).toEqual(['.complete', 'package/en/data.json', 'package/ms/data.json', 'package/ru/data.json', 'package/zh/data.json']);
    expect(cacheOf('npm-openmoji-17.0.0')).toEqual(['.complete', 'package/color/svg/1F436.svg', 'package/color/svg/E000.svg', 'package/data/openmoji.json']);
    expect(cacheOf('npm-emoji-datasource-twitter-16.0.0')).toEqual(['.complete', 'package/emoji.json', 'package/img/twitter/64/1f436.png', 'package/img/twitter/64/e000.png']);
    expect(cacheOf('npm-emoji-datasource-google-16.0.0')).toEqual(['.complete', 'package/emoji.json', 'package/img/google/64/1f436.png']);
    expect(cacheOf('npm-lobehub-fluent-emoji-3d-1.1.0')).toEqual(['.complete', 'package/assets/1f436.webp']);
  });

  it('OpenMoji alone: its own pictures; Twemoji alone: OpenMoji neither fetched nor used for names', async () => {
    fakeNpm(PKGS);
    const om = await emojiSources(['openmoji'], {});
    expect(om.pairs.map((p) => [p.id, p.caption])).toEqual([
      ['openmoji/1f436', 'dog face'],
      ['openmoji/e000', 'openmoji only'],
    ]);
    fs.writeFileSync(calls, '');
    fs.rmSync(path.join(root, 'cache'), { recursive: true, force: true });
    const tw = await emojiSources(['twitter'], {});
    // E000 has no name without OpenMoji's annotations, so its Twemoji picture is left out.
    expect(tw.pairs.map((p) => p.id)).toEqual(['twitter/1f436']);
    expect(called('npm').map((l) => l.split(' ')[2])).toEqual(['emojibase-data@17.0.0', 'emoji-datasource-twitter@16.0.0']);
  });

  it("each art's credit names its makers and licence", async () => {
    fakeNpm(PKGS);
    const { info } = await emojiSources(['openmoji', 'twitter', 'google', 'fluent'], {});
    const credit = Object.fromEntries(info.map((i) => [i.name, i.attribution]));
    expect(credit['emoji-datasource-twitter']).toMatch(/Twemoji .*Twitter.*CC BY 4\.0/);
    expect(credit['emoji-datasource-google']).toMatch(/Noto Emoji .*Google.*Apache License 2\.0/);
    expect(credit['openmoji']).toMatch(/OpenMoji.*CC BY-SA 4\.0/);
    expect(credit['@lobehub/fluent-emoji-3d']).toMatch(/Microsoft.*MIT/);
    expect(credit['emojibase-data']).toMatch(/emojibase-data.*CLDR/);
  });
});

// A Debian package installed on this machine is read from / instead of fetched (fetchDeb).
const fmnistInstalled = fs.existsSync('/usr/share/datasets/fashion-mnist');
const tuxInstalled = fs.existsSync('/usr/share/tuxpaint/stamps');

describe('Debian packages, fetched', () => {
  it.skipIf(fmnistInstalled)('Fashion-MNIST: unpacks the t10k files and the copyright only; credits Zalando, MIT, from Debian', async () => {
    const D = 'usr/share/datasets/fashion-mnist';
    const be = (...v: number[]) => Buffer.concat(v.map((x) => Buffer.from([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255])));
    fakeApt('dataset-fashion-mnist', {
      [`${D}/t10k-images-idx3-ubyte.gz`]: zlib.gzipSync(Buffer.concat([be(0x803, 1, 1, 2), Buffer.from([0, 255])])),
      [`${D}/t10k-labels-idx1-ubyte.gz`]: zlib.gzipSync(Buffer.concat([be(0x801, 1), Buffer.from([7])])),
      [`${D}/train-images-idx3-ubyte.gz`]: 'not read',
      [`${D}/train-labels-idx1-ubyte.gz`]: 'not read',
      'usr/share/doc/dataset-fashion-mnist/copyright': 'MIT',
      'usr/share/doc/dataset-fashion-mnist/changelog.Debian.gz': 'not read',
    });
    const { images, info } = await fmnistTest({});
    expect([images.count, images.width, images.height, [...images.pixels], [...images.labels]]).toEqual([1, 2, 1, [255, 0], [7]]);
    expect(cacheOf('deb-dataset-fashion-mnist')).toEqual([
      '.complete',
      'usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz',
      'usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz',
      'usr/share/doc/dataset-fashion-mnist/copyright',
    ]);
    expect(info.version).toMatch(/^Debian \w+/);
    expect(info.attribution).toMatch(/Zalando.*MIT/);
  });

  it.skipIf(tuxInstalled)('Tux Paint: unpacks pictures, texts and the copyright only; stamps in the order of their paths; credits the project, GPL 2, from Debian', async () => {
    const S = 'usr/share/tuxpaint/stamps';
    fakeApt('tuxpaint-stamps-default', {
      [`${S}/animals/dog.txt`]: 'Dog\n',
      [`${S}/animals/dog.png`]: 'png',
      [`${S}/animals/dog.ogg`]: 'a sound: not read',
      [`${S}/animals/cat.txt`]: 'Cat\n',
      [`${S}/animals/cat.svg`]: '<svg/>',
      // Beside the folder animals/: "animals-x" sorts before "animals/" ('-' < '/'), though a walk
      // of the folder lists the folder first.
      [`${S}/animals-x.txt`]: 'Axe\n',
      [`${S}/animals-x.png`]: 'png',
      'usr/share/doc/tuxpaint-stamps-default/copyright': 'GPL-2',
      'usr/share/doc/tuxpaint-stamps-default/changelog.Debian.gz': 'not read',
      'usr/share/menu/tuxpaint-stamps-default': 'not read',
    });
    const { pairs, info } = await tuxpaintSource({});
    expect(pairs.map((p) => p.id)).toEqual(['tuxpaint/animals-x', 'tuxpaint/animals/cat', 'tuxpaint/animals/dog']);
    expect(cacheOf('deb-tuxpaint-stamps-default')).toEqual([
      '.complete',
      'usr/share/doc/tuxpaint-stamps-default/copyright',
      `${S}/animals-x.png`,
      `${S}/animals-x.txt`,
      `${S}/animals/cat.svg`,
      `${S}/animals/cat.txt`,
      `${S}/animals/dog.png`,
      `${S}/animals/dog.txt`,
    ]);
    expect(info[0]!.version).toMatch(/^Debian \w+/);
    expect(info[0]!.attribution).toMatch(/Tux Paint.*GNU GPL 2/);
  });
});
