// The library under `coca retrieve`, `coca index build`, `coca classify` and `coca caption`:
// a planted match is found, an index from other weights is refused, class probabilities sum to
// 1, pictures of any size and format go through, the default checkpoint is the newest run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { embedImages, embedTexts, topK } from '../../src/infer/embed.ts';
import { loadImageFiles, newestCheckpoint, openCheckpoint, resolveCheckpointDir, type OpenCheckpoint } from '../../src/infer/load.ts';
import { buildIndex, loadIndex, saveIndex } from '../../src/infer/retrieval.ts';
import { classEmbeddings, classify, logitScale, parseLabels, parseTemplates } from '../../src/infer/zeroshot.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from './fixture.ts';

let gpu: Gpu;
let dir: string;
let ck: OpenCheckpoint;
let pics: Awaited<ReturnType<typeof makePictures>>;

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-infer-'));
  await makeCheckpoint(gpu, path.join(dir, 'ck'));
  pics = await makePictures(path.join(dir, 'pics'));
  ck = openCheckpoint(gpu, path.join(dir, 'ck'));
});
afterAll(() => {
  ck?.release();
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('retrieval index', () => {
  it('skips an undecodable picture, finds a planted match first, refuses other weights', async () => {
    const warnings: string[] = [];
    const out = path.join(dir, 'index');
    const ix = await buildIndex(ck, out, { folder: path.join(dir, 'pics'), warn: (l) => warnings.push(l) });
    expect(ix.items.map((i) => path.basename(i.path!))).toEqual(['blue.jpg', 'red.png', 'star.svg', 'wide.webp']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^skipped .*corrupt\.png: cannot decode image/);
    // Plant the query's own embedding at the star: it must come first, with cosine 1.
    const q = await embedTexts(ck.model, ck.tokenizer, ['a dog on a surfboard']);
    ix.embeddings.set(q, 2 * ix.E);
    saveIndex(ix);
    const back = loadIndex(out, ck.id);
    const hits = topK(back.embeddings, q, 3);
    expect(hits[0]!.index).toBe(2);
    expect(hits[0]!.score).toBeCloseTo(1, 5);
    expect(hits[1]!.score).toBeLessThan(hits[0]!.score);
    expect(() => loadIndex(out, '0123456789abcdef')).toThrow(/was built with another checkpoint \(.*ck, id [0-9a-f]{16}\); rebuild it with 'coca index build --checkpoint \.\.\.'/);
  });
});

describe('zero-shot classification', () => {
  it('gives probabilities that sum to 1 per image, over a prompt ensemble', async () => {
    const labels = parseLabels('red square, blue circle,dog,,dog');
    expect(labels).toEqual(['red square', 'blue circle', 'dog']);
    const files = [pics.red, pics.blue, pics.wide];
    const img = await embedImages(ck.model, await loadImageFiles(files, ck.pre), files.length);
    const probs = classify(img, await classEmbeddings(ck.model, ck.tokenizer, labels, parseTemplates('default')), ck.model.config.embed_dim, await logitScale(ck.model));
    for (let i = 0; i < files.length; i++) {
      const row = probs.subarray(i * 3, (i + 1) * 3);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      for (const p of row) expect(p).toBeGreaterThan(0);
    }
  });

  it("class embeddings are the normalised mean of each label's template embeddings; probabilities are softmax(exp(s)·cos), s clamped", async () => {
    const E = ck.model.config.embed_dim;
    const labels = ['red square', 'dog', 'blue circle'];
    const templates = ['{}', 'a photo of a {}.', 'an icon of a {}.'];
    const cls = await classEmbeddings(ck.model, ck.tokenizer, labels, templates);
    for (const [c, label] of labels.entries()) {
      // Each sentence embedded on its own (unit rows), averaged and normalised here.
      const mean = new Float64Array(E);
      for (const t of templates) (await embedTexts(ck.model, ck.tokenizer, [t.replace('{}', label)])).forEach((x, j) => (mean[j]! += x / templates.length));
      const norm = Math.hypot(...mean);
      for (let j = 0; j < E; j++) expect(cls[c * E + j], `${label}[${j}]`).toBeCloseTo(mean[j]! / norm, 5);
    }
    const stored = (await ck.model.params.get('logit_scale').toArray())[0]!;
    const scale = await logitScale(ck.model);
    expect(scale).toBeCloseTo(Math.exp(Math.min(Math.max(stored, 0), Math.log(100))), 9);
    const files = [pics.red, pics.blue];
    const img = await embedImages(ck.model, await loadImageFiles(files, ck.pre), files.length);
    const probs = classify(img, cls, E, scale);
    for (let i = 0; i < files.length; i++) {
      const z = labels.map((_, c) => scale * Array.from({ length: E }, (_, j) => img[i * E + j]! * cls[c * E + j]!).reduce((a, b) => a + b, 0));
      const m = Math.max(...z);
      const sum = z.reduce((a, x) => a + Math.exp(x - m), 0);
      z.forEach((x, c) => expect(probs[i * labels.length + c]).toBeCloseTo(Math.exp(x - m) / sum, 12));
    }
  });

  it('rejects empty labels and template files without {}', () => {
    expect(() => parseLabels(' , ,')).toThrow(/--labels holds no labels/);
    expect(() => parseLabels()).toThrow(/name the classes/);
    const t = path.join(dir, 'templates.txt');
    fs.writeFileSync(t, 'a photo of a {}\na photo\n');
    expect(() => parseTemplates(t)).toThrow(/"a photo" has no \{\}/);
  });
});

describe('pictures and checkpoints', () => {
  it('captions pictures of other sizes and formats (PNG 16², JPEG 40×30, WebP with alpha, SVG)', async () => {
    const files = [pics.red, pics.blue, pics.wide, pics.svg];
    const images = await loadImageFiles(files, ck.pre);
    expect(images.length).toBe(files.length * 3 * ck.pre.size ** 2);
    expect(images.every(Number.isFinite)).toBe(true);
    const caps = await captionImages(ck.model, images, files.length, { maxLen: 8, beams: 2 });
    expect(caps).toHaveLength(4);
    for (const c of caps) expect(c.tokens[0]).toBe(1);
    await expect(loadImageFiles([path.join(dir, 'nope.png')], ck.pre)).rejects.toThrow(/nope\.png: no such file/);
    await expect(loadImageFiles([pics.corrupt], ck.pre)).rejects.toThrow(/cannot decode image .*corrupt\.png/);
  });

  it('defaults to the newest checkpoint under runs/, and says to run coca train when there is none', async () => {
    const cwd = process.cwd();
    const root = path.join(dir, 'cwd');
    fs.mkdirSync(root);
    process.chdir(root);
    try {
      // The built-in model stands in for a run by default (test/model/builtin-model.test.ts); without it:
      expect(() => resolveCheckpointDir(undefined, { builtin: false })).toThrow(/none under runs\/; train one with 'coca train' or pass --checkpoint DIR/);
      for (const [run, t] of [['nano-a', 1000], ['nano-b', 3000], ['tiny-c', 2000]] as const) {
        const last = path.join('runs', run, 'checkpoints', 'last');
        fs.mkdirSync(last, { recursive: true });
        for (const f of ['config.json', 'model.safetensors']) {
          fs.writeFileSync(path.join(last, f), '{}');
          fs.utimesSync(path.join(last, f), t, t);
        }
      }
      expect(newestCheckpoint()).toBe(path.join('runs', 'nano-b', 'checkpoints', 'last'));
      expect(resolveCheckpointDir('runs/tiny-c')).toBe(path.join('runs', 'tiny-c', 'checkpoints', 'last'));
    } finally {
      process.chdir(cwd);
    }
  });
});
