// Caption languages end to end on a micro model: `coca caption --lang` decodes after the
// language's token (the same tokens as feeding [SOT] [lang:xx] by hand), an unknown language or
// --lang on a model without language tokens is one line, a model without them is unchanged, and
// `coca eval`'s per-language sections are computed on the pictures that have captions in that
// language, with texts encoded after its token.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/load.ts';
import { BatchLoader } from '../../src/data/loader.ts';
import { FORMAT, FORMAT_VERSION, ImageWriter, imageFile, writeItems, type StoredItem } from '../../src/data/store.ts';
import { embedTexts, evalSplit, type EvalContext } from '../../src/eval/run.ts';
import { writeCaptionSheet } from '../../src/eval/sheet.ts';
import { retrievalRecallPairs, similarity } from '../../src/eval/recall.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { embedImages } from '../../src/infer/embed.ts';
import { loadReadableImages, openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { checkSearch } from '../../src/infer/search.ts';
import { RecomputeStepper } from '../../src/infer/stepper.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy } from '../../src/tensor/tensor.ts';
import { testGpu } from '../helpers/gpu.ts';
import { patternPixels } from '../unit/data/fixtures.ts';
import { CAPTIONS, CAPTIONS_RU, CAPTIONS_ZH, makeCheckpoint, makePictures } from './fixture.ts';

let gpu: Gpu;
let dir: string;
let multiDir: string;
let plainDir: string;
let data: string;
let pics: Awaited<ReturnType<typeof makePictures>>;

function coca(args: string[]) {
  const r = spawnSync(process.execPath, [path.resolve('bin/coca.js'), ...args], { encoding: 'utf8', cwd: dir, timeout: 120_000 });
  const errLines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'));
  return { status: r.status, stdout: r.stdout, errLines };
}

/** A built dataset of 16 px patterns: test-concept (9 items) and train (6), Russian on even items, Chinese on the first three. */
function writeDataset(folder: string): void {
  fs.mkdirSync(folder, { recursive: true });
  const splits = { 'test-concept': 9, train: 6 };
  for (const [split, n] of Object.entries(splits)) {
    const w = new ImageWriter(imageFile(folder, split, 16), 16);
    const items: StoredItem[] = [];
    for (let i = 0; i < n; i++) {
      w.write(patternPixels(16, 16, i * 29 + (split === 'train' ? 7 : 0)), i);
      const k = i % CAPTIONS.length;
      const i18n: Record<string, string[]> = {};
      if (i % 2 === 0) i18n['ru'] = [CAPTIONS_RU[k]!];
      if (i < 3) i18n['zh'] = [CAPTIONS_ZH[k]!];
      items.push({ id: `${split}/${i}`, captions: [CAPTIONS[k]!], ...(Object.keys(i18n).length ? { i18n } : {}) });
    }
    w.close();
    writeItems(folder, split, items);
  }
  const manifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    name: 'languages-fixture',
    imageSizes: [16],
    splits: Object.fromEntries(Object.entries(splits).map(([s, count]) => [s, { count, about: s }])),
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    seed: 0,
    sources: [],
    build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: 'fixture' },
    tokenizer: { file: 'tokenizer.json', vocabSize: 0 },
    languages: ['en', 'ru', 'zh'],
  };
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
}

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-languages-'));
  multiDir = path.join(dir, 'multi');
  plainDir = path.join(dir, 'plain');
  await makeCheckpoint(gpu, multiDir, 5, 3, ['en', 'ru', 'zh', 'ms']);
  await makeCheckpoint(gpu, plainDir, 5);
  pics = await makePictures(path.join(dir, 'pics'));
  data = path.join(dir, 'data');
  writeDataset(data);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Greedy tokens of one picture with [SOT] and then `forced` fed by hand, never generating a language token. */
async function handFed(ck: OpenCheckpoint, images: Float32Array, forced: number[], steps: number): Promise<number[]> {
  const patches = ck.model.preparePatches(images, 1);
  const image = noGrad(() => tidy(() => ck.model.encodeImage(patches)));
  patches.release();
  const s = new RecomputeStepper(ck.model, image.tokens, 1);
  const langIds = new Set(ck.tokenizer.languages.map((l) => ck.tokenizer.languagePrefix(l)[0]!));
  try {
    let logits = await s.step(Int32Array.of(ck.tokenizer.bosId));
    for (const t of forced) logits = await s.step(Int32Array.of(t));
    const out = [ck.tokenizer.bosId];
    for (let k = 0; k < steps; k++) {
      let pick = -1;
      for (let v = 0; v < logits.length; v++) {
        if (v === ck.tokenizer.padId || v === ck.tokenizer.bosId || langIds.has(v)) continue;
        if (pick < 0 || logits[v]! > logits[pick]!) pick = v;
      }
      out.push(pick);
      if (pick === ck.tokenizer.eosId) break;
      logits = await s.step(Int32Array.of(pick));
    }
    return out;
  } finally {
    s.release();
    image.embedding.release();
    image.tokens.release();
  }
}

describe('coca serve: lang on /api/caption', () => {
  it("captions after the language's token, as coca caption --lang does; a language the model lacks is this request's one-line 400", async () => {
    const { buildServer, DEFAULTS } = await import('../../src/serve/server.ts');
    const { form } = await import('../serve/helpers.ts');
    const ck = openCheckpoint(gpu, multiDir);
    const served = await buildServer(gpu, ck, null, DEFAULTS);
    try {
      const post = async (fields: Record<string, string | number | boolean>) => {
        const r = await served.app.inject({ method: 'POST', url: '/api/caption', ...(await form({ bytes: fs.readFileSync(pics.red), type: 'image/png', name: 'red.png' }, fields)) });
        return { status: r.statusCode, body: r.json() as Record<string, any> };
      };
      const { images } = await loadReadableImages([pics.red], ck.pre);
      for (const lang of ['ru', 'zh']) {
        const r = await post({ beams: 1, maxLen: 8, attention: false, lang });
        expect(r.status).toBe(200);
        const want = await handFed(ck, images, ck.tokenizer.languagePrefix(lang), 7);
        expect([ck.tokenizer.bosId, ...r.body.captions[0].tokens.map((t: { id: number }) => t.id)]).toEqual(want.slice(0, 1 + r.body.captions[0].tokens.length));
      }
      // Concurrent requests in two languages share no decode: each gets its own language's tokens.
      const [ru, zh] = await Promise.all([post({ beams: 1, maxLen: 8, attention: false, lang: 'ru' }), post({ beams: 1, maxLen: 8, attention: false, lang: 'zh' })]);
      expect(ru.body.captions[0].tokens).toEqual((await post({ beams: 1, maxLen: 8, attention: false, lang: 'ru' })).body.captions[0].tokens);
      expect(zh.body.captions[0].tokens).toEqual((await post({ beams: 1, maxLen: 8, attention: false, lang: 'zh' })).body.captions[0].tokens);
      const bad = await post({ lang: 'fr' });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatch(/no language 'fr'; it has en, ru, zh, ms/);
      expect(String(bad.body.error).split('\n')).toHaveLength(1);
    } finally {
      await served.close();
      ck.release();
    }
  });
});

describe('coca caption --lang', () => {
  it('decodes after the language token: the tokens of feeding [SOT] [lang:xx] by hand, in process and from the command', async () => {
    const ck = openCheckpoint(gpu, multiDir);
    try {
      const { images } = await loadReadableImages([pics.red], ck.pre);
      const search = checkSearch({ beams: 1, maxLen: 8 });
      const byLang: Record<string, number[]> = {};
      for (const lang of ['ru', 'zh']) {
        const [c] = await captionImages(ck.model, images, 1, { ...search, ...ck.tokenizer.searchIds(lang) });
        byLang[lang] = c!.tokens;
        expect(c!.tokens).toEqual(await handFed(ck, images, ck.tokenizer.languagePrefix(lang), c!.tokens.length - 1));
      }
      const r = coca(['caption', pics.red, '--checkpoint', multiDir, '--beams', '1', '--max-len', '8', '--lang', 'zh', '--json']);
      expect(r.errLines).toEqual([]);
      const out = JSON.parse(r.stdout) as { lang: string; captions: { tokens: { id: number }[] }[] };
      expect(out.lang).toBe('zh');
      expect(out.captions[0]!.tokens.map((t) => t.id)).toEqual(byLang['zh']!.slice(1));
    } finally {
      ck.release();
    }
  });

  it.each([
    ['a language the model has no token for', () => ['caption', pics.red, '--checkpoint', multiDir, '--lang', 'fr'], /^coca: this model's tokenizer has no language 'fr'; it has en, ru, zh, ms$/],
    ['--lang on a model without language tokens', () => ['caption', pics.red, '--checkpoint', plainDir, '--lang', 'ru'], /^coca: this model's tokenizer has no language tokens .*'ru'; leave out --lang/],
  ])('%s: one line, exit 1', (_what, args, message) => {
    const r = coca(args());
    expect(r.status).toBe(1);
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toMatch(message);
  });

  it('a model without language tokens captions as before: from [SOT] alone, with or without lang en', async () => {
    const ck = openCheckpoint(gpu, plainDir);
    try {
      expect(ck.tokenizer.languages).toEqual([]);
      const { images } = await loadReadableImages([pics.blue], ck.pre);
      const [c] = await captionImages(ck.model, images, 1, { ...checkSearch({ beams: 1, maxLen: 8 }), ...ck.tokenizer.searchIds() });
      expect(c!.tokens).toEqual(await handFed(ck, images, [], c!.tokens.length - 1));
      const [en] = await captionImages(ck.model, images, 1, { ...checkSearch({ beams: 1, maxLen: 8 }), ...ck.tokenizer.searchIds('en') });
      expect(en).toEqual(c);
    } finally {
      ck.release();
    }
  });
});

describe('coca eval per caption language', () => {
  it('adds a section per other language, on the pictures with captions in it, its texts encoded after the language token', async () => {
    const ck = openCheckpoint(gpu, multiDir);
    try {
      const records: NonNullable<EvalContext['captions']> = [];
      const ctx: EvalContext = { model: ck.model, tokenizer: ck.tokenizer, pre: ck.pre, batch: 4, search: checkSearch({ beams: 1, maxLen: 8 }), log: () => {}, captions: records };
      const sections = await evalSplit(ctx, data, 'test-concept', null);
      expect(sections.map((s) => s.title)).toEqual(['test-concept', 'test-concept, captions as classes (flat hit@k)', 'test-concept, ru captions', 'test-concept, zh captions']);
      const [en, , ru, zh] = sections;
      expect(en!.sizes).toEqual({ images: 9, captions: 9 });
      expect(ru!.sizes).toEqual({ images: 5, captions: 5 });
      expect(zh!.sizes).toEqual({ images: 3, captions: 3 });
      for (const s of [ru!, zh!]) {
        const row = s.rows.find((r) => r.name === 'coca')!;
        for (const k of ['i2t_r1', 't2i_r1', 'bleu1', 'cider_d']) expect(row.metrics[k], k).toBeTypeOf('number');
        expect(s.rows.map((r) => r.name)).toEqual(['coca', 'chance']);
      }
      // The Russian pictures are the even items, scored against their Russian captions.
      const ruRecords = records.filter((r) => r.split === 'test-concept' && r.lang === 'ru');
      expect(ruRecords.map((r) => r.item)).toEqual([0, 2, 4, 6, 8]);
      expect(ruRecords.map((r) => r.references)).toEqual([0, 2, 4, 6, 8].map((i) => [CAPTIONS_RU[i % 8]!]));
      expect(records.filter((r) => r.lang === 'zh').map((r) => r.item)).toEqual([0, 1, 2]);
      expect(records.filter((r) => r.lang === undefined)).toHaveLength(9);
      // The captions sheet finds every picture's thumbnail, a language's rows included, and names the language.
      const sheet = path.join(dir, 'sheet');
      await writeCaptionSheet(sheet, 'languages', records, data);
      const html = fs.readFileSync(path.join(sheet, 'captions.html'), 'utf8');
      expect(html.match(/<img /g)).toHaveLength(records.length);
      expect(html).toContain('test-concept · ru<br>');

      // Recall recomputed by hand from the Russian subset, texts after [lang:ru].
      const d = await loadDataset(data, { split: 'test-concept', imageSize: 16 });
      const imgs = new Float32Array(5 * 3 * ck.pre.size ** 2);
      const b = await new BatchLoader(d, { batchSize: 9, contextLength: 12, tokenizer: ck.tokenizer, preprocess: ck.pre, train: false, workers: 0 }).next();
      const plane = 3 * ck.pre.size ** 2;
      [0, 2, 4, 6, 8].forEach((i, k) => imgs.set(b.images.subarray(i * plane, (i + 1) * plane), k * plane));
      const E = ck.model.config.embed_dim;
      const ie = await embedImages(ck.model, imgs, 5);
      const te = await embedTexts(ctx, [0, 2, 4, 6, 8].map((i) => CAPTIONS_RU[i % 8]!), 'ru');
      const pairs = [0, 1, 2, 3, 4].map((k) => [k, k] as [number, number]);
      const want = retrievalRecallPairs(similarity(ie, te, 5, 5, E), 5, 5, pairs);
      const row = ru!.rows[0]!.metrics;
      expect([row['i2t_r1'], row['t2i_r1'], row['i2t_r5']]).toEqual([want.imageToText[0], want.textToImage[0], want.imageToText[1]]);
      // Its captions are decoded after [lang:ru].
      const ruCaps = await captionImages(ck.model, imgs, 5, { ...ctx.search, ...ck.tokenizer.searchIds('ru') });
      expect(ruRecords.map((r) => r.caption)).toEqual(ruCaps.map((c) => ck.tokenizer.decode(c.tokens)));
      d.close();
    } finally {
      ck.release();
    }
  });

  it('gives a model without language tokens only the English sections', async () => {
    const ck = openCheckpoint(gpu, plainDir);
    try {
      const ctx: EvalContext = { model: ck.model, tokenizer: ck.tokenizer, pre: ck.pre, batch: 4, search: checkSearch({ beams: 1, maxLen: 8 }), log: () => {} };
      const sections = await evalSplit(ctx, data, 'test-concept', null);
      expect(sections.map((s) => s.title)).toEqual(['test-concept', 'test-concept, captions as classes (flat hit@k)']);
    } finally {
      ck.release();
    }
  });
});
