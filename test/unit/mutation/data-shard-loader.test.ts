// ShardLoader (src/data/shard-loader.ts) in process, against its header: each epoch reads the
// shards in a seeded order, fills a shuffle buffer of `shuffleBuffer` pairs, permutes it (seeded by
// the epoch and where the buffer started) and hands it out whole; positions are saved and restored;
// a sample without a caption or a picture that cannot be decoded is skipped and counted once. The
// expected stream is worked out by `model` below, a plain re-reading of that rule; the pictures
// are 2×2 flat greys, so each row's values name its sample whatever the crop.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_AUGMENT } from '../../../src/data/augment.ts';
import { DataError } from '../../../src/data/errors.ts';
import type { Batch, LoaderState } from '../../../src/data/loader.ts';
import { mixSeed, permutation, Rng } from '../../../src/data/rng.ts';
import { openShardTrainLoader, ShardLoader, type ShardLoaderOptions } from '../../../src/data/shard-loader.ts';
import { tempDir, testPreprocess } from '../data/fixtures.ts';

const PLANE = 3 * 2 * 2;
const grey = (s: number, k: number) => 40 * s + 10 * k + 5;
const value = (g: number) => (g / 255 - 0.5) / 0.25;
const flatPng = (g: number) => sharp(Buffer.alloc(12, g), { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer();

type Sample = { key: string; png?: Buffer | 'corrupt'; txt?: string; json?: unknown };

async function tarFile(file: string, samples: Sample[]): Promise<string> {
  const pack = tar.pack();
  for (const s of samples) {
    if (s.png) {
      const data = s.png === 'corrupt' ? Buffer.from('not a png at all') : s.png;
      pack.entry({ name: `${s.key}.png`, size: data.length }, data);
    }
    if (s.txt !== undefined) pack.entry({ name: `${s.key}.txt`, size: Buffer.byteLength(s.txt) }, s.txt);
    if (s.json !== undefined) {
      const j = JSON.stringify(s.json);
      pack.entry({ name: `${s.key}.json`, size: Buffer.byteLength(j) }, j);
    }
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat(chunks));
  return file;
}

/** A tokenizer recording what it is asked; its rows are each caption's length. */
function tokenizer(languages: string[] = ['en']) {
  const calls: { captions: string[]; contextLength: number; langs: string[] }[] = [];
  return {
    calls,
    languages,
    encodeBatch(captions: readonly string[], contextLength: number, langs?: readonly string[]): Int32Array {
      calls.push({ captions: [...captions], contextLength, langs: [...(langs ?? [])] });
      return Int32Array.from(captions.map((c) => c.length));
    },
  };
}

let root: string;
/** Three shards of three samples; sample k of shard s has the captions "s<s> k<k> a" and "… b". */
let shards: string[];
beforeAll(async () => {
  root = tempDir('coca-shard-loader-');
  shards = [];
  for (let s = 0; s < 3; s++) {
    const samples: Sample[] = [];
    for (let k = 0; k < 3; k++) samples.push({ key: `s${s}-${k}`, png: await flatPng(grey(s, k)), txt: `s${s} k${k} a\ns${s} k${k} b` });
    shards.push(await tarFile(path.join(root, `three/${s}.tar`), samples));
  }
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const opts = (o: Partial<ShardLoaderOptions> = {}): ShardLoaderOptions => ({ batchSize: 2, contextLength: 9, tokenizer: tokenizer(), preprocess: testPreprocess(2), workers: 0, warn: () => {}, ...o });

async function take(l: ShardLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await l.next());
  return out;
}

/** The rows a batch holds, as "s<shard> k<sample>", read off its pictures; and each row's caption matches it. */
function rowsOf(b: Batch): string[] {
  return Array.from({ length: b.rows }, (_, r) => {
    const v = b.images[r * PLANE]!;
    let found = '';
    for (let s = 0; s < 3; s++) for (let k = 0; k < 3; k++) if (Math.abs(v - value(grey(s, k))) < 1e-4) found = `s${s} k${k}`;
    for (let j = 0; j < PLANE; j++) expect(b.images[r * PLANE + j]).toBeCloseTo(v, 5);
    expect(b.captions[r]!.startsWith(`${found} `)).toBe(true);
    expect(b.indices[r]).toBe(Number(found.split('k')[1]));
    return found;
  });
}

/**
 * The header's rule, read plainly: per epoch the shard order (a seeded permutation when training),
 * buffers of `size` pairs read on from (position in that order, sample), each permuted by
 * (seed, epoch, that position, that sample). `perShard` samples in every shard, all usable.
 */
function model(seed: number, epochs: number, size: number, perShard: number, count: number, train = true): { row: string; epoch: number; shardId: number; k: number }[] {
  const out: { row: string; epoch: number; shardId: number; k: number }[] = [];
  for (let e = 0; e < epochs; e++) {
    const order = train ? Array.from(permutation(count, new Rng(mixSeed(seed, e, 0x54a2d)))) : Array.from({ length: count }, (_, i) => i);
    // The stream of the epoch, each item with the place its read left the cursor at.
    let pos = 0;
    let next = 0;
    while (pos < order.length) {
      const start = { pos, next };
      const items: { shardId: number; k: number }[] = [];
      while (items.length < size && pos < order.length) {
        if (next >= perShard) {
          pos++;
          next = 0;
          continue;
        }
        items.push({ shardId: order[pos]!, k: next });
        next++;
      }
      if (items.length === 0) break;
      const perm = train ? Array.from(permutation(items.length, new Rng(mixSeed(seed, e, start.pos, start.next, 0xb0f)))) : items.map((_, i) => i);
      for (const i of perm) out.push({ row: `s${items[i]!.shardId} k${items[i]!.k}`, epoch: e, ...items[i]! });
    }
  }
  return out;
}

describe('ShardLoader: the stream', () => {
  it('reads the shards in a seeded order through seeded shuffle buffers, epoch after epoch, drawing each row’s caption by its place', async () => {
    const tok = tokenizer();
    const l = new ShardLoader(shards, 'three', opts({ seed: 5, shuffleBuffer: 4, tokenizer: tok, batchSize: 3 }));
    const got = await take(l, 6);
    const want = model(5, 2, 4, 3, 3);
    expect(got.flatMap(rowsOf)).toEqual(want.map((w) => w.row));
    got.forEach((b, j) => {
      // Where the batch starts; one starting just as an epoch ends is placed at that epoch's end
      // (the stream turns the epoch when it next reads).
      const at = 3 * j;
      const epoch = at > 0 && at % 9 === 0 ? at / 9 - 1 : Math.floor(at / 9);
      expect([b.rows, b.epoch, b.index, b.last, b.contextLength, b.imageSize]).toEqual([3, epoch, at - 9 * epoch, false, 9, 2]);
      for (let r = 0; r < 3; r++) {
        const w = want[3 * j + r]!;
        expect(b.captions[r]).toBe(`s${w.shardId} k${w.k} ${'ab'[new Rng(mixSeed(5, w.epoch, w.shardId, w.k, 0xa11)).int(2)]}`);
      }
      expect(b.langs).toEqual(['en', 'en', 'en']);
      expect(tok.calls[j]).toEqual({ captions: b.captions, contextLength: 9, langs: b.langs });
      expect(Array.from(b.tokens)).toEqual(b.captions.map((c) => c.length));
    });
    await l.close();
  });

  it('defaults to seed 0, training and buffers of 1000 pairs (a whole epoch here)', async () => {
    const l = new ShardLoader(shards, 'three', { batchSize: 3, contextLength: 9, tokenizer: tokenizer(), preprocess: testPreprocess(2), workers: 0 });
    expect([l.seed, l.train, l.bufferSize, l.captionField]).toEqual([0, true, 1000, undefined]);
    expect((await take(l, 3)).flatMap(rowsOf)).toEqual(model(0, 1, 1000, 3, 3).map((w) => w.row));
    await l.close();
    // A buffer of 0 or less is one pair; evaluation never shuffles.
    expect(new ShardLoader(shards, 'x', opts({ shuffleBuffer: 0 })).bufferSize).toBe(1);
    expect(new ShardLoader(shards, 'x', opts({ shuffleBuffer: -3 })).bufferSize).toBe(1);
    expect(new ShardLoader(shards, 'x', opts({ shuffleBuffer: 7, train: false })).bufferSize).toBe(1);
  });

  it('a buffer of one keeps each shard’s order (the shard order still shuffled); evaluation reads the list in order, first captions', async () => {
    const one = new ShardLoader(shards, 'three', opts({ seed: 2, shuffleBuffer: 1, batchSize: 3 }));
    expect((await take(one, 3)).flatMap(rowsOf)).toEqual(model(2, 1, 1, 3, 3).map((w) => w.row));
    const ev = new ShardLoader(shards, 'three', opts({ seed: 2, train: false, batchSize: 3, shuffleBuffer: 5 }));
    const got = await take(ev, 4);
    expect(got.flatMap(rowsOf)).toEqual(['s0 k0', 's0 k1', 's0 k2', 's1 k0', 's1 k1', 's1 k2', 's2 k0', 's2 k1', 's2 k2', 's0 k0', 's0 k1', 's0 k2']);
    expect(got.flatMap((b) => b.captions).every((c) => c.endsWith(' a'))).toBe(true);
    await Promise.all([one.close(), ev.close()]);
  });

  it('trains on a pair’s translations the tokenizer has a token for', async () => {
    const f = await tarFile(path.join(root, 'lang/0.tar'), [
      { key: 'x', png: await flatPng(grey(0, 0)), txt: 's0 k0 en', json: { i18n: { ru: ['s0 k0 ru'], zh: ['s0 k0 zh'] } } },
      { key: 'y', png: await flatPng(grey(0, 1)), txt: 's0 k1 en' },
    ]);
    const l = new ShardLoader([f], 'lang', opts({ seed: 3, tokenizer: tokenizer(['en', 'ru', 'ms']), batchSize: 2, shuffleBuffer: 1 }));
    const got = await take(l, 8);
    const seen = new Set<string>();
    // Two pairs an epoch, a batch of two: batch j is epoch j.
    got.forEach((b, j) => {
      rowsOf(b);
      for (let r = 0; r < 2; r++) {
        const k = b.indices[r]!;
        const choices = k === 0 ? ['s0 k0 en', 's0 k0 ru'] : ['s0 k1 en'];
        const want = choices[new Rng(mixSeed(3, j, 0, k, 0xa11)).int(choices.length)]!;
        expect(b.captions[r]).toBe(want);
        expect(b.langs[r]).toBe(want.slice(-2));
        seen.add(b.langs[r]!);
      }
    });
    expect([...seen].sort()).toEqual(['en', 'ru']);
    await l.close();
  });

  it('prepares each row with its own seed, the default augmentation, and no mirror where the caption names a side', async () => {
    const f = await tarFile(path.join(root, 'side/0.tar'), [
      { key: 'l', png: await flatPng(grey(0, 0)), txt: 's0 k0 facing left' },
      { key: 'm', png: await flatPng(grey(0, 1)), txt: 's0 k1 facing us' },
    ]);
    const proto = ShardLoader.prototype as unknown as { task: (...a: unknown[]) => { seed: number; noFlip: boolean; augment: unknown; train: boolean; pre: unknown } };
    const spy = vi.spyOn(proto, 'task');
    const pre = testPreprocess(2);
    const l = new ShardLoader([f], 'side', opts({ seed: 9, preprocess: pre, shuffleBuffer: 1 }));
    const [b] = await take(l, 1);
    await l.close();
    // The first batch's two rows (their pictures may finish decoding in either order).
    const tasks = spy.mock.results.slice(0, 2).map((r) => r.value as { seed: number; noFlip: boolean; augment: unknown; train: boolean; pre: unknown });
    const want = new Map([0, 1].map((r) => [mixSeed(9, 0, 0, b!.indices[r]!, 0xc40), b!.indices[r] === 0] as const));
    expect(new Set(tasks.map((t) => t.seed))).toEqual(new Set(want.keys()));
    for (const t of tasks) expect(t.noFlip).toBe(want.get(t.seed));
    for (const t of tasks) {
      expect(t.augment).toBe(DEFAULT_AUGMENT);
      expect(t.train).toBe(true);
      expect(t.pre).toBe(pre);
    }
  });
});

describe('ShardLoader: positions', () => {
  it('reports where the next batch starts, restores it exactly, and refuses another seed or list', async () => {
    const full = new ShardLoader(shards, 'three', opts({ seed: 4, shuffleBuffer: 4, batchSize: 2 }));
    expect(full.state()).toEqual({ seed: 4, epoch: 0, index: 0, stream: { shards: 3, shard: 0, sample: 0, taken: 0 } });
    const states: LoaderState[] = [];
    const batches: Batch[] = [];
    for (let i = 0; i < 7; i++) {
      states.push(JSON.parse(JSON.stringify(full.state())) as LoaderState);
      batches.push(await full.next());
    }
    await full.close();
    // Buffers of 4 from (0, 0), (1, 1), (2, 2)…: inside the first after one batch (two of its pairs taken).
    expect(states[1]).toEqual({ seed: 4, epoch: 0, index: 2, stream: { shards: 3, shard: 0, sample: 0, taken: 2 } });
    expect(states[2]).toEqual({ seed: 4, epoch: 0, index: 4, stream: { shards: 3, shard: 1, sample: 1, taken: 0 } });
    for (const at of [1, 3, 5]) {
      const resumed = new ShardLoader(shards, 'three', opts({ seed: 4, shuffleBuffer: 4, batchSize: 2, prefetch: 0 }));
      resumed.restore(states[at]!);
      expect(resumed.state()).toEqual(states[at]);
      expect((await take(resumed, 7 - at)).flatMap(rowsOf)).toEqual(batches.slice(at).flatMap(rowsOf));
      await resumed.close();
    }
    const l = new ShardLoader(shards, 'three', opts({ seed: 4 }));
    expect(() => l.restore({ seed: 5, epoch: 0, index: 0 })).toThrow(new DataError('loader state was saved with seed 5, this loader has seed 4; resume with the same seed'));
    expect(() => l.restore({ seed: 4, epoch: 0, index: 0, stream: { shards: 2, shard: 0, sample: 0, taken: 0 } })).toThrow(
      new DataError("the checkpoint's data position is in a list of 2 shards, three has 3; resume with the same shards"),
    );
    // A position without a stream (a folder's loader) starts the stream at its beginning.
    l.restore({ seed: 4, epoch: 1, index: 0 });
    expect(l.state()).toEqual({ seed: 4, epoch: 1, index: 0, stream: { shards: 3, shard: 0, sample: 0, taken: 0 } });
    await l.close();
  });

  it('after a batch is handed out, reports where the one after it starts even while others are prepared', async () => {
    const l = new ShardLoader(shards, 'three', opts({ seed: 1, shuffleBuffer: 9, batchSize: 4, prefetch: 2 }));
    await l.next();
    // Inside the one buffer of nine filled from the start: four of it taken.
    expect(l.state()).toEqual({ seed: 1, epoch: 0, index: 4, stream: { shards: 3, shard: 0, sample: 0, taken: 4 } });
    await l.close();
  });

  it('fails the batches of a closed loader in one line', async () => {
    // Buffers of two, batches of two: the next batch needs a read from the closed stream.
    const l = new ShardLoader(shards, 'closing', opts({ prefetch: 0, shuffleBuffer: 2 }));
    await l.next();
    await l.close();
    await expect(l.next()).rejects.toThrow(new DataError('the loader of closing was closed or restored; batches being prepared were dropped'));
  });
});

describe('ShardLoader: closing while a batch is prepared', () => {
  it('fails the batch being read when the loader is closed, in one line', async () => {
    // Buffers of a batch: the batch after the first is filling its buffer when close() comes, and
    // must stop there rather than read the buffer whole and be handed out.
    const l = new ShardLoader(shards, 'midway', opts({ prefetch: 1, shuffleBuffer: 2, batchSize: 2 }));
    await l.next();
    await l.close();
    await expect(l.next()).rejects.toThrow(new DataError('the loader of midway was closed or restored; batches being prepared were dropped'));
  });
});

describe('ShardLoader: samples that cannot be used', () => {
  it('skips a sample without a caption and a picture that cannot be decoded, counts each once over epochs, and says so in one line', async () => {
    const f = await tarFile(path.join(root, 'bad/0.tar'), [
      { key: 'a', png: await flatPng(grey(0, 0)), txt: 's0 k0' },
      { key: 'b', png: await flatPng(grey(0, 1)) },
      { key: 'c', png: 'corrupt', txt: 's0 k2' },
      { key: 'd', png: await flatPng(grey(1, 0)), txt: 's1 k0' },
    ]);
    const warned: string[] = [];
    const l = new ShardLoader([f], 'bad', opts({ seed: 0, batchSize: 2, shuffleBuffer: 1, warn: (w) => warned.push(w) }));
    const got = await take(l, 3);
    // Each epoch gives the two good pairs, a and d, in the shard's order.
    expect(got.flatMap((b) => b.captions)).toEqual(['s0 k0', 's1 k0', 's0 k0', 's1 k0', 's0 k0', 's1 k0']);
    expect(Array.from(got[0]!.indices)).toEqual([0, 3]);
    expect(l.skipped).toBe(1);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(new RegExp(`^.*${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:c\\.png.*; skipping it \\(pass --strict to stop instead\\)$`));
    expect(l.decodeSummary()).toBe(
      `warning: skipped 1 samples without a caption (txt or json "caption") (${f}:b) in bad; pass --strict to stop at the first instead; ` +
        `skipped 1 picture that could not be decoded (${f}:c) in bad; pass --strict to stop at the first`,
    );
    await l.close();
    const strict = new ShardLoader([f], 'bad', opts({ strict: true, shuffleBuffer: 1, prefetch: 0 }));
    await expect(strict.next()).rejects.toThrow(/^samples without a caption .*:b \(in bad\)/);
    await strict.close();
  });

  it('names at most three undecodable pictures, in the plural; says nothing when all went well', async () => {
    const samples: Sample[] = [0, 1, 2, 3].map((k) => ({ key: `c${k}`, png: 'corrupt' as const, txt: `bad ${k}` }));
    samples.push({ key: 'ok', png: await flatPng(grey(0, 0)), txt: 's0 k0' });
    const f = await tarFile(path.join(root, 'many/0.tar'), samples);
    const l = new ShardLoader([f], 'many', opts({ batchSize: 1, shuffleBuffer: 1 }));
    await take(l, 1);
    expect(l.skipped).toBe(4);
    expect(l.decodeSummary()).toBe(`warning: skipped 4 pictures that could not be decoded (${f}:c0, ${f}:c1, ${f}:c2, …) in many; pass --strict to stop at the first`);
    await l.close();
    const strict = new ShardLoader([f], 'many', opts({ batchSize: 1, shuffleBuffer: 1, strict: true, prefetch: 0 }));
    await expect(strict.next()).rejects.toThrow(/:c0\.png.* \(--strict stops at the first picture that cannot be decoded\)$/);
    await strict.close();
    const good = new ShardLoader(shards, 'three', opts());
    await take(good, 1);
    expect(good.decodeSummary()).toBeNull();
    expect(good.skipped).toBe(0);
    await good.close();
  });

  it('tells about the first undecodable picture alone, and goes on quietly when no one is told', async () => {
    const samples: Sample[] = [0, 1, 2].map((k) => ({ key: `c${k}`, png: 'corrupt' as const, txt: `bad ${k}` }));
    samples.push({ key: 'ok', png: await flatPng(grey(0, 0)), txt: 's0 k0' });
    const f = await tarFile(path.join(root, 'quiet/0.tar'), samples);
    const warned: string[] = [];
    const l = new ShardLoader([f], 'quiet', opts({ batchSize: 1, train: false, prefetch: 0, warn: (w) => warned.push(w) }));
    const b = await l.next();
    expect([b.captions, Array.from(b.indices)]).toEqual([['s0 k0'], [3]]);
    expect(l.skipped).toBe(3);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/:c0\.png.*; skipping it \(pass --strict to stop instead\)$/);
    await l.close();
    const { warn: _, ...told } = opts({ batchSize: 1, train: false, prefetch: 0 });
    const quiet = new ShardLoader([f], 'quiet', told);
    expect((await quiet.next()).captions).toEqual(['s0 k0']);
    expect(quiet.skipped).toBe(3);
    await quiet.close();
  });

  it('gives up in one line when no picture of the shards decodes, instead of reading them for ever', async () => {
    const samples: Sample[] = [0, 1, 2].map((k) => ({ key: `c${k}`, png: 'corrupt' as const, txt: `bad ${k}` }));
    const f = await tarFile(path.join(root, 'hopeless/0.tar'), samples);
    const line = `no picture in the 1 shards of hopeless could be decoded (${f}:c0, ${f}:c1, ${f}:c2); check that they are JPEG, PNG or WebP`;
    const hung = (p: Promise<unknown>) => Promise.race([p.then(() => 'handed out', (e: Error) => e), new Promise((r) => setTimeout(() => r('still reading'), 10_000))]);
    const ev = new ShardLoader([f], 'hopeless', opts({ train: false, prefetch: 0, batchSize: 2 }));
    expect(await hung(ev.next())).toEqual(new DataError(line));
    await ev.close();
    // Training, four of them: three named, then "…".
    const f4 = await tarFile(path.join(root, 'hopeless/1.tar'), [...samples, { key: 'c3', png: 'corrupt', txt: 'bad 3' }]);
    const tr = new ShardLoader([f4], 'hopeless', opts({ prefetch: 0, batchSize: 2, shuffleBuffer: 1 }));
    expect(await hung(tr.next())).toEqual(new DataError(`no picture in the 1 shards of hopeless could be decoded (${f4}:c0, ${f4}:c1, ${f4}:c2, …); check that they are JPEG, PNG or WebP`));
    await tr.close();
    // One good picture among four bad ones is enough, however the epochs fall: up to eight failures
    // in a row (the last four of an epoch, the first four of the next) are not yet hopeless.
    const mixed: Sample[] = [0, 1, 2, 3].map((k) => ({ key: `c${k}`, png: 'corrupt' as const, txt: `bad ${k}` }));
    mixed.splice(2, 0, { key: 'ok', png: await flatPng(grey(0, 0)), txt: 's0 k0' });
    const g = await tarFile(path.join(root, 'one-good/0.tar'), mixed);
    // The tightest case: shard A (the good picture) then B (two bad) in epoch 0, B then A in epoch
    // 1 (a seed whose shard orders fall so, by the header's rule): four failures in a row, twice
    // the two distinct ones, and the good picture next.
    const a = await tarFile(path.join(root, 'tight/a.tar'), [{ key: 'ok', png: await flatPng(grey(0, 0)), txt: 's0 k0' }]);
    const b = await tarFile(path.join(root, 'tight/b.tar'), [0, 1].map((k) => ({ key: `c${k}`, png: 'corrupt' as const, txt: `bad ${k}` })));
    const order = (seed: number, e: number) => Array.from(permutation(2, new Rng(mixSeed(seed, e, 0x54a2d))));
    const seed = Array.from({ length: 64 }, (_, k) => k).find((k) => order(k, 0)[0] === 0 && order(k, 1)[0] === 1)!;
    expect(seed).toBeDefined();
    const tight = new ShardLoader([a, b], 'tight', opts({ seed, prefetch: 0, batchSize: 1, shuffleBuffer: 1 }));
    expect((await take(tight, 2)).flatMap((x) => x.captions)).toEqual(['s0 k0', 's0 k0']);
    expect(tight.skipped).toBe(2);
    await tight.close();
    for (const seed of [0, 1, 2, 3]) {
      const l = new ShardLoader([g], 'one-good', opts({ seed, prefetch: 0, batchSize: 2, shuffleBuffer: 8 }));
      const got = await take(l, 4);
      expect(got.flatMap((b) => b.captions)).toEqual(Array(8).fill('s0 k0'));
      expect(l.skipped).toBe(4);
      await l.close();
    }
  });

  it('gives up in one line when no shard has a usable pair, and tells about a shard that cannot be read once', async () => {
    const f = await tarFile(path.join(root, 'none/0.tar'), [{ key: 'a', png: await flatPng(1) }]);
    const missing = path.join(root, 'none/1.tar');
    const warned: string[] = [];
    const l = new ShardLoader([f, missing], 'none', opts({ prefetch: 0, warn: (w) => warned.push(w) }));
    await expect(l.next()).rejects.toThrow(new DataError('no usable image–caption pair in the 2 shards of none; see the warnings above'));
    expect(warned).toEqual([`warning: shard ${missing}: no such file; 0 samples read from it, the rest skipped; pass --strict to stop instead`]);
    await l.close();
    // One epoch without a pair is not yet the end: a loader restored past its pairs reads on into the next epoch.
    const one = new ShardLoader([shards[0]!, missing], 'one', opts({ prefetch: 0, batchSize: 3, shuffleBuffer: 1, train: false }));
    one.restore({ seed: 0, epoch: 0, index: 3, stream: { shards: 2, shard: 1, sample: 0, taken: 0 } });
    const [b] = await take(one, 1);
    expect(rowsOf(b!)).toEqual(['s0 k0', 's0 k1', 's0 k2']);
    expect(b!.epoch).toBe(0);
    await one.close();
  });

  it('tells about an unreadable shard the first time it is met, once over epochs; strict stops at it', async () => {
    const missing = path.join(root, 'absent/0.tar');
    const line = `warning: shard ${missing}: no such file; 0 samples read from it, the rest skipped; pass --strict to stop instead`;
    const warned: string[] = [];
    // One buffer holds a whole epoch (three pairs), a batch of three: batch j is epoch j, each meeting the missing shard.
    const l = new ShardLoader([shards[0]!, missing], 'absent', opts({ prefetch: 0, batchSize: 3, shuffleBuffer: 8, warn: (w) => warned.push(w) }));
    await l.next();
    expect(warned).toEqual([line]);
    const rest = await take(l, 3);
    // Three more epochs, each the three pairs of the readable shard (a batch placed at its epoch's start, or the end of the one before).
    for (const b of rest) expect(rowsOf(b).sort()).toEqual(['s0 k0', 's0 k1', 's0 k2']);
    expect(rest.map((b) => b.epoch)).toEqual([0, 1, 2]);
    expect(warned).toEqual([line]);
    await l.close();
    const strict = new ShardLoader([missing, shards[0]!], 'absent', opts({ prefetch: 0, batchSize: 3, train: false, strict: true, warn: (w) => warned.push(w) }));
    await expect(strict.next()).rejects.toThrow(new DataError(`shard ${missing}: no such file; 0 samples read from it (--strict stops at the first unreadable shard)`));
    expect(warned).toHaveLength(1);
    await strict.close();
  });

  it('tells on the console, with coca’s prefix, when no one is told', async () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const missing = path.join(root, 'nowhere.tar');
    const l = new ShardLoader([shards[0]!, missing], 'console', { batchSize: 3, contextLength: 9, tokenizer: tokenizer(), preprocess: testPreprocess(2), workers: 0, prefetch: 0 });
    await take(l, 2);
    await l.close();
    expect(spy.mock.calls.map((c) => c[0])).toEqual([`coca: warning: shard ${missing}: no such file; 0 samples read from it, the rest skipped; pass --strict to stop instead`]);
  });

  it('prepares the same batches on a worker thread, leaving out an undecodable picture there too', async () => {
    const f = await tarFile(path.join(root, 'pool/0.tar'), [
      { key: 'a', png: await flatPng(grey(0, 0)), txt: 's0 k0' },
      { key: 'c', png: 'corrupt', txt: 's0 k2' },
      { key: 'd', png: await flatPng(grey(1, 0)), txt: 's1 k0' },
    ]);
    const here = new ShardLoader([f], 'pool', opts({ seed: 1, shuffleBuffer: 1, prefetch: 0 }));
    const there = new ShardLoader([f], 'pool', opts({ seed: 1, shuffleBuffer: 1, prefetch: 0, workers: 1 }));
    try {
      const [a, b] = [await here.next(), await there.next()];
      expect(b.captions).toEqual(['s0 k0', 's1 k0']);
      expect(Array.from(b.images)).toEqual(Array.from(a.images));
      expect(there.skipped).toBe(1);
      expect(there.decodeSummary()).toMatch(/skipped 1 picture that could not be decoded \(.*:c\)/);
    } finally {
      await Promise.all([here.close(), there.close()]);
    }
  });

  it('refuses a list of no shards, and opens the train split of a shard folder', async () => {
    expect(() => new ShardLoader([], 'empty', opts())).toThrow(new DataError('empty names no shards; check the pattern or list'));
    fs.mkdirSync(path.join(root, 'set/train'), { recursive: true });
    fs.mkdirSync(path.join(root, 'set/val'), { recursive: true });
    fs.copyFileSync(shards[1]!, path.join(root, 'set/train/0.tar'));
    fs.copyFileSync(shards[0]!, path.join(root, 'set/val/0.tar'));
    const l = openShardTrainLoader(path.join(root, 'set'), opts({ batchSize: 3, train: false }));
    expect([l.name, l.shards]).toEqual([path.join(root, 'set'), [path.join(root, 'set/train/0.tar')]]);
    expect(rowsOf(await l.next())).toEqual(['s1 k0', 's1 k1', 's1 k2']);
    await l.close();
  });
});
