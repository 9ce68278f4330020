// Re-ranking on a real (small) model: captionImages with --rerank returns, for every picture, the
// beam candidate whose text-tower embedding is closest to the picture's — recomputed here in
// float64 from the model's own towers, the rows spelled out by hand — and with α = 0 the same
// captions as without re-ranking. `coca caption --rerank` prints how each caption was chosen;
// `coca eval --beams 3 --rerank` scores the captions captionImages re-ranks. A multilingual model's
// candidates are read with their language token, as its queries are.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { CachedStepper } from '../../src/infer/kvcache.ts';
import { loadReadableImages, openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { beamSearchCandidates, type Caption } from '../../src/infer/search.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy } from '../../src/tensor/tensor.ts';
import { testGpu } from '../helpers/gpu.ts';
import { CAPTIONS, makeCheckpoint, makePictures } from './fixture.ts';

let gpu: Gpu;
let dir: string;
let ck: OpenCheckpoint;
let files: string[];
let images: Float32Array;

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-rerank-'));
  await makeCheckpoint(gpu, path.join(dir, 'ck'), 11, 4);
  const pics = await makePictures(path.join(dir, 'pics'));
  files = [pics.red, pics.blue, pics.wide, pics.svg];
  images = (await loadReadableImages(files, (ck = openCheckpoint(gpu, path.join(dir, 'ck'))).pre)).images;
});
afterAll(() => {
  ck?.release();
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Unit rows in float64. */
const unit = (x: Float32Array, E: number): number[][] =>
  Array.from({ length: x.length / E }, (_, i) => {
    const r = Array.from(x.subarray(i * E, (i + 1) * E));
    const n = Math.sqrt(r.reduce((a, v) => a + v * v, 0));
    return r.map((v) => v / n);
  });

/**
 * Each picture's beam candidates and their cosines with it, computed apart from rerank.ts: the
 * candidates from the search, the rows of the text tower written out here as training reads a
 * caption ([SOT] language? words [EOT] [PAD]…), the cosines in float64.
 */
async function candidatesAndCosines(c: OpenCheckpoint, pixels: Float32Array, N: number, o: { beams: number; maxLen: number; prefix?: number[] }): Promise<{ cands: Caption[][]; sims: number[][] }> {
  const { model, tokenizer: tok } = c;
  const t = model.config.text_cfg;
  const E = model.config.embed_dim;
  const patches = model.preparePatches(pixels, N);
  const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
  patches.release();
  const stepper = new CachedStepper(model, enc.tokens, { beams: o.beams, maxLen: o.maxLen });
  const cands = await beamSearchCandidates(stepper, o.maxLen, { ...o, sot: tok.bosId, eot: tok.eosId, pad: t.pad_id });
  stepper.release();
  const img = unit(await enc.embedding.toArray(), E);
  enc.embedding.release();
  enc.tokens.release();
  const head = [tok.bosId, ...(o.prefix ?? [])];
  const rows: number[] = [];
  for (const cap of cands.flat()) {
    const words = cap.tokens.slice(1, cap.tokens.at(-1) === tok.eosId ? -1 : undefined);
    rows.push(...head, ...words, tok.eosId, ...new Array(t.context_length - head.length - words.length - 1).fill(t.pad_id));
  }
  const prep = model.prepareText(Int32Array.from(rows), cands.flat().length);
  const txtT = noGrad(() => tidy(() => model.encodeText(prep).embedding));
  prep.release();
  const txt = unit(await txtT.toArray(), E);
  txtT.release();
  let at = 0;
  const sims = cands.map((cs, b) => {
    const out = cs.map((_, k) => img[b]!.reduce((a, v, j) => a + v * txt[at + k]![j]!, 0));
    at += cs.length;
    return out;
  });
  return { cands, sims };
}

/** `reranked` is, picture by picture, the candidate of highest cosine; returns each pick's beam. */
function expectArgmax(reranked: Caption[], cands: Caption[][], sims: number[][]): number[] {
  return cands.map((cs, b) => {
    expect(cs.length).toBeGreaterThanOrEqual(2);
    const s = sims[b]!;
    const best = s.indexOf(Math.max(...s));
    // A near-tie could go either way in float32; the fixture's margins are far wider.
    expect(Math.max(...s.filter((_, k) => k !== best)) + 1e-4).toBeLessThan(s[best]!);
    expect(reranked[b]!.tokens).toEqual(cs[best]!.tokens);
    expect(reranked[b]!.rerank!.beamRank).toBe(best);
    expect(reranked[b]!.rerank!.similarity).toBeCloseTo(s[best]!, 5);
    expect(reranked[b]!.score).toBeCloseTo(cs[best]!.score, 6);
    return best;
  });
}

describe('captionImages with re-ranking', () => {
  const K = 4;
  const maxLen = 10;
  const ids = () => ({ ...ck.tokenizer.searchIds(), beams: K, maxLen });

  it("picks each picture's candidate nearest to it by the towers' cosine; α = 0 keeps the search's choice", async () => {
    const N = files.length;
    const { cands, sims } = await candidatesAndCosines(ck, images, N, { beams: K, maxLen });
    const reranked = await captionImages(ck.model, images, N, { ...ids(), rerank: { weight: 1 } });
    const plain = await captionImages(ck.model, images, N, ids());
    const alphaZero = await captionImages(ck.model, images, N, { ...ids(), rerank: { weight: 0 } });
    const ranks = expectArgmax(reranked, cands, sims);
    cands.forEach((cs, b) => {
      // Off and α = 0: beam search's own best, the first candidate.
      expect(plain[b]!.tokens).toEqual(cs[0]!.tokens);
      expect(plain[b]!.rerank).toBeUndefined();
      expect(alphaZero[b]!.tokens).toEqual(cs[0]!.tokens);
    });
    // Not vacuous: the similarity overturns the search for some picture.
    expect(ranks.some((r) => r > 0)).toBe(true);
  });

  it("a multilingual model's captions in Russian are read after its language token", async () => {
    await makeCheckpoint(gpu, path.join(dir, 'multi'), 5, 3, ['en', 'ru', 'zh']);
    const multi = openCheckpoint(gpu, path.join(dir, 'multi'));
    try {
      const ru = multi.tokenizer.searchIds('ru');
      expect(ru.prefix).toHaveLength(1);
      const pixels = (await loadReadableImages(files, multi.pre)).images;
      const { cands, sims } = await candidatesAndCosines(multi, pixels, files.length, { beams: K, maxLen, prefix: ru.prefix });
      const reranked = await captionImages(multi.model, pixels, files.length, { ...ru, beams: K, maxLen, rerank: { weight: 1 } });
      expectArgmax(reranked, cands, sims);
    } finally {
      multi.release();
    }
  });

  it('refuses a single beam and sampling', async () => {
    await expect(captionImages(ck.model, images, files.length, { ...ids(), beams: 1, rerank: { weight: 1 } })).rejects.toThrow(/needs 2 or more, not 1/);
    await expect(captionImages(ck.model, images, files.length, { ...ids(), sample: { seed: 1 }, rerank: { weight: 1 } })).rejects.toThrow(/needs 2 or more, not 1/);
  });
});

describe('coca caption --rerank', () => {
  it("prints each caption's similarity and beam, and the choice in the JSON", () => {
    const r = spawnSync(process.execPath, ['bin/coca.js', 'caption', files[0]!, files[1]!, '--checkpoint', path.join(dir, 'ck'), '--beams', '3', '--max-len', '8', '--rerank', '--json'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning'))).toEqual([]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.search).toEqual({ mode: 'beam', beams: 3, lengthPenalty: 1, rerankWeight: 1 });
    for (const c of out.captions) {
      expect(c.rerank.beamRank).toBeGreaterThanOrEqual(0);
      expect(c.rerank.beamRank).toBeLessThan(3);
      expect(c.rerank.score).toBe(c.rerank.similarity);
      expect(Math.abs(c.rerank.similarity)).toBeLessThanOrEqual(1 + 1e-6);
    }
  });
});

describe('coca eval --beams 3 --rerank', () => {
  it('writes the re-ranked captions (those captionImages gives) and says how they were made', async () => {
    const data = path.join(dir, 'set');
    fs.mkdirSync(data);
    const lines: string[] = [];
    for (let i = 0; i < 6; i++) {
      // Noisy pictures, no two alike.
      const px = Buffer.alloc(24 * 24 * 3);
      for (let j = 0; j < px.length; j++) px[j] = (j * 7919 + i * 104729) % 251;
      await sharp(px, { raw: { width: 24, height: 24, channels: 3 } }).png().toFile(path.join(data, `${i}.png`));
      lines.push(`${i}.png\t${CAPTIONS[i]}`);
    }
    fs.writeFileSync(path.join(data, 'captions.tsv'), lines.join('\n') + '\n');
    fs.copyFileSync(path.join(dir, 'ck', 'tokenizer.json'), path.join(data, 'tokenizer.json'));
    const out = path.join(dir, 'sheet');
    const json = path.join(dir, 'eval.json');
    const r = spawnSync(process.execPath, ['bin/coca.js', 'eval', path.join(dir, 'ck'), '--data', data, '--split', 'all', '--no-baselines', '--max-len', '8', '--beams', '3', '--rerank', '--captions', out, '--json', json], { encoding: 'utf8', timeout: 240_000 });
    const errLines = r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning'));
    expect(r.status, errLines.join('\n')).toBe(0);
    expect(errLines[0]).toMatch(/; captions by beam search \(3 beams\), re-ranked by image–text similarity \(α = 1\)$/);
    expect(JSON.parse(fs.readFileSync(json, 'utf8')).captioning).toEqual({ beams: 3, maxLen: 8, rerankWeight: 1 });
    const records = JSON.parse(fs.readFileSync(path.join(out, 'captions.json'), 'utf8')) as { id: string; caption: string }[];
    expect(records).toHaveLength(6);
    const pics = (await loadReadableImages(records.map((x) => x.id), ck.pre)).images;
    const o = { ...ck.tokenizer.searchIds(), beams: 3, maxLen: 8 };
    const reranked = await captionImages(ck.model, pics, records.length, { ...o, rerank: { weight: 1 } });
    const plain = await captionImages(ck.model, pics, records.length, o);
    expect(records.map((x) => x.caption)).toEqual(reranked.map((c) => ck.tokenizer.decode(c.tokens)));
    // Not vacuous: on these pictures re-ranking changes some caption.
    expect(reranked.some((c, i) => c.tokens.join() !== plain[i]!.tokens.join())).toBe(true);
  });
});
