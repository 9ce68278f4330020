// `coca eval`'s driver (src/eval/run.ts), the cases sweep-eval-run.test.ts left: --strict handed on
// to the dataset and to the loader (evalSplit and evalZeroShot), pictures that do not decode (a
// batch with none, a split with none), the loader read no further than maxItems needs, the loader
// closed, and a class split's item without a label. The model's GPU entry points are stand-ins
// (vi.mock) that record how many rows they were given; the pictures are real files: good ones, one
// cut inside its pixel data (its header reads, so the dataset keeps it and only the loader fails on
// it) and one that is no picture at all (the dataset itself refuses or leaves it out).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchLoader } from '../../../src/data/loader.ts';
import { BatchLoaderCore } from '../../../src/data/loader-core.ts';
import { TokenizerCore } from '../../../src/data/tokenizer-core.ts';
import type { Tokenizer } from '../../../src/data/tokenizer.ts';
import { evalSplit, evalZeroShot, type EvalContext } from '../../../src/eval/run.ts';
import { checkSearch } from '../../../src/infer/search.ts';
import type { CocaModel } from '../../../src/model/coca.ts';
import { tempDir, testPreprocess, writeCorrupt, writeImage } from '../data/fixtures.ts';
import { COCA, handJson } from './hand-tokenizer.ts';
import { SIDE, writeCutPng, writeEvalSet } from './eval-fixture.ts';

const E = 2;
const tok = TokenizerCore.fromJSON(handJson(COCA));
/** Rows each GPU entry point was asked for, call by call. */
const calls = { images: [] as number[], captioned: [] as number[] };

vi.mock('../../../src/infer/embed.ts', async (orig) => ({
  ...(await orig<typeof import('../../../src/infer/embed.ts')>()),
  embedImages: async (_m: unknown, _images: Float32Array, n: number) => {
    calls.images.push(n);
    return Float32Array.from({ length: n * E }, (_, k) => (k % E === 0 ? 1 : 0));
  },
  embedTexts: async (_m: unknown, _t: unknown, texts: readonly string[]) => Float32Array.from({ length: texts.length * E }, (_, k) => (k % E === 0 ? 1 : 0)),
}));
vi.mock('../../../src/infer/caption.ts', async (orig) => ({
  ...(await orig<typeof import('../../../src/infer/caption.ts')>()),
  captionImages: async (_m: unknown, _images: Float32Array, B: number) => {
    calls.captioned.push(B);
    return Array.from({ length: B }, () => ({ tokens: Array.from(tok.encode('one good picture')), score: 0 }));
  },
}));

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
beforeEach(() => {
  vi.spyOn(os, 'availableParallelism').mockReturnValue(2);
  calls.images = [];
  calls.captioned = [];
});
afterEach(() => vi.restoreAllMocks());

const model = { config: { embed_dim: E, text_cfg: { context_length: 40 } } } as unknown as CocaModel;
function context(over: Partial<EvalContext> = {}): EvalContext & { lines: string[] } {
  const lines: string[] = [];
  return { model, tokenizer: tok as unknown as Tokenizer, pre: testPreprocess(SIDE), batch: 2, search: checkSearch({ beams: 1, maxLen: 40 }), log: (l) => lines.push(l), lines, ...over };
}

/** A folder of pictures with captions.tsv: `good` pictures that decode, `cut` ones that do not, `junk` files that are no picture. */
async function folder(files: { name: string; kind: 'good' | 'cut' | 'junk' }[]): Promise<string> {
  const dir = tempDir();
  dirs.push(dir);
  for (const [k, f] of files.entries()) {
    const file = path.join(dir, f.name);
    if (f.kind === 'good') await writeImage(file, 12, 12, k);
    else if (f.kind === 'cut') await writeCutPng(file);
    else writeCorrupt(file);
  }
  fs.writeFileSync(path.join(dir, 'captions.tsv'), files.map((f) => `${f.name}\tone good picture\n`).join(''));
  return dir;
}

describe('evalSplit: pictures that do not decode, and --strict', () => {
  it('leaves a picture the loader cannot decode out, in one warning line; with strict it stops there', async () => {
    const dir = await folder([{ name: 'good.png', kind: 'good' }, { name: 'cut.png', kind: 'cut' }]);
    const ctx = context();
    const sections = await evalSplit(ctx, dir, 'all', null);
    expect(sections[0]!.sizes).toEqual({ images: 1, captions: 1 });
    expect(calls.images).toEqual([1]);
    expect(ctx.lines).toHaveLength(2);
    expect(ctx.lines[0]).toMatch(/^warning: 1 of 2 pictures could not be decoded in .* left out \(.*cut\.png.*\); pass --strict to stop at the first$/);
    // The dataset keeps cut.png (its header reads): only the loader, told strict, can stop at it.
    await expect(evalSplit(context({ strict: true }), dir, 'all', null)).rejects.toThrow(/cut\.png.*--strict stops at the first picture that cannot be decoded/);
  });

  it('hands strict to the dataset: a file that is no picture is refused when read, else left out', async () => {
    const dir = await folder([{ name: 'good.png', kind: 'good' }, { name: 'junk.png', kind: 'junk' }]);
    await expect(evalSplit(context({ strict: true }), dir, 'all', null)).rejects.toThrow(/^corrupt or unreadable images: .*junk\.png/);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const sections = await evalSplit(context(), dir, 'all', null);
    expect(sections[0]!.sizes).toEqual({ images: 1, captions: 1 });
    expect(warn.mock.calls.flat().join('\n')).toMatch(/junk\.png/);
  });

  it('never embeds a batch whose pictures all failed, and reads on to the good one', async () => {
    const dir = await folder([{ name: 'cut0.png', kind: 'cut' }, { name: 'cut1.png', kind: 'cut' }, { name: 'good.png', kind: 'good' }]);
    const sections = await evalSplit(context(), dir, 'all', null);
    expect(calls.images).toEqual([1]);
    expect(calls.captioned).toEqual([1]);
    expect(sections[0]!.sizes).toEqual({ images: 1, captions: 1 });
  });

  it('refuses a split none of whose pictures decode, in one line, and closes its loader', async () => {
    const close = vi.spyOn(BatchLoader.prototype, 'close');
    const dir = await folder([{ name: 'cut0.png', kind: 'cut' }, { name: 'cut1.png', kind: 'cut' }, { name: 'cut2.png', kind: 'cut' }]);
    const err = await evalSplit(context(), dir, 'all', null).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('DataError');
    expect((err as Error).message).toMatch(/^none of the 3 pictures of \S+ all could be decoded; check the image files \(--strict names the first and why\)$/);
    expect(calls.images).toEqual([]);
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe('evalSplit: maxItems', () => {
  it('reads the loader no further than the batch that reaches maxItems, and closes it', async () => {
    const dir = tempDir();
    dirs.push(dir);
    writeEvalSet(dir, { test: { captions: [0, 1, 2, 3, 4, 5, 6].map((i) => [`caption ${i}`]) } });
    const next = vi.spyOn(BatchLoaderCore.prototype, 'next');
    const close = vi.spyOn(BatchLoader.prototype, 'close');
    const sections = await evalSplit(context({ maxItems: 2 }), dir, 'test', null);
    expect(sections[0]!.sizes).toEqual({ images: 2, captions: 2 });
    // Seven pictures in batches of 2: the first batch holds both; a second read would add nothing.
    expect(next).toHaveBeenCalledTimes(1);
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe('evalZeroShot', () => {
  it('hands strict to the dataset: a file that is no picture is refused when read, before the split is looked at', async () => {
    const dir = await folder([{ name: 'good.png', kind: 'good' }, { name: 'junk.png', kind: 'junk' }]);
    await expect(evalZeroShot(context({ strict: true }), dir, 'all')).rejects.toThrow(/^corrupt or unreadable images: .*junk\.png/);
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    // Without strict the dataset leaves it out and the (class-less) split is refused for what it is.
    await expect(evalZeroShot(context(), dir, 'all')).rejects.toThrow(/^split all of .* has no class names$/);
  });

  it('refuses an item of a class split that has no label, rather than counting it as a class', async () => {
    const dir = tempDir();
    dirs.push(dir);
    writeEvalSet(dir, { classes: { captions: [['x'], ['y'], ['z']], classes: ['shirt', 'shoe', 'bag'], labels: [2, 0, undefined as unknown as number] } });
    await expect(evalZeroShot(context(), dir, 'classes', ['a {}'])).rejects.toThrow(/label -1 of sample 2 is not a class/);
  });
});
