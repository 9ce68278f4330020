// WebDataset shards: tars made here (with tar-stream, member by member), read from disk and from
// a loopback HTTP server; a sample without a caption, a corrupt picture and a truncated last
// shard are skipped and counted; the training stream is deterministic and resumes exactly across
// shard and buffer boundaries; `coca data shards` of a folder gives the folder's pairs back.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { isShardData, listSplits, loadDataset } from '../../../src/data/load.ts';
import type { Batch, LoaderState } from '../../../src/data/loader.ts';
import { openShardDataset } from '../../../src/data/readers/shard-dataset.ts';
import { expandBraces, splitKey } from '../../../src/data/readers/webdataset.ts';
import { ShardLoader } from '../../../src/data/shard-loader.ts';
import { writeShards } from '../../../src/data/shard-writer.ts';
import { trainTokenizer, type Tokenizer } from '../../../src/data/tokenizer.ts';
import { patternPixels, tempDir, testPreprocess, writeImage } from './fixtures.ts';

const png = (seed: number, w = 10, h = 9) => sharp(Buffer.from(patternPixels(w, h, seed)), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();

async function tarOf(members: { name: string; data: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const m of members) pack.entry({ name: m.name, size: m.data.length }, m.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Four shards of five samples, key `s<shard>-<i>`; caption "picture <n>" with n = 5*shard+i.
 * Shard 1 sample 2 has no caption, shard 2 sample 3 a corrupt jpg, shard 0 sample 4 its caption
 * in json only; shard 3 is cut inside its fourth sample (its first three survive).
 */
const GOOD = 20 - 1 - 1 - 2; // missing caption, corrupt picture (pair kept, decode fails), 2 lost to truncation
let root: string;
let shardFiles: string[];
let tok: Tokenizer;

beforeAll(async () => {
  root = tempDir('coca-wds-');
  tok = trainTokenizer(Array.from({ length: 20 }, (_, n) => `picture ${n} of the shard test`), 300);
  shardFiles = [];
  for (let s = 0; s < 4; s++) {
    const members: { name: string; data: Buffer }[] = [];
    for (let i = 0; i < 5; i++) {
      const n = 5 * s + i;
      const key = `d/s${s}-${i}`;
      if (s === 2 && i === 3) members.push({ name: `${key}.jpg`, data: Buffer.from('not a jpeg, only text') });
      else members.push({ name: `${key}.png`, data: await png(n) });
      if (s === 1 && i === 2) continue;
      if (s === 0 && i === 4) members.push({ name: `${key}.json`, data: Buffer.from(JSON.stringify({ caption: `picture ${n}`, other: 'x' })) });
      else members.push({ name: `${key}.txt`, data: Buffer.from(`picture ${n}`) });
    }
    let bytes = await tarOf(members);
    // Cut inside the fourth sample's picture: past three whole samples (their tar less its two end blocks) and a header.
    if (s === 3) bytes = bytes.subarray(0, (await tarOf(members.slice(0, 6))).length - 1024 + 512 + 100);
    const file = path.join(root, 'shards', `${String(s).padStart(5, '0')}.tar`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
    shardFiles.push(file);
  }
});

function warnings(): { lines: string[]; warn: (l: string) => void } {
  const lines: string[] = [];
  return { lines, warn: (l) => lines.push(l) };
}

describe('shard arguments', () => {
  it('expand brace ranges keeping the width, and lists', () => {
    expect(expandBraces('a/{008..011}.tar')).toEqual(['a/008.tar', 'a/009.tar', 'a/010.tar', 'a/011.tar']);
    expect(expandBraces('{x,y}-{1..2}.tar')).toEqual(['x-1.tar', 'x-2.tar', 'y-1.tar', 'y-2.tar']);
    expect(() => expandBraces('{5..3}.tar')).toThrow(/backwards/);
  });

  it('key a member by its path up to the first dot of the basename', () => {
    expect(splitKey('a.b/c/0001.seg.JPG')).toEqual({ key: 'a.b/c/0001', ext: 'seg.jpg' });
    expect(splitKey('dir/noext')).toBeNull();
  });

  it('are recognised as a tar, a pattern, a list file and a folder; a missing shard is named', () => {
    const list = path.join(root, 'list.txt');
    fs.writeFileSync(list, 'shards/00000.tar\n# comment\nshards/{00001..00002}.tar\n');
    for (const spec of [shardFiles[0]!, path.join(root, 'shards/{00000..00003}.tar'), list, path.join(root, 'shards')]) expect(isShardData(spec)).toBe(true);
    expect(isShardData(path.join(root, 'nothing-here'))).toBe(false);
    // A dataset folder with an archive beside its caption file is still that dataset.
    const flickr = path.join(root, 'flickr');
    fs.mkdirSync(flickr);
    fs.writeFileSync(path.join(flickr, 'Flickr8k.token.txt'), 'a.jpg#0\ta dog\n');
    fs.copyFileSync(shardFiles[0]!, path.join(flickr, 'Flickr8k_Dataset.tar'));
    expect(isShardData(flickr)).toBe(false);
    expect(() => isShardData(path.join(root, 'shards/{00000..00009}.tar'))).toThrow(/shard .*00004\.tar does not exist/);
    expect(listSplits(path.join(root, 'shards'))).toEqual(['train', 'all']);
  });
});

describe('reading shards whole', () => {
  it('groups by key, takes json captions, skips and counts a sample without caption, names a truncated shard', async () => {
    const w = warnings();
    const ds = await openShardDataset(path.join(root, 'shards/{00000..00003}.tar'), { split: 'train', imageSize: 8, warn: w.warn });
    // The corrupt picture is a pair until it is decoded; the truncated sample and the one after it are lost.
    expect(ds.length).toBe(GOOD + 1);
    const caps = Array.from({ length: ds.length }, (_, i) => ds.captions(i)[0]);
    expect(caps).toContain('picture 4');
    expect(caps).not.toContain('picture 7');
    expect(caps).toEqual(expect.arrayContaining(['picture 15', 'picture 16', 'picture 17']));
    expect(caps).not.toContain('picture 18');
    expect(w.lines.find((l) => /00003\.tar: truncated/.test(l) && /3 samples read/.test(l))).toBeDefined();
    expect(w.lines.find((l) => /1 samples without a caption/.test(l) && /s1-2/.test(l))).toBeDefined();
    await expect(ds.image(caps.indexOf('picture 13'), 'eval')).rejects.toThrow(/s2-3\.jpg/);
  });

  it('reads a custom json caption field', async () => {
    const file = path.join(root, 'field.tar');
    fs.writeFileSync(file, await tarOf([{ name: 'k1.png', data: await png(1) }, { name: 'k1.json', data: Buffer.from('{"alt": ["an alt text", "another one"]}') }]));
    const ds = await openShardDataset(file, { split: 'all', imageSize: 8, captionField: 'alt', warn: () => {} });
    expect(ds.captions(0)).toEqual(['an alt text', 'another one']);
    await expect(openShardDataset(file, { split: 'all', imageSize: 8, warn: () => {} })).rejects.toThrow(/no usable/);
  });

  it('stops at the first bad sample or shard with strict', async () => {
    await expect(openShardDataset(path.join(root, 'shards/{00001..00001}.tar'), { split: 'train', imageSize: 8, strict: true })).rejects.toThrow(/without a caption.*s1-2/);
    await expect(openShardDataset(shardFiles[3]!, { split: 'train', imageSize: 8, strict: true })).rejects.toThrow(/00003\.tar: truncated.*--strict/);
  });
});

describe('shards over http', () => {
  let server: http.Server;
  let base: string;
  const hits = new Map<string, number>();
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const name = path.basename(req.url ?? '');
      hits.set(name, (hits.get(name) ?? 0) + 1);
      // The second shard fails once with a server error: a retry must get it.
      if (name === '00001.tar' && hits.get(name) === 1) return void res.writeHead(503).end();
      const file = path.join(root, 'shards', name);
      if (!fs.existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/x-tar' }).end(fs.readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('gives the pairs read from disk, retrying a server error', async () => {
    const disk = await openShardDataset(path.join(root, 'shards/{00000..00003}.tar'), { split: 'train', imageSize: 8, warn: () => {} });
    const w = warnings();
    const web = await openShardDataset(`${base}/{00000..00003}.tar`, { split: 'train', imageSize: 8, warn: w.warn });
    expect(web.length).toBe(disk.length);
    const bytesOf = (d: typeof disk, i: number) => {
      const src = d.source(i);
      if (src.kind !== 'bytes') throw new Error(`item ${i} is not in memory`);
      return Buffer.from(src.bytes).toString('base64');
    };
    for (let i = 0; i < disk.length; i++) {
      expect(web.captions(i)).toEqual(disk.captions(i));
      expect(bytesOf(web, i)).toBe(bytesOf(disk, i));
    }
    expect(hits.get('00001.tar')).toBe(2);
    expect(w.lines.some((l) => l.includes(`${base}/00003.tar: truncated`))).toBe(true);
  });

  it('streams training batches and stops reading when its loader is closed', async () => {
    const w = warnings();
    const loader = new ShardLoader(expandBraces(`${base}/{00000..00003}.tar`), 'web', { batchSize: 3, contextLength: 10, tokenizer: tok, preprocess: testPreprocess(8), workers: 0, shuffleBuffer: 2, prefetch: 4, warn: w.warn });
    expect((await loader.next()).rows).toBe(3);
    await loader.close();
    const total = () => [...hits.values()].reduce((a, b) => a + b, 0);
    const before = total();
    await new Promise((r) => setTimeout(r, 300));
    expect(total()).toBe(before);
    expect(w.lines).toEqual([]);
  });

  it('names a shard the server does not have, in one line, and stops there with strict', async () => {
    const w = warnings();
    const ds = await openShardDataset(`${base}/{00000,00009}.tar`, { split: 'train', imageSize: 8, warn: w.warn });
    expect(ds.length).toBe(5);
    expect(w.lines.filter((l) => l.includes(`${base}/00009.tar: HTTP 404`))).toHaveLength(1);
    await expect(openShardDataset(`${base}/00009.tar`, { split: 'train', imageSize: 8, strict: true })).rejects.toThrow(/00009\.tar: HTTP 404/);
  });
});

describe('the training stream', () => {
  const opts = (seed: number) => ({ batchSize: 3, contextLength: 10, tokenizer: tok, preprocess: testPreprocess(8), seed, workers: 0, shuffleBuffer: 4, warn: () => {} });

  async function take(loader: ShardLoader, n: number): Promise<Batch[]> {
    const out: Batch[] = [];
    for (let i = 0; i < n; i++) out.push(await loader.next());
    return out;
  }
  const key = (b: Batch) => ({ captions: b.captions, images: Array.from(b.images) });

  it('is a pure function of the seed, covers every good pair once per epoch, and skips the corrupt picture', async () => {
    const w = warnings();
    const a = new ShardLoader(shardFiles, 'test', { ...opts(5), warn: w.warn });
    const b = new ShardLoader(shardFiles, 'test', opts(5));
    const [ba, bb] = [await take(a, 12), await take(b, 12)];
    // Over two epochs the truncated shard is read at least twice; it is told about once.
    expect(w.lines.filter((l) => /00003\.tar: truncated/.test(l))).toHaveLength(1);
    expect(ba.map(key)).toEqual(bb.map(key));
    // The first GOOD rows are the first epoch: every decodable pair once, in a shuffled order.
    const epoch1 = ba.flatMap((x) => x.captions).slice(0, GOOD);
    expect(new Set(epoch1).size).toBe(GOOD);
    expect(epoch1).not.toContain('picture 13');
    expect(epoch1).not.toContain('picture 7');
    const num = (c: string) => Number(c.split(' ')[1]);
    expect(epoch1).not.toEqual([...epoch1].sort((x, y) => num(x) - num(y)));
    // Met in both epochs, each bad sample is counted once.
    expect(a.decodeSummary()).toMatch(/skipped 1 samples without a caption.*skipped 1 picture that could not be decoded \(.*s2-3/);
    const c = new ShardLoader(shardFiles, 'test', opts(6));
    expect((await take(c, 5)).flatMap((x) => x.captions)).not.toEqual(epoch1.slice(0, 15));
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('resumes exactly from a saved position inside a buffer and across shard and epoch boundaries', async () => {
    const full = new ShardLoader(shardFiles, 'test', opts(9));
    const states: LoaderState[] = [];
    const batches: Batch[] = [];
    for (let i = 0; i < 9; i++) {
      states.push(JSON.parse(JSON.stringify(full.state())) as LoaderState);
      batches.push(await full.next());
    }
    await full.close();
    expect(new Set(states.map((s) => `${s.stream!.shard}/${s.stream!.sample}`)).size).toBeGreaterThan(3);
    expect(states.some((s) => s.stream!.taken > 0)).toBe(true);
    expect(states.at(-1)!.epoch).toBe(1);
    for (const at of [1, 2, 4, 6]) {
      const resumed = new ShardLoader(shardFiles, 'test', opts(9));
      resumed.restore(states[at]!);
      expect((await take(resumed, 9 - at)).map(key)).toEqual(batches.slice(at).map(key));
      await resumed.close();
    }
  });

  it('prepares the same batches on worker threads', async () => {
    const inThread = new ShardLoader(shardFiles, 'test', opts(3));
    const threaded = new ShardLoader(shardFiles, 'test', { ...opts(3), workers: 2 });
    expect((await take(threaded, 4)).map(key)).toEqual((await take(inThread, 4)).map(key));
    await Promise.all([inThread.close(), threaded.close()]);
  });

  it('refuses a position from another seed or another list of shards', () => {
    const l = new ShardLoader(shardFiles, 'test', opts(1));
    expect(() => l.restore({ seed: 2, epoch: 0, index: 0 })).toThrow(DataError);
    expect(() => l.restore({ seed: 1, epoch: 0, index: 0, stream: { shards: 7, shard: 0, sample: 0, taken: 0 } })).toThrow(/7 shards/);
  });
});

describe('coca data shards', () => {
  it('packs a folder into shards that give back the folder’s pairs, split by split', async () => {
    const folder = path.join(root, 'folder');
    const lines: string[] = [];
    for (let i = 0; i < 23; i++) {
      const name = `img${i}.${i % 3 === 0 ? 'jpg' : 'png'}`;
      await writeImage(path.join(folder, name), 9 + (i % 4), 8, i);
      lines.push(`${name}\tthing number ${i}`, ...(i % 5 === 0 ? [`${name}\tanother caption of ${i}`] : []));
    }
    fs.writeFileSync(path.join(folder, 'captions.tsv'), lines.join('\n') + '\n');
    const out = path.join(root, 'packed');
    const info = await writeShards(folder, out, { perShard: 4, warn: () => {} });
    expect(Object.values(info.splits).reduce((n, s) => n + s.samples, 0)).toBe(23);
    expect(fs.readdirSync(path.join(out, 'train')).length).toBe(Math.ceil(info.splits.train!.samples / 4));
    for (const split of Object.keys(info.splits)) {
      const a = await loadDataset(folder, { split, imageSize: 8 });
      const b = await loadDataset(out, { split, imageSize: 8 });
      const pairs = async (d: typeof a) => {
        const m = new Map<string, string>();
        for (let i = 0; i < d.length; i++) m.set(JSON.stringify(d.captions(i)), Buffer.from((await d.image(i, 'eval')).data).toString('base64'));
        return m;
      };
      expect(await pairs(b)).toEqual(await pairs(a));
    }
    // Written in a seeded random order, unless told to keep the dataset's.
    const keys = async (dir: string) => {
      const d = await loadDataset(dir, { split: 'train', imageSize: 8 });
      return Array.from({ length: d.length }, (_, i) => Number(d.meta(i).id.split(':').at(-1)));
    };
    const shuffled = await keys(out);
    expect(shuffled).not.toEqual([...shuffled].sort((x, y) => x - y));
    const kept = path.join(root, 'packed-in-order');
    await writeShards(folder, kept, { perShard: 4, shuffle: false, warn: () => {} });
    expect(await keys(kept)).toEqual([...shuffled].sort((x, y) => x - y));
  });
});

describe('coca data shards on the command line', () => {
  const coca = (args: string[]) => spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', timeout: 120_000 });

  it('writes into a new folder and its own output again, refuses a folder of the user’s in one line', async () => {
    const folder = path.join(root, 'cli-folder');
    for (let i = 0; i < 6; i++) await writeImage(path.join(folder, `p${i}.png`), 8, 8, i);
    fs.writeFileSync(path.join(folder, 'captions.tsv'), Array.from({ length: 6 }, (_, i) => `p${i}.png\tpicture ${i}`).join('\n') + '\n');
    const out = path.join(root, 'cli-out');
    const first = coca(['data', 'shards', '--data', folder, '--out', out, '--per-shard', '2', '--split', 'all']);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/all: 6 samples in 3 shards/);
    expect(fs.readdirSync(path.join(out, 'all')).sort()).toEqual(['00000.tar', '00001.tar', '00002.tar']);
    expect(coca(['data', 'shards', '--data', folder, '--out', out, '--per-shard', '3', '--split', 'all']).status).toBe(0);
    // The first run's third shard is gone: the folder is the new set only.
    expect(fs.readdirSync(path.join(out, 'all')).sort()).toEqual(['00000.tar', '00001.tar']);
    const mine = path.join(root, 'users-folder');
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, 'notes.txt'), 'mine');
    const refused = coca(['data', 'shards', '--data', folder, '--out', mine]);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(mine)).toEqual(['notes.txt']);
  });
});

describe('shards with caption languages', () => {
  // Six samples; even ones carry Russian and Chinese captions in their json's i18n (as `coca data
  // shards` writes a built set made with languages), odd ones English only.
  const RU = (n: number) => `Картинка ${n}`;
  const ZH = (n: number) => `图片 ${n}`;
  let multiDir: string;
  let plainDir: string;
  let multi: Tokenizer;
  beforeAll(async () => {
    multiDir = path.join(root, 'lang-multi');
    plainDir = path.join(root, 'lang-plain');
    for (const [dir, withI18n] of [[multiDir, true], [plainDir, false]] as const) {
      const members: { name: string; data: Buffer }[] = [];
      for (let n = 0; n < 6; n++) {
        members.push({ name: `k${n}.png`, data: await png(40 + n) });
        members.push({ name: `k${n}.txt`, data: Buffer.from(`picture ${n}`) });
        const i18n = withI18n && n % 2 === 0 ? { i18n: { ru: [RU(n)], zh: [ZH(n)] } } : {};
        members.push({ name: `k${n}.json`, data: Buffer.from(JSON.stringify({ id: `k${n}`, ...i18n })) });
      }
      fs.mkdirSync(path.join(dir, 'train'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'train', '00000.tar'), await tarOf(members));
    }
    const corpus = Array.from({ length: 6 }, (_, n) => [`picture ${n}`, RU(n).toLowerCase(), ZH(n)]).flat();
    multi = trainTokenizer(corpus, 400, ['en', 'ru', 'zh']);
  });

  it('writes a dataset’s translations into each sample’s json, and none for an item without', async () => {
    const { MemoryDataset } = await import('./fixtures.ts');
    const { sampleJson } = await import('../../../src/data/shard-writer.ts');
    class Translated extends MemoryDataset {
      readonly languages = ['en', 'ru', 'zh'];
      captionsIn(i: number, lang: string): readonly string[] {
        if (lang === 'en') return this.captions(i);
        return i === 0 ? [lang === 'ru' ? 'предмет' : '物品'] : [];
      }
    }
    const ds = new Translated(2);
    expect(sampleJson(ds, 0)).toEqual({ id: 'm0', caption: 'item 0 caption 0', captions: ['item 0 caption 0'], i18n: { ru: ['предмет'], zh: ['物品'] } });
    expect(sampleJson(ds, 1)).toEqual({ id: 'm1', caption: 'item 1 caption 0', captions: ['item 1 caption 0'] });
  });

  it('reads them back as the languages of the split, normalised like English captions', async () => {
    const ds = await openShardDataset(path.join(multiDir, 'train'), { split: 'train', imageSize: 8 });
    expect(ds.languages).toEqual(['en', 'ru', 'zh']);
    const n = (i: number) => Number(ds.captions(i)[0]!.split(' ')[1]);
    for (let i = 0; i < ds.length; i++) {
      expect(ds.captionsIn(i, 'en')).toEqual(ds.captions(i));
      expect(ds.captionsIn(i, 'ru')).toEqual(n(i) % 2 === 0 ? [RU(n(i)).toLowerCase()] : []);
      expect(ds.captionsIn(i, 'zh')).toEqual(n(i) % 2 === 0 ? [ZH(n(i))] : []);
    }
    const plain = await openShardDataset(path.join(plainDir, 'train'), { split: 'train', imageSize: 8 });
    expect(plain.languages).toBeUndefined();
  });

  it('trains on every language a sample and the tokenizer share, each with its token after [SOT]; English-only tokenizers draw as before', async () => {
    const opts = (tokenizer: Tokenizer) => ({ batchSize: 6, contextLength: 10, tokenizer, preprocess: testPreprocess(8), seed: 2, workers: 0, shuffleBuffer: 6, warn: () => {} });
    const shards = [path.join(multiDir, 'train', '00000.tar')];
    const loader = new ShardLoader(shards, 'multi', opts(multi));
    const seen = new Set<string>();
    for (let k = 0; k < 6; k++) {
      const b = await loader.next();
      for (let r = 0; r < b.rows; r++) {
        const c = b.captions[r]!;
        const lang = b.langs[r]!;
        seen.add(lang);
        const n = Number(c.split(' ')[1]);
        expect(c).toBe(lang === 'en' ? `picture ${n}` : lang === 'ru' ? RU(n).toLowerCase() : ZH(n));
        if (n % 2 === 1) expect(lang).toBe('en');
        const row = b.tokens.subarray(r * 10, (r + 1) * 10);
        expect(row[1]).toBe(multi.languagePrefix(lang)[0]);
      }
    }
    expect([...seen].sort()).toEqual(['en', 'ru', 'zh']);
    await loader.close();
    // An English tokenizer sees the same stream whether or not the shards carry translations.
    const a = new ShardLoader(shards, 'multi', opts(tok));
    const b = new ShardLoader([path.join(plainDir, 'train', '00000.tar')], 'plain', opts(tok));
    for (let k = 0; k < 3; k++) {
      const [x, y] = [await a.next(), await b.next()];
      expect(x.captions).toEqual(y.captions);
      expect(Array.from(x.tokens)).toEqual(Array.from(y.tokens));
      expect(x.langs.every((l) => l === 'en')).toBe(true);
    }
    await a.close();
    await b.close();
  });
});
