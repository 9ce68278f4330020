// `coca eval`'s driver (src/eval/run.ts: evalSplit and evalZeroShot), which the ninth pass left
// uncovered (231 mutants: "the GPU driver"). The model's two GPU entry points it calls —
// infer/embed.ts's embedImages/embedTexts and infer/caption.ts's captionImages — are stand-ins
// here (vi.mock), and the data is eval-fixture.ts's built set, whose item i is the flat grey
// 20·i + 10: the stand-ins read which item a row shows from its pixels. Each stand-in answer is
// chosen by hand, so the similarity matrix, the ranks and which captions are scored against which
// references are known; the expected rows are those hand-known inputs put through the metric
// modules (measured on their own in the earlier passes), and the key figures are worked by hand too.
import fs from 'node:fs';
import os from 'node:os';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenizerCore } from '../../../src/data/tokenizer-core.ts';
import type { Tokenizer } from '../../../src/data/tokenizer.ts';
import { randomCaptions, retrievalChance, topKChance } from '../../../src/eval/baselines.ts';
import { scoreCaptions } from '../../../src/eval/captioning.ts';
import { retrievalRecallPairs } from '../../../src/eval/recall.ts';
import { captionMetrics, recallMetrics } from '../../../src/eval/report.ts';
import { evalLanguages, evalSplit, evalZeroShot, randomCaptionMetrics, type EvalContext } from '../../../src/eval/run.ts';
import { checkSearch } from '../../../src/infer/search.ts';
import type { CocaModel } from '../../../src/model/coca.ts';
import { tempDir, testPreprocess } from '../data/fixtures.ts';
import { COCA, handJson } from './hand-tokenizer.ts';
import { itemOf, SIDE, writeEvalSet } from './eval-fixture.ts';
import { writeItems } from '../../../src/data/store.ts';
import path from 'node:path';

const E = 4;
const PLANE = 3 * SIDE * SIDE;
const tok = TokenizerCore.fromJSON(handJson(COCA));

/** Image item → its embedding (set per test). */
let imageVec: (item: number) => number[] = () => [];
/** Text → its embedding (set per test); an unexpected text fails the test. */
let textVec: (text: string) => number[] = () => [];
/** Image item → the caption the stand-in captioner says. */
let say: (item: number) => string = () => '';
const calls = { images: [] as number[][], texts: [] as string[][], langs: [] as unknown[], captioned: [] as number[][], search: [] as Record<string, unknown>[] };

vi.mock('../../../src/infer/embed.ts', async (orig) => ({
  ...(await orig<typeof import('../../../src/infer/embed.ts')>()),
  embedImages: async (_m: unknown, images: Float32Array, n: number) => {
    const items = Array.from({ length: n }, (_, r) => itemOf(images[r * PLANE]!));
    calls.images.push(items);
    return Float32Array.from(items.flatMap((i) => imageVec(i)));
  },
  embedTexts: async (_m: unknown, _t: unknown, texts: readonly string[], _b: unknown, lang?: unknown) => {
    calls.texts.push([...texts]);
    calls.langs.push(lang);
    return Float32Array.from(texts.flatMap((t) => textVec(t)));
  },
}));
vi.mock('../../../src/infer/caption.ts', async (orig) => ({
  ...(await orig<typeof import('../../../src/infer/caption.ts')>()),
  captionImages: async (_m: unknown, images: Float32Array, B: number, opts: Record<string, unknown>) => {
    calls.search.push(opts);
    const items = Array.from({ length: B }, (_, r) => itemOf(images[r * PLANE]!));
    calls.captioned.push(items);
    return items.map((i) => ({ tokens: Array.from(tok.encode(say(i))), score: 0 }));
  },
}));

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
beforeEach(() => {
  vi.spyOn(os, 'availableParallelism').mockReturnValue(2);
  calls.images = [];
  calls.texts = [];
  calls.captioned = [];
  calls.search = [];
  calls.langs = [];
});

const model = { config: { embed_dim: E, text_cfg: { context_length: 40 } } } as unknown as CocaModel;
function context(over: Partial<EvalContext> = {}): EvalContext & { lines: string[] } {
  const lines: string[] = [];
  return { model, tokenizer: tok as unknown as Tokenizer, pre: testPreprocess(SIDE), batch: 2, search: checkSearch({ beams: 1, maxLen: 40 }), log: (l) => lines.push(l), lines, ...over };
}
const oneHot = (k: number, s = 1) => Array.from({ length: E }, (_, j) => (j === k ? s : 0));

const REFS = [0, 1, 2].map((i) => [`a picture of item ${i} here`, `another caption of item ${i}`]);
function dataset(): string {
  const dir = tempDir();
  dirs.push(dir);
  writeEvalSet(dir, {
    test: { captions: REFS },
    one: { captions: [['a picture of item 0 here'], ['a picture of item 0 here']] },
    val: { captions: [...REFS, ['a picture of item 3 here', 'another caption of item 3']] },
    classes: { captions: [['x'], ['y'], ['z']], classes: ['shirt', 'shoe', 'bag'], labels: [2, 0, 1] },
  });
  return dir;
}

describe('evalSplit', () => {
  // Item i's picture points at its own captions, but item 2's leans towards item 1's: (0.8, 0.6)
  // on axes 1 and 2. A caption points at its item's axis, the second caption of each at 0.9.
  beforeEach(() => {
    imageVec = (i) => (i === 2 ? [0, 0.8, 0.6, 0] : oneHot(i));
    textVec = (t) => {
      const m = /item (\d)$|item (\d) here$/.exec(t);
      if (!m) throw new Error(`unexpected text ${t}`);
      return oneHot(Number(m[1] ?? m[2]), t.startsWith('another') ? 0.9 : 1);
    };
    say = (i) => (i === 1 ? 'a picture of item 2 here' : REFS[i]![0]!);
  });

  it('retrieval, captioning and captions-as-classes of a split, each beside chance', async () => {
    const captions: import('../../../src/eval/sheet.ts').CaptionRecord[] = [];
    const ctx = context({ captions });
    const t0 = performance.now();
    const sections = await evalSplit(ctx, dataset(), 'test', null);
    const elapsed = (performance.now() - t0) / 1000;
    // The captioner is asked with the tokenizer's [SOT], [EOT] and pad beside the search's own options.
    expect(calls.search.map((o) => [o['sot'], o['eot'], o['pad'], o['maxLen'], o['beams']])).toEqual([
      [1, 2, 0, 40, 1],
      [1, 2, 0, 40, 1],
    ]);
    // Every picture embedded once, in batches of 2, in item order; the captions in item order.
    expect(calls.images).toEqual([[0, 1], [2]]);
    const texts = REFS.flat();
    expect(calls.texts).toEqual([texts, [...new Set(texts)]]);
    expect(calls.captioned).toEqual([[0, 1], [2]]);
    // Scores of image 2: item 1's captions 0.8 and 0.72, its own 0.6 and 0.54: a miss at 1, a hit
    // at 5. Every caption's own picture ranks first (caption 1a: 1 against 0.8, 2a: 0.6 against 0).
    const pairs: [number, number][] = [[0, 0], [0, 1], [1, 2], [1, 3], [2, 4], [2, 5]];
    const sim = [0, 1, 2].flatMap((i) => texts.map((t) => imageVec(i).reduce((s, v, j) => s + v * textVec(t)[j]!, 0)));
    const recall = retrievalRecallPairs(sim, 3, 6, pairs);
    expect(recall.imageToText).toEqual([2 / 3, 1, 1]);
    expect(recall.textToImage).toEqual([1, 1, 1]);
    const hyps = ['a picture of item 0 here', 'a picture of item 2 here', 'a picture of item 2 here'];
    const coca = { ...recallMetrics(recall), ...captionMetrics(scoreCaptions(hyps, REFS)) };
    expect(coca['bleu1']).toBeLessThan(1); // item 1's caption names item 2
    expect(sections).toEqual([
      {
        title: 'test',
        sizes: { images: 3, captions: 6 },
        rows: [
          { name: 'coca', metrics: coca },
          { name: 'chance', metrics: recallMetrics(retrievalChance(3, 6, pairs)) },
        ],
      },
      {
        title: 'test, captions as classes (flat hit@k)',
        sizes: { images: 3, classes: 6 },
        // Each picture's class is its first caption: 0 and 1 rank it first, 2 third (behind 1a, 1b).
        rows: [
          { name: 'coca', metrics: { top1: 2 / 3, top5: 1 } },
          { name: 'chance', metrics: { top1: topKChance(6, 1), top5: topKChance(6, 5) } },
        ],
      },
    ]);
    expect(captions).toEqual(
      hyps.map((caption, i) => ({ split: 'test', item: i, id: `test-${i}`, caption, references: REFS[i] })),
    );
    expect(ctx.lines).toHaveLength(1);
    const m = /^ {2}test: embedded 3 images and 6 captions \((\d+\.\d) s\); captioning\.\.\.$/.exec(ctx.lines[0]!);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(elapsed + 0.05);
  });

  it('no captions-as-classes section when every caption is the same', async () => {
    const sections = await evalSplit(context(), dataset(), 'one', null);
    expect(sections.map((s) => s.title)).toEqual(['one']);
  });

  it('maxItems (not a multiple of the batch), and the baselines of the training captions: nearest neighbour and random ones', async () => {
    // Training pictures: one along axis 2, one along axis 0.
    const train = { emb: Float32Array.from([...oneHot(2), ...oneHot(0)]), captions: ['a picture of item 2 here', 'a picture of item 0 here'] };
    const sections = await evalSplit(context({ maxItems: 3 }), dataset(), 'val', train);
    // Four pictures, batches of 2: the second batch cut to the one picture left of the three.
    expect(calls.images).toEqual([[0, 1], [2]]);
    expect(calls.captioned).toEqual([[0, 1], [2]]);
    const refs = REFS;
    // Nearest training picture: item 0 → the second (axis 0); item 1 (axis 1) is orthogonal to both:
    // a tie, the lower index, the first; item 2 (0.8, 0.6 on axes 1, 2) → the first.
    const nn = ['a picture of item 0 here', 'a picture of item 2 here', 'a picture of item 2 here'];
    const rows = sections[0]!.rows;
    expect(rows.map((r) => r.name)).toEqual(['coca', 'nearest-neighbour caption', 'chance']);
    expect(rows[1]!.metrics).toEqual(captionMetrics(scoreCaptions(nn, refs)));
    const pairs: [number, number][] = [[0, 0], [0, 1], [1, 2], [1, 3], [2, 4], [2, 5]];
    expect(rows[2]!.metrics).toEqual({ ...recallMetrics(retrievalChance(3, 6, pairs)), ...randomCaptionMetrics(refs, train.captions) });
    expect(sections[0]!.sizes).toEqual({ images: 3, captions: 6 });
    expect(sections[1]!.sizes).toEqual({ images: 3, classes: 6 });
  });
});

describe('evalSplit, another language', () => {
  const multi = TokenizerCore.fromJSON(handJson([...COCA, { id: 260, content: '[lang:en]' }, { id: 261, content: '[lang:ru]' }]));
  const RU: (string[] | undefined)[] = [['картинка 0'], undefined, ['картинка 2', 'ещё 2']];
  function multiDataset(ru = RU): string {
    const dir = tempDir();
    dirs.push(dir);
    writeEvalSet(dir, { multi: { captions: REFS } });
    writeItems(dir, 'multi', REFS.map((c, i) => ({ id: `multi-${i}`, captions: c, ...(ru[i] ? { i18n: { ru: ru[i]! } } : {}) })));
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, languages: ['en', 'ru'] }));
    return dir;
  }
  beforeEach(() => {
    imageVec = (i) => (i === 2 ? [0, 0.8, 0.6, 0] : oneHot(i));
    textVec = (t) => {
      const m = /(\d)( here)?$/.exec(t);
      if (!m) throw new Error(`unexpected text ${t}`);
      return oneHot(Number(m[1]), /^(another|ещё)/.test(t) ? 0.9 : 1);
    };
    say = (i) => `a picture of item ${i} here`;
  });

  it('a section on the pictures with captions in it: texts and captions after its token, the training captions in it as baselines', async () => {
    const captions: import('../../../src/eval/sheet.ts').CaptionRecord[] = [];
    const train = { emb: Float32Array.from([...oneHot(2), ...oneHot(0)]), captions: ['t0', 't1'], byLang: { ru: ['картинка 2', undefined] } };
    const sections = await evalSplit(context({ tokenizer: multi as unknown as Tokenizer, captions }), multiDataset(), 'multi', train);
    expect(sections.map((s) => s.title)).toEqual(['multi', 'multi, captions as classes (flat hit@k)', 'multi, ru captions']);
    // Pictures 0 and 2 have Russian captions; picture 1 none. Their rows of the embeddings and pixels, in that order.
    expect(calls.captioned.at(-1)).toEqual([0, 2]);
    expect(calls.texts.at(-1)).toEqual(['картинка 0', 'картинка 2', 'ещё 2']);
    expect(calls.langs.at(-1)).toBe('ru');
    expect(calls.search.at(-1)).toMatchObject({ sot: 1, eot: 2, prefix: [261] });
    const refs = [['картинка 0'], ['картинка 2', 'ещё 2']];
    const pairs: [number, number][] = [[0, 0], [1, 1], [1, 2]];
    // Image 0 → its caption (1 against 0); image 2 → 0.6 and 0.54 for its own, 0 for image 0's.
    const sim = [1, 0, 0, 0, 0.6, 0.54];
    const recall = retrievalRecallPairs(sim, 2, 3, pairs);
    expect(recall.imageToText).toEqual([1, 1, 1]);
    const hyps = ['a picture of item 0 here', 'a picture of item 2 here'];
    expect(sections[2]).toEqual({
      title: 'multi, ru captions',
      sizes: { images: 2, captions: 3 },
      rows: [
        { name: 'coca', metrics: { ...recallMetrics(recall), ...captionMetrics(scoreCaptions(hyps, refs)) } },
        // The one training picture with a Russian caption is the nearest of both.
        { name: 'nearest-neighbour caption', metrics: captionMetrics(scoreCaptions(['картинка 2', 'картинка 2'], refs)) },
        { name: 'chance', metrics: { ...recallMetrics(retrievalChance(2, 3, pairs)), ...randomCaptionMetrics(refs, ['картинка 2']) } },
      ],
    });
    expect(captions.filter((c) => c.lang === 'ru')).toEqual([
      { split: 'multi', lang: 'ru', item: 0, id: 'multi-0', caption: hyps[0], references: refs[0] },
      { split: 'multi', lang: 'ru', item: 2, id: 'multi-2', caption: hyps[1], references: refs[1] },
    ]);
  });

  it('no section for a language no picture has captions in; no baselines without its training captions', async () => {
    const sections = await evalSplit(context({ tokenizer: multi as unknown as Tokenizer, batch: 4 }), multiDataset(), 'multi', { emb: Float32Array.from(oneHot(0)), captions: ['t0'] });
    expect(sections[2]!.rows.map((r) => r.name)).toEqual(['coca', 'chance']);
    expect(Object.keys(sections[2]!.rows[1]!.metrics).some((k) => k.startsWith('bleu'))).toBe(false);
    expect(calls.captioned.at(-1)).toEqual([0, 2]);
    // A training set with no Russian caption at all: no nearest-neighbour row, no random captions.
    const noRu = await evalSplit(context({ tokenizer: multi as unknown as Tokenizer }), multiDataset(), 'multi', { emb: Float32Array.from(oneHot(0)), captions: ['t0'], byLang: { ru: [undefined] } });
    expect(noRu[2]!.rows.map((r) => r.name)).toEqual(['coca', 'chance']);
    // Three pictures with Russian captions in batches of 2: the last batch holds the one left.
    calls.captioned = [];
    await evalSplit(context({ tokenizer: multi as unknown as Tokenizer }), multiDataset([['картинка 0'], ['картинка 1'], ['картинка 2']]), 'multi', null);
    expect(calls.captioned).toEqual([[0, 1], [2], [0, 1], [2]]);
    const none = await evalSplit(context({ tokenizer: multi as unknown as Tokenizer }), multiDataset([undefined, undefined, undefined]), 'multi', null);
    expect(none.map((s) => s.title)).toEqual(['multi', 'multi, captions as classes (flat hit@k)']);
  });
});

describe('evalLanguages', () => {
  it("the dataset's languages but English that the tokenizer has a token for; none without captionsIn", () => {
    const tokenizer = { languages: ['en', 'ru', 'ms'] } as unknown as Tokenizer;
    const ds = (o: object) => o as Parameters<typeof evalLanguages>[0];
    expect(evalLanguages(ds({ languages: ['en', 'ru', 'zh', 'ms'], captionsIn: () => [] }), tokenizer)).toEqual(['ru', 'ms']);
    expect(evalLanguages(ds({ languages: ['en', 'ru'] }), tokenizer)).toEqual([]);
    expect(evalLanguages(ds({ captionsIn: () => [] }), tokenizer)).toEqual([]);
  });
});

describe('randomCaptionMetrics', () => {
  it('the mean over five draws, seeds 1 to 5', () => {
    const refs = [['a dog on grass'], ['a cat on a mat'], ['two birds']];
    const pool = ['a dog on grass', 'a cat on a mat', 'two birds', 'a red car'];
    const want: Record<string, number> = {};
    for (let d = 1; d <= 5; d++) {
      for (const [k, v] of Object.entries(captionMetrics(scoreCaptions(randomCaptions(3, pool, d), refs)))) want[k] = (want[k] ?? 0) + v! / 5;
    }
    const got = randomCaptionMetrics(refs, pool);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const k of Object.keys(want)) expect(got[k]).toBeCloseTo(want[k]!, 12);
  });
});

describe('evalZeroShot', () => {
  beforeEach(() => {
    // Pictures 0 and 1 point at their classes (labels 2 and 0); picture 2 (label 1, shoe) at shirt.
    imageVec = (i) => oneHot([2, 0, 0][i]!);
    // Two prompt templates: "a X" along X's axis, "X here" half along it and half along the next
    // class's, so the ensemble (their sum, renormalised) still ranks X first.
    const cls = ['shirt', 'shoe', 'bag'];
    textVec = (t) => {
      const a = /^a (\w+)$/.exec(t);
      const b = /^(\w+) here$/.exec(t);
      const c = cls.indexOf((a ?? b)?.[1] ?? '');
      if (c < 0) throw new Error(`unexpected text ${t}`);
      if (a) return oneHot(c);
      const v = oneHot(c, Math.SQRT1_2);
      v[(c + 1) % 3] = Math.SQRT1_2;
      return v;
    };
  });

  it('class embeddings from the prompt ensemble, top-1 and top-5 against the labels, beside chance', async () => {
    const section = await evalZeroShot(context(), dataset(), 'classes', ['a {}', '{} here']);
    expect(calls.texts).toEqual([
      ['a shirt', 'a shoe', 'a bag'],
      ['shirt here', 'shoe here', 'bag here'],
    ]);
    expect(section).toEqual({
      title: 'classes (zero-shot, 2 prompt templates)',
      sizes: { images: 3, classes: 3 },
      rows: [
        { name: 'coca', metrics: { top1: 2 / 3, top5: 1 } },
        { name: 'chance', metrics: { top1: 1 / 3, top5: 1 } },
      ],
    });
  });

  it('a split without class names is refused', async () => {
    await expect(evalZeroShot(context(), dataset(), 'test')).rejects.toThrow(/^split test of .* has no class names$/);
  });
});
