// coca serve's caption request with rerank: the answer is the caption captionImages re-ranks for
// that picture, marked with how it was chosen (and without rerank, no mark: the answer as before);
// the documented fields; each refusal a one-line 400, a served captioner without a text tower
// included.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { loadImageFiles } from '../../src/infer/load.ts';
import type { OpenCaptioner } from '../../src/model/captioners/checkpoint.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { testGpu } from '../helpers/gpu.ts';
import { form, read, serveFixture, type Fixture } from './helpers.ts';

let gpu: Gpu;
let dir: string;
let fx: Fixture;
let s: Served;

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-rerank-'));
  fx = await serveFixture(gpu, dir);
  s = await buildServer(gpu, fx.ck, null, DEFAULTS);
});
afterAll(async () => {
  await s?.close();
  fx?.ck.release();
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const post = async (fields: Parameters<typeof form>[1], app = s.app) => {
  const r = await app.inject({ method: 'POST', url: '/api/caption', ...(await form({ bytes: read(fx.pics.blue), type: 'image/jpeg', name: 'blue.jpg' }, fields)) });
  return { status: r.statusCode, body: r.json() as Record<string, any> };
};

describe('/api/caption with rerank', () => {
  it("answers captionImages' re-ranked caption, with its similarity, score and beam; without rerank, no mark", async () => {
    const r = await post({ beams: 4, maxLen: 8, rerank: true, rerankWeight: 0.5, attention: false });
    expect(r.status).toBe(200);
    expect(r.body.search).toMatchObject({ beams: 4, rerank: { weight: 0.5 } });
    const [want] = await captionImages(fx.ck.model, await loadImageFiles([fx.pics.blue], fx.ck.pre), 1, { beams: 4, maxLen: 8, ...fx.ck.tokenizer.searchIds(), rerank: { weight: 0.5 } });
    const c = r.body.captions[0];
    expect([1, ...c.tokens.map((t: { id: number }) => t.id)]).toEqual(want!.tokens);
    expect(c.rerank).toEqual({ similarity: expect.closeTo(want!.rerank!.similarity, 6), score: expect.closeTo(0.5 * want!.rerank!.similarity + 0.5 * want!.score, 6), beamRank: want!.rerank!.beamRank });
    const plain = await post({ beams: 4, maxLen: 8, attention: false });
    expect(plain.status).toBe(200);
    expect(plain.body.captions[0].rerank).toBeUndefined();
    expect(plain.body.search.rerank).toBeUndefined();
  });

  it('documents rerank and rerankWeight with their defaults', async () => {
    const doc = (await s.app.inject('/api/openapi.json')).json();
    const props = doc.paths['/api/caption'].post.requestBody.content['multipart/form-data'].schema.properties;
    expect(props.rerank).toMatchObject({ type: 'boolean', default: false });
    expect(props.rerankWeight).toMatchObject({ minimum: 0, maximum: 1, default: 1 });
    expect(doc.components.schemas.Caption.properties.rerank.properties).toHaveProperty('beamRank');
  });

  it('refuses, one line each: one beam, a weight alone, a weight outside [0, 1], sampling', async () => {
    const cases: [Parameters<typeof form>[1], string | RegExp][] = [
      [{ beams: 1, rerank: true }, "rerank chooses among the beams' finished captions: give beams 2 or more (got 1)"],
      [{ rerankWeight: 0.5 }, 'rerankWeight weighs the re-ranking: add rerank, or leave it out'],
      [{ rerank: true, rerankWeight: -1 }, /^rerankWeight must be in \[0, 1\] .*got -1$/],
      [{ rerank: true, sample: true }, /^rerank re-ranks beam search's captions and sampling draws only one/],
    ];
    for (const [fields, msg] of cases) {
      const r = await post(fields);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(msg);
    }
  });

  it('a served captioner without a text tower: rerank is a 400 naming it', async () => {
    // Only its architecture, context and languages are read before the refusal; no decode runs.
    const stub = { dir: 'tell', pre: fx.ck.pre, tokenizer: { languages: [] }, model: { arch: 'showtell', config: { decoder_cfg: { context_length: 12 } } } } as unknown as OpenCaptioner;
    const two = await buildServer(gpu, fx.ck, null, { ...DEFAULTS, name: 'first' }, [{ name: 'tell', arch: 'showtell', ck: stub }]);
    try {
      const r = await post({ beams: 3, rerank: true }, two.app);
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('rerank: the model "tell" is a showtell captioner, which has no text tower to measure image–text similarity with; leave out rerank');
    } finally {
      await two.close();
    }
  });
});
