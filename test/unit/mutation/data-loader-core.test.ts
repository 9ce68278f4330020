// BatchLoaderCore (src/data/loader-core.ts) on its own thread, against its header: the order is a
// seeded permutation per epoch (training) or the dataset's (evaluation), captions drawn per
// (seed, epoch, position) among the languages the dataset and the tokenizer share, an undecodable
// picture replaced by the next item (training) or left out (evaluation) and counted, positions
// saved and restored. The pictures are flat colours, so every row's values name its item whatever
// the crop: (v/255 − 0.5)/0.25 with v = 20·i + 5. Expected values come from those rules.
import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT } from '../../../src/data/augment.ts';
import type { Dataset } from '../../../src/data/dataset.ts';
import { DataError } from '../../../src/data/errors.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import { BatchLoaderCore, type Batch, type BatchLoaderOptions } from '../../../src/data/loader-core.ts';
import { mixSeed, permutation, Rng } from '../../../src/data/rng.ts';
import { testPreprocess } from '../data/fixtures.ts';

const SIZE = 2;
const PLANE = 3 * SIZE * SIZE;
const grey = (i: number) => 20 * i + 5;
const value = (i: number) => (grey(i) / 255 - 0.5) / 0.25;

/** n flat pictures; `bad` ones fail to decode (DataError), `broken` ones throw something else. */
class Flat implements Dataset {
  readonly name = 'flat';
  readonly split = 'val';
  readonly imageSize = SIZE;
  readonly reads: [number, string][] = [];
  languages?: readonly string[];
  captionsIn?: (i: number, lang: string) => readonly string[];
  constructor(
    readonly length: number,
    private readonly bad = new Set<number>(),
    private readonly caps: (i: number) => string[] = (i) => [`item ${i}`],
    private readonly broken = new Set<number>(),
  ) {}
  captions(i: number): readonly string[] {
    return this.caps(i);
  }
  meta(i: number) {
    return { id: `p${i}` };
  }
  async image(i: number, mode: 'train' | 'eval'): Promise<RgbImage> {
    this.reads.push([i, mode]);
    if (this.broken.has(i)) throw new TypeError(`not a data problem ${i}`);
    if (this.bad.has(i)) throw new DataError(`cannot decode p${i}`);
    return { data: new Uint8Array(3 * SIZE * SIZE).fill(grey(i)), width: SIZE, height: SIZE };
  }
  close(): void {}
}

/** A tokenizer that records what it is asked and answers with a row per caption (its length, then its language's index). */
function recordingTokenizer(languages: string[] = ['en']) {
  const calls: { captions: string[]; contextLength: number; langs: string[] | undefined }[] = [];
  return {
    calls,
    languages,
    encodeBatch(captions: readonly string[], contextLength: number, langs?: readonly string[]): Int32Array {
      calls.push({ captions: [...captions], contextLength, langs: langs ? [...langs] : undefined });
      return Int32Array.from(captions.flatMap((c, r) => [c.length, langs ? languages.indexOf(langs[r]!) : -1]));
    },
  };
}

type Opts = Partial<BatchLoaderOptions> & { batchSize: number };
const make = (ds: Dataset, o: Opts) => new BatchLoaderCore(ds, { contextLength: 7, tokenizer: recordingTokenizer(), preprocess: testPreprocess(SIZE), ...o });

async function take(l: BatchLoaderCore, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let k = 0; k < n; k++) out.push(await l.next());
  return out;
}

/** Each row holds the flat picture of its index. */
function expectRowsAreTheirItems(b: Batch): void {
  expect(b.images.length).toBe(b.rows * PLANE);
  for (let r = 0; r < b.rows; r++) for (let k = 0; k < PLANE; k++) expect(b.images[r * PLANE + k]).toBeCloseTo(value(b.indices[r]!), 5);
}

const settle = () => new Promise((r) => setTimeout(r, 30));

describe('BatchLoaderCore: options and refusals', () => {
  it('defaults to seed 0, training, two batches prefetched, the default augmentation, not strict', async () => {
    const ds = new Flat(12);
    const tasks: { augment: unknown; train: boolean }[] = [];
    class Spy extends BatchLoaderCore {
      protected override task(noFlip: boolean, epoch: number, pos: number) {
        const t = super.task(noFlip, epoch, pos);
        tasks.push(t);
        return t;
      }
    }
    const l = new Spy(ds, { batchSize: 2, contextLength: 7, tokenizer: recordingTokenizer(), preprocess: testPreprocess(SIZE) });
    expect(l.state()).toEqual({ seed: 0, epoch: 0, index: 0 });
    const [b] = await take(l, 1);
    // Seed 0, epoch 0: the permutation seeded mixSeed(0, 0, 0x5eed).
    const perm = Array.from(permutation(12, new Rng(mixSeed(0, 0, 0x5eed))));
    expect(Array.from(b!.indices)).toEqual(perm.slice(0, 2));
    expect(ds.reads.every(([, mode]) => mode === 'train')).toBe(true);
    expect(tasks[0]!.augment).toBe(DEFAULT_AUGMENT);
    expect(tasks[0]!.train).toBe(true);
    await settle();
    // The batch handed out and two more prepared: six rows read.
    expect(ds.reads).toHaveLength(6);
  });

  it('prepares as many batches ahead as asked', async () => {
    for (const prefetch of [0, 1, 3]) {
      const ds = new Flat(20);
      const l = make(ds, { batchSize: 2, prefetch });
      await l.next();
      await settle();
      expect(ds.reads, `prefetch ${prefetch}`).toHaveLength(2 * (prefetch + 1));
    }
  });

  it('refuses an empty split (even for evaluation) and a training split smaller than a batch, in one line', () => {
    expect(() => make(new Flat(0), { batchSize: 1, train: false })).toThrow(new DataError('dataset flat split val is empty; nothing to load'));
    expect(() => make(new Flat(3), { batchSize: 4 })).toThrow(new DataError('split val of flat has 3 items, fewer than the batch size 4; use a smaller batch'));
    // Exactly one batch trains; evaluation takes a split smaller than a batch.
    expect(() => make(new Flat(4), { batchSize: 4 })).not.toThrow();
    expect(() => make(new Flat(3), { batchSize: 4, train: false })).not.toThrow();
  });

  it('counts batches per epoch: training drops the partial last batch, evaluation keeps it', () => {
    expect(make(new Flat(10), { batchSize: 4 }).batchesPerEpoch).toBe(2);
    expect(make(new Flat(10), { batchSize: 4, train: false }).batchesPerEpoch).toBe(3);
    expect(make(new Flat(8), { batchSize: 4, train: false }).batchesPerEpoch).toBe(2);
  });
});

describe('BatchLoaderCore: positions', () => {
  it('training: batches of the seeded permutation, an epoch ends when no whole batch is left', async () => {
    for (const n of [8, 9, 11]) {
      const l = make(new Flat(n), { batchSize: 4, seed: 7 });
      const got = await take(l, 4);
      expect(got.map((b) => [b.epoch, b.index, b.last, b.rows])).toEqual([
        [0, 0, false, 4],
        [0, 4, true, 4],
        [1, 0, false, 4],
        [1, 4, true, 4],
      ]);
      for (const b of got) {
        const perm = permutation(n, new Rng(mixSeed(7, b.epoch, 0x5eed)));
        expect(Array.from(b.indices)).toEqual(Array.from(perm.subarray(b.index, b.index + 4)));
        expectRowsAreTheirItems(b);
      }
    }
  });

  it('evaluation: the dataset in order, a short last batch, then the next pass', async () => {
    const ds = new Flat(9);
    const got = await take(make(ds, { batchSize: 4, train: false, seed: 3 }), 4);
    expect(got.map((b) => [b.epoch, b.index, b.last, Array.from(b.indices)])).toEqual([
      [0, 0, false, [0, 1, 2, 3]],
      [0, 4, false, [4, 5, 6, 7]],
      [0, 8, true, [8]],
      [1, 0, false, [0, 1, 2, 3]],
    ]);
    const exact = await take(make(new Flat(8), { batchSize: 4, train: false }), 3);
    expect(exact.map((b) => [b.epoch, b.index, b.last, b.rows])).toEqual([
      [0, 0, false, 4],
      [0, 4, true, 4],
      [1, 0, false, 4],
    ]);
    expect(ds.reads.every(([, mode]) => mode === 'eval')).toBe(true);
    got.forEach(expectRowsAreTheirItems);
  });

  it('reports the position of the next batch handed out, prefetched ones not counted, and a restored one', async () => {
    const l = make(new Flat(12), { batchSize: 4, seed: 5 });
    expect(l.state()).toEqual({ seed: 5, epoch: 0, index: 0 });
    const first = await take(l, 3);
    expect(l.state()).toEqual({ seed: 5, epoch: 1, index: 0 });
    l.restore({ seed: 5, epoch: 0, index: 4 });
    expect(l.state()).toEqual({ seed: 5, epoch: 0, index: 4 });
    // The prefetched batches of the old position are dropped: next() starts where restored.
    const again = await l.next();
    expect(Array.from(again.indices)).toEqual(Array.from(first[1]!.indices));
    expect([again.epoch, again.index]).toEqual([0, 4]);
    expect(() => l.restore({ seed: 6, epoch: 0, index: 0 })).toThrow(new DataError('loader state was saved with seed 6, this loader has seed 5; resume with the same seed'));
  });
});

describe('BatchLoaderCore: captions, languages and tokens', () => {
  it('evaluation takes the first English caption; training draws one per (seed, epoch, position)', async () => {
    const caps = (i: number) => [`first ${i}`, `second ${i}`, `third ${i}`];
    const tok = recordingTokenizer();
    const [e] = await take(new BatchLoaderCore(new Flat(3, new Set(), caps), { batchSize: 3, contextLength: 5, tokenizer: tok, preprocess: testPreprocess(SIZE), train: false }), 1);
    expect(e!.captions).toEqual(['first 0', 'first 1', 'first 2']);
    expect(e!.langs).toEqual(['en', 'en', 'en']);
    expect(tok.calls[0]).toEqual({ captions: ['first 0', 'first 1', 'first 2'], contextLength: 5, langs: ['en', 'en', 'en'] });
    expect(Array.from(e!.tokens)).toEqual([7, 0, 7, 0, 7, 0]);
    expect([e!.contextLength, e!.imageSize]).toEqual([5, SIZE]);

    const t = await take(make(new Flat(6, new Set(), caps), { batchSize: 3, seed: 11 }), 4);
    const drawn = new Set<string>();
    for (const b of t)
      for (let r = 0; r < b.rows; r++) {
        const want = caps(b.indices[r]!)[new Rng(mixSeed(11, b.epoch, b.index + r, 0xa11)).int(3)];
        expect(b.captions[r]).toBe(want);
        drawn.add(b.captions[r]!.split(' ')[0]!);
      }
    expect(drawn.size).toBeGreaterThan(1);
  });

  it('training draws among English and the other languages both the dataset and the tokenizer have', async () => {
    const ds = new Flat(4);
    ds.languages = ['en', 'ru', 'zh'];
    ds.captionsIn = (i, lang) => (lang === 'en' ? [`item ${i}`] : lang === 'ru' ? [`ru ${i}`, `ru2 ${i}`] : [`zh ${i}`]);
    const tok = recordingTokenizer(['en', 'ru', 'ms']);
    const l = new BatchLoaderCore(ds, { batchSize: 4, contextLength: 6, tokenizer: tok, preprocess: testPreprocess(SIZE), seed: 2 });
    const got = await take(l, 6);
    const seen = new Set<string>();
    for (const b of got) {
      for (let r = 0; r < 4; r++) {
        const i = b.indices[r]!;
        const choices = [
          { text: `item ${i}`, lang: 'en' },
          { text: `ru ${i}`, lang: 'ru' },
          { text: `ru2 ${i}`, lang: 'ru' },
        ];
        const want = choices[new Rng(mixSeed(2, b.epoch, b.index + r, 0xa11)).int(3)]!;
        expect({ text: b.captions[r], lang: b.langs[r] }).toEqual(want);
        seen.add(b.langs[r]!);
      }
    }
    expect([...seen].sort()).toEqual(['en', 'ru']);
    expect(tok.calls.at(-1)!.langs).toHaveLength(4);
    // Without captionsIn a dataset's languages are not drawn from.
    const plain = new Flat(4);
    plain.languages = ['en', 'ru'];
    const [p] = await take(new BatchLoaderCore(plain, { batchSize: 4, contextLength: 6, tokenizer: tok, preprocess: testPreprocess(SIZE), seed: 2 }), 1);
    expect(p!.langs).toEqual(['en', 'en', 'en', 'en']);
  });

  it('seeds each row’s crop with (seed, epoch, position), and never mirrors a row whose caption names a side', async () => {
    const caps = (i: number) => [i % 2 ? `facing left ${i}` : `facing ${i}`];
    const tasks: { noFlip: boolean; epoch: number; pos: number; seed: number; train: boolean; pre: unknown; augment: unknown }[] = [];
    class Spy extends BatchLoaderCore {
      protected override task(noFlip: boolean, epoch: number, pos: number) {
        const t = super.task(noFlip, epoch, pos);
        tasks.push({ ...t, epoch, pos });
        return t;
      }
    }
    const pre = testPreprocess(SIZE);
    const augment = { scale: [0.9, 1] as [number, number], ratio: [1, 1] as [number, number], flip: true };
    const l = new Spy(new Flat(6, new Set(), caps), { batchSize: 3, contextLength: 4, tokenizer: recordingTokenizer(), preprocess: pre, seed: 4, augment, prefetch: 0 });
    const got = await take(l, 2);
    expect(tasks).toHaveLength(6);
    tasks.forEach((t, k) => {
      const b = got[Math.floor(k / 3)]!;
      const r = k % 3;
      expect([t.epoch, t.pos]).toEqual([b.epoch, b.index + r]);
      expect(t.seed).toBe(mixSeed(4, b.epoch, b.index + r, 0xc40));
      expect(t.noFlip).toBe(b.indices[r]! % 2 === 1);
      expect(t.train).toBe(true);
      expect(t.pre).toBe(pre);
      expect(t.augment).toBe(augment);
    });
  });
  it('reads the side from the caption drawn for the row, not from every caption of its picture', async () => {
    // Each picture has one caption naming a side and one not: the row is mirrored or not by the one drawn.
    const caps = (i: number) => [`facing left ${i}`, `facing us ${i}`];
    const tasks: { noFlip: boolean; epoch: number; pos: number }[] = [];
    class Spy extends BatchLoaderCore {
      protected override task(noFlip: boolean, epoch: number, pos: number) {
        tasks.push({ noFlip, epoch, pos });
        return super.task(noFlip, epoch, pos);
      }
    }
    const l = new Spy(new Flat(6, new Set(), caps), { batchSize: 3, contextLength: 4, tokenizer: recordingTokenizer(), preprocess: testPreprocess(SIZE), seed: 8, prefetch: 0 });
    const got = await take(l, 4);
    expect(tasks).toHaveLength(12);
    const seen = new Set<boolean>();
    tasks.forEach((t, k) => {
      const b = got[Math.floor(k / 3)]!;
      const r = k % 3;
      expect([t.epoch, t.pos]).toEqual([b.epoch, b.index + r]);
      const drawn = caps(b.indices[r]!)[new Rng(mixSeed(8, b.epoch, b.index + r, 0xa11)).int(2)]!;
      expect(b.captions[r]).toBe(drawn);
      expect(t.noFlip).toBe(drawn.startsWith('facing left'));
      seen.add(t.noFlip);
    });
    expect([...seen].sort()).toEqual([false, true]);
  });
});

describe('BatchLoaderCore: pictures that cannot be decoded', () => {
  it('training takes the next decodable item in its place (wrapping round), tells the first once and counts them', async () => {
    const warned: string[] = [];
    // Only item 1 decodes: every row becomes item 1, reached from 3 by wrapping round to 0 then 1.
    const ds = new Flat(4, new Set([0, 2, 3]));
    const l = make(ds, { batchSize: 2, seed: 1, warn: (w) => warned.push(w) });
    const got = await take(l, 2);
    for (const b of got) {
      expect(Array.from(b.indices)).toEqual([1, 1]);
      expectRowsAreTheirItems(b);
    }
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/^cannot decode p[023]; using the next item in its place \(pass --strict to stop instead\)$/);
    expect(l.skipped).toBe(3);
    expect(l.decodeSummary()).toMatch(/^warning: 3 pictures could not be decoded in flat val and were replaced by other items \(p[023], p[023], p[023]\); pass --strict to stop at the first$/);
    const ids = l.decodeSummary()!.match(/\((.*)\)/)![1]!.split(', ');
    expect(new Set(ids)).toEqual(new Set(['p0', 'p2', 'p3']));
  });

  it('names at most three of them, one picture in the singular, and none when all decoded', async () => {
    const many = make(new Flat(6, new Set([0, 1, 2, 3, 4])), { batchSize: 2, warn: () => {} });
    await take(many, 3);
    expect(many.decodeSummary()).toMatch(/^warning: 5 pictures could not be decoded in flat val and were replaced by other items \(p\d, p\d, p\d, …\); pass --strict to stop at the first$/);
    const single = make(new Flat(3, new Set([1])), { batchSize: 3, warn: () => {} });
    await take(single, 1);
    expect(single.decodeSummary()).toBe('warning: 1 picture could not be decoded in flat val and was replaced by other items (p1); pass --strict to stop at the first');
    const one = make(new Flat(3, new Set([1])), { batchSize: 3, train: false, warn: () => {} });
    await take(one, 1);
    expect(one.skipped).toBe(1);
    expect(one.decodeSummary()).toBe('warning: 1 of 3 pictures could not be decoded in flat val and was left out (p1); pass --strict to stop at the first');
    const none = make(new Flat(3), { batchSize: 3 });
    await take(none, 1);
    expect(none.decodeSummary()).toBeNull();
    expect(none.skipped).toBe(0);
  });

  it('goes on quietly when no one is told (no warn given), training and evaluation', async () => {
    const t = make(new Flat(4, new Set([2])), { batchSize: 4, prefetch: 0 });
    const [a] = await take(t, 1);
    expect(a!.rows).toBe(4);
    expect(Array.from(a!.indices).includes(2)).toBe(false);
    expectRowsAreTheirItems(a!);
    expect(t.skipped).toBe(1);
    const e = make(new Flat(4, new Set([2])), { batchSize: 4, train: false, prefetch: 0 });
    const [b] = await take(e, 1);
    expect(Array.from(b!.indices)).toEqual([0, 1, 3]);
    expect(e.skipped).toBe(1);
  });

  it('gives up in one line when no picture of the split decodes', async () => {
    const l = make(new Flat(3, new Set([0, 1, 2])), { batchSize: 2, prefetch: 0, warn: () => {} });
    await expect(l.next()).rejects.toThrow(new DataError('no image of flat split val could be decoded'));
  });

  it('evaluation leaves them out: the other rows, their pictures, captions and tokens, in order', async () => {
    const warned: string[] = [];
    const tok = recordingTokenizer();
    const ds = new Flat(6, new Set([1, 3]));
    const l = new BatchLoaderCore(ds, { batchSize: 5, contextLength: 4, tokenizer: tok, preprocess: testPreprocess(SIZE), train: false, warn: (w) => warned.push(w) });
    const [b, c] = await take(l, 2);
    expect(Array.from(b!.indices)).toEqual([0, 2, 4]);
    expect([b!.rows, b!.epoch, b!.index, b!.last, b!.contextLength, b!.imageSize]).toEqual([3, 0, 0, false, 4, SIZE]);
    expect(b!.captions).toEqual(['item 0', 'item 2', 'item 4']);
    expect(b!.langs).toEqual(['en', 'en', 'en']);
    expect(Array.from(b!.tokens)).toEqual([6, 0, 6, 0, 6, 0]);
    expectRowsAreTheirItems(b!);
    expect(Array.from(c!.indices)).toEqual([5]);
    expect(c!.last).toBe(true);
    expect(warned).toEqual(['cannot decode p1; leaving it out (pass --strict to stop instead)']);
    expect(l.decodeSummary()).toBe('warning: 2 of 6 pictures could not be decoded in flat val and were left out (p1, p3); pass --strict to stop at the first');
  });

  it('evaluation leaves a picture known to be undecodable out of every later pass too, never scoring a substitute twice', async () => {
    // A validation loader is rewound and read again at each validation (src/train/validate.ts).
    const ds = new Flat(5, new Set([1, 3]));
    const l = make(ds, { batchSize: 5, train: false, warn: () => {} });
    const [first] = await take(l, 1);
    l.restore({ seed: 0, epoch: 0, index: 0 });
    const [second, third] = await take(l, 2);
    for (const b of [first!, second!, third!]) {
      expect(Array.from(b.indices)).toEqual([0, 2, 4]);
      expectRowsAreTheirItems(b);
    }
    expect(l.skipped).toBe(2);
    expect(l.decodeSummary()).toBe('warning: 2 of 5 pictures could not be decoded in flat val and were left out (p1, p3); pass --strict to stop at the first');
    // A pass whose every picture is known not to decode gives an empty batch, as the first pass did.
    const none = make(new Flat(2, new Set([0, 1])), { batchSize: 2, train: false, prefetch: 0, warn: () => {} });
    for (let pass = 0; pass < 2; pass++) {
      const b = await none.next();
      expect([b.rows, b.images.length, b.captions.length, b.last]).toEqual([0, 0, 0, true]);
    }
  });

  it('stops at the first with --strict, a batch failing while queued only when handed out', async () => {
    const l = make(new Flat(6, new Set([4])), { batchSize: 2, train: false, strict: true, prefetch: 2 });
    const [a, b] = await take(l, 2);
    expect(Array.from(a!.indices)).toEqual([0, 1]);
    expect(Array.from(b!.indices)).toEqual([2, 3]);
    await expect(l.next()).rejects.toThrow(new DataError('cannot decode p4 (--strict stops at the first picture that cannot be decoded)'));
    const t = make(new Flat(4, new Set([0, 1, 2, 3])), { batchSize: 2, strict: true, prefetch: 0 });
    await expect(t.next()).rejects.toThrow(/^cannot decode p\d \(--strict stops/);
  });

  it('does not take an error other than a decoding failure for a bad picture', async () => {
    const l = make(new Flat(4, new Set(), undefined, new Set([2])), { batchSize: 4, train: false, prefetch: 0 });
    await expect(l.next()).rejects.toThrow(new TypeError('not a data problem 2'));
    expect(l.skipped).toBe(0);
  });
});
