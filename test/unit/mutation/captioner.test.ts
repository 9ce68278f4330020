// `coca eval` on a captioner that is not CoCa (src/eval/captioner.ts), with a stand-in model: its
// decode state reads which item each row shows from the pixels (eval-fixture.ts) and spells, token
// by token, the caption the test gives that item. So what comes back — which items were captioned,
// in which batches, with which references — is known by hand, and a caption equal to its first
// reference scores BLEU 1 (every n-gram matched, lengths equal).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchLoader } from '../../../src/data/loader.ts';
import { TokenizerCore } from '../../../src/data/tokenizer-core.ts';
import type { Tokenizer } from '../../../src/data/tokenizer.ts';
import { evalCaptionerSplit, type CaptionerEvalContext } from '../../../src/eval/captioner.ts';
import type { CaptionRecord } from '../../../src/eval/sheet.ts';
import { checkSearch } from '../../../src/infer/search.ts';
import type { Captioner } from '../../../src/model/captioners/captioner.ts';
import { tempDir, testPreprocess, writeCorrupt, writeImage } from '../data/fixtures.ts';
import { COCA, handJson } from './hand-tokenizer.ts';
import { itemOf, SIDE, writeCutPng, writeEvalSet } from './eval-fixture.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
// Two cores: no worker threads (the stand-in is read on this thread either way).
beforeEach(() => vi.spyOn(os, 'availableParallelism').mockReturnValue(2));
afterEach(() => vi.restoreAllMocks());

const tok = TokenizerCore.fromJSON(handJson(COCA));
const VOCAB = 260; // bytes 3..258, the merge "ab" 259
const pre = testPreprocess(SIDE);
const PLANE = 3 * SIDE * SIDE;

/** Captions of the split 'test': item i's first reference is what the stand-in says for it. */
const REFS = [0, 1, 2, 3, 4].map((i) => [`a picture of item ${i} here`, `another caption ${i}`]);

/** A captioner that says say(item) for each picture, recording the batches it was asked to caption. */
function standIn(say: (item: number) => string) {
  const calls: { B: number; values: number; items: number[] }[] = [];
  const model = {
    arch: 'showtell',
    config: { decoder_cfg: { context_length: 40, pad_id: 0, vocab_size: VOCAB } },
    beginDecode(images: Float32Array, B: number, beams: number) {
      // As the real towers do (a tensor refuses a zero dimension): no decode state for no pictures.
      if (B === 0) throw new Error('beginDecode: no pictures');
      const items = Array.from({ length: B }, (_, n) => itemOf(images[n * PLANE]!));
      calls.push({ B, values: images.length, items });
      const target = items.map((i) => Array.from(tok.encode(say(i))));
      const rows = B * beams;
      let length = 0;
      return {
        rows,
        beams,
        vocab: VOCAB,
        get length() {
          return length;
        },
        async step(tokens: Int32Array) {
          const out = new Float32Array(tokens.length * VOCAB);
          for (let n = 0; n < tokens.length; n++) out[n * VOCAB + (target[Math.floor(n / beams)]![length + 1] ?? 2)] = 5;
          length++;
          return out;
        },
        reorder() {},
        crossAttention: () => null,
        release() {},
      };
    },
  };
  return { model: model as unknown as Captioner, calls };
}

function context(model: Captioner, over: Partial<CaptionerEvalContext> = {}): CaptionerEvalContext & { lines: string[] } {
  const lines: string[] = [];
  return { model, tokenizer: tok as unknown as Tokenizer, pre, batch: 2, search: checkSearch({ beams: 1, maxLen: 40 }), log: (l) => lines.push(l), lines, ...over };
}

function dataset(): string {
  const dir = tempDir();
  dirs.push(dir);
  writeEvalSet(dir, {
    test: { captions: REFS },
    classes: { captions: [['shirt'], ['shoe']], classes: ['shirt', 'shoe'], labels: [0, 1] },
  });
  return dir;
}

describe('evalCaptionerSplit', () => {
  it('captions the first maxItems pictures in order, batch by batch, and scores them against their references', async () => {
    const data = dataset();
    const { model, calls } = standIn((i) => REFS[i]![0]!);
    const next = vi.spyOn(BatchLoader.prototype, 'next');
    const close = vi.spyOn(BatchLoader.prototype, 'close');
    const captions: CaptionRecord[] = [];
    const ctx = context(model, { maxItems: 3, captions });
    const t0 = performance.now();
    const section = await evalCaptionerSplit(ctx, data, 'test');
    const elapsed = (performance.now() - t0) / 1000;
    // Batches of 2, the second cut to the one item left; nothing asked of the loader after that.
    expect(calls).toEqual([
      { B: 2, values: 2 * PLANE, items: [0, 1] },
      { B: 1, values: PLANE, items: [2] },
    ]);
    expect(next).toHaveBeenCalledTimes(2);
    expect(close).toHaveBeenCalledTimes(1);
    expect(captions).toEqual([0, 1, 2].map((i) => ({ split: 'test', item: i, id: `test-${i}`, caption: REFS[i]![0], references: REFS[i] })));
    expect(section!.title).toBe('test');
    expect(section!.sizes).toEqual({ images: 3, captions: 6 });
    expect(section!.rows).toHaveLength(1);
    expect(section!.rows[0]!.name).toBe('showtell');
    const m = section!.rows[0]!.metrics;
    for (const k of ['bleu1', 'bleu2', 'bleu3', 'bleu4']) expect(m[k], k).toBeCloseTo(1, 8); // coco-caption's BLEU adds 1e-9 to counts
    expect(Number.isFinite(m.cider_d)).toBe(true);
    // One line, the time taken no more than the call took.
    expect(ctx.lines).toHaveLength(1);
    const got = /^ {2}test: captioned 3 images \((\d+\.\d) s\)$/.exec(ctx.lines[0]!);
    expect(got).not.toBeNull();
    expect(Number(got![1])).toBeLessThanOrEqual(elapsed + 0.05);
  });

  it('stops when maxItems falls on a batch boundary, and reads to the end without one', async () => {
    const data = dataset();
    const a = standIn((i) => REFS[i]![0]!);
    const next = vi.spyOn(BatchLoader.prototype, 'next');
    await evalCaptionerSplit(context(a.model, { maxItems: 4 }), data, 'test');
    expect(a.calls.map((c) => c.items)).toEqual([[0, 1], [2, 3]]);
    expect(next).toHaveBeenCalledTimes(2);
    const b = standIn((i) => REFS[i]![0]!);
    const section = await evalCaptionerSplit(context(b.model), data, 'test');
    expect(b.calls.map((c) => c.items)).toEqual([[0, 1], [2, 3], [4]]);
    expect(section!.sizes).toEqual({ images: 5, captions: 10 });
  });

  it('scores the captions it got: one picture captioned wrongly lowers BLEU below 1', async () => {
    const data = dataset();
    const { model } = standIn((i) => (i === 1 ? 'something else entirely' : REFS[i]![0]!));
    const section = await evalCaptionerSplit(context(model, { maxItems: 2 }), data, 'test');
    expect(section!.rows[0]!.metrics.bleu1).toBeLessThan(1);
  });

  it('skips a split of classes in one line, captioning nothing', async () => {
    const data = dataset();
    const { model, calls } = standIn(() => 'x');
    const ctx = context(model);
    expect(await evalCaptionerSplit(ctx, data, 'classes')).toBeNull();
    expect(ctx.lines).toEqual(['  classes: a split of classes (zero-shot classification), which a showtell model cannot do without a joint embedding; skipped']);
    expect(calls).toEqual([]);
  });

  it('tells how many pictures could not be decoded, refuses a split where none could, and stops at the first with strict', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await writeImage(path.join(dir, 'good.png'), 12, 12, 0);
    await writeCutPng(path.join(dir, 'cut.png'));
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'good.png\tone good picture\ncut.png\tone cut picture\n');
    const { model } = standIn(() => 'one good picture');
    const ctx = context(model);
    const section = await evalCaptionerSplit(ctx, dir, 'all');
    expect(section!.sizes.images).toBe(1);
    expect(ctx.lines).toHaveLength(2);
    expect(ctx.lines[0]).toMatch(/^warning: 1 of 2 pictures could not be decoded in .* left out \(.*cut\.png.*\); pass --strict to stop at the first$/);
    await expect(evalCaptionerSplit(context(model, { strict: true }), dir, 'all')).rejects.toThrow(/cut\.png/);

    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'cut.png\tone cut picture\n');
    const err = await evalCaptionerSplit(context(model), dir, 'all').catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('DataError');
    expect((err as Error).message).toMatch(/^none of the 1 pictures of \S+ all could be decoded; check the image files \(--strict names the first and why\)$/);
  });

  it('never asks the model to caption a batch whose pictures all failed, and reads on to the good ones', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await writeCutPng(path.join(dir, 'cut0.png'));
    await writeCutPng(path.join(dir, 'cut1.png'));
    await writeImage(path.join(dir, 'good.png'), 12, 12, 0);
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'cut0.png\tcut zero\ncut1.png\tcut one\ngood.png\tone good picture\n');
    const { model, calls } = standIn(() => 'one good picture');
    const section = await evalCaptionerSplit(context(model), dir, 'all');
    expect(calls.map((c) => c.B)).toEqual([1]);
    expect(section!.sizes).toEqual({ images: 1, captions: 1 });
  });

  it('passes strict to the dataset too: a file that is no picture at all is refused when it is read, else left out', async () => {
    const dir = tempDir();
    dirs.push(dir);
    await writeImage(path.join(dir, 'good.png'), 12, 12, 0);
    writeCorrupt(path.join(dir, 'junk.png'));
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'good.png\tone good picture\njunk.png\tnot a picture\n');
    const { model } = standIn(() => 'one good picture');
    await expect(evalCaptionerSplit(context(model, { strict: true }), dir, 'all')).rejects.toThrow(/^corrupt or unreadable images: .*junk\.png/);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const section = await evalCaptionerSplit(context(model), dir, 'all');
    expect(section!.sizes.images).toBe(1);
    expect(warn.mock.calls.flat().join('\n')).toMatch(/junk\.png/);
  });
});
