// coca serve in the seeds' languages (issue 21): a multilingual checkpoint's /api/health names its
// languages (an English-only one none); /api/caption with lang=ru gives the tokens `coca caption
// --lang ru` gives for that picture; /api/retrieve reads the query in the picked language, else
// its script's, else English, and says which and why (as coca retrieve does); a language the model
// lacks is a one-line 400 on every route. A micro model (seconds), as test/infer/languages.test.ts builds it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { embedTexts, topK } from '../../src/infer/embed.ts';
import { openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { buildIndex, type RetrievalIndex } from '../../src/infer/retrieval.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';
import { form, read } from './helpers.ts';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'coca.js');

let gpu: Gpu;
let dir: string;
let multi: OpenCheckpoint;
let plain: OpenCheckpoint;
let index: RetrievalIndex;
let pics: Awaited<ReturnType<typeof makePictures>>;
let s: Served;
let sPlain: Served;

interface Cap {
  text: string;
  tokens: { id: number; text: string }[];
}

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-lang-'));
  await makeCheckpoint(gpu, path.join(dir, 'multi'), 5, 3, ['en', 'ru', 'zh', 'ms']);
  await makeCheckpoint(gpu, path.join(dir, 'plain'), 5);
  pics = await makePictures(path.join(dir, 'pics'));
  multi = openCheckpoint(gpu, path.join(dir, 'multi'));
  plain = openCheckpoint(gpu, path.join(dir, 'plain'));
  index = await buildIndex(multi, path.join(dir, 'index'), { folder: path.join(dir, 'pics'), warn: () => {} });
  s = await buildServer(gpu, multi, index, { ...DEFAULTS, name: 'multi' });
  sPlain = await buildServer(gpu, plain, null, { ...DEFAULTS, name: 'plain' });
});

afterAll(async () => {
  await s?.close();
  await sPlain?.close();
  multi?.release();
  plain?.release();
  gpu?.pool.trim();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function caption(served: Served, fields: Record<string, string | number | boolean>) {
  const r = await served.app.inject({ method: 'POST', url: '/api/caption', ...(await form({ bytes: read(pics.blue), type: 'image/jpeg' }, fields)) });
  return { status: r.statusCode, body: r.json() as { captions: Cap[]; lang?: string; error?: string } };
}

describe('coca serve: caption and search languages', () => {
  it('/api/health names the languages of a multilingual model, and none for an English-only one', async () => {
    const h = (await s.app.inject({ url: '/api/health' })).json() as { languages: string[]; models: { languages: string[] }[] };
    expect(h.languages).toEqual(['en', 'ru', 'zh', 'ms']);
    expect(h.models[0]!.languages).toEqual(['en', 'ru', 'zh', 'ms']);
    const p = (await sPlain.app.inject({ url: '/api/health' })).json() as { languages: string[] };
    expect(p.languages).toEqual([]);
  });

  it('lang=ru captions with the tokens of coca caption --lang ru for that picture, not the English ones', async () => {
    const ru = await caption(s, { beams: 2, maxLen: 8, attention: false, lang: 'ru' });
    expect(ru.status).toBe(200);
    expect(ru.body.lang).toBe('ru');
    const cli = spawnSync(process.execPath, [BIN, 'caption', pics.blue, '--checkpoint', multi.dir, '--beams', '2', '--max-len', '8', '--lang', 'ru', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(cli.status, cli.stderr).toBe(0);
    const want = (JSON.parse(cli.stdout) as { lang: string; captions: { caption: string; tokens: { id: number }[] }[] }).captions[0]!;
    expect(ru.body.captions[0]!.tokens.map((t) => t.id)).toEqual(want.tokens.map((t) => t.id));
    expect(ru.body.captions[0]!.text).toBe(want.caption);
    // The language token changes what is decoded: were lang dropped, this would be the English caption.
    const en = await caption(s, { beams: 2, maxLen: 8, attention: false });
    expect(en.body.captions[0]!.tokens.map((t) => t.id)).not.toEqual(want.tokens.map((t) => t.id));
  });

  it('a caption language the model lacks is a one-line 400 naming what it has', async () => {
    const fr = await caption(s, { lang: 'fr' });
    expect(fr.status).toBe(400);
    expect(fr.body.error).toBe(`lang=fr: the model "multi" has no language 'fr'; it has en, ru, zh, ms`);
    const ru = await caption(sPlain, { lang: 'ru' });
    expect(ru.status).toBe(400);
    expect(ru.body.error).toMatch(/^lang=ru: the model "plain" has no language tokens .*takes only en; leave lang out$/);
    // English is what an English-only model always spoke: asking for it is no error.
    expect((await caption(sPlain, { lang: 'en', beams: 1, maxLen: 6 })).status).toBe(200);
  });

  it('/api/retrieve reads the query in the picked language, else its script’s, else English, and says which and why', async () => {
    const search = async (q: string, lang = '') => {
      const r = await s.app.inject({ url: `/api/retrieve?k=5&text=${encodeURIComponent(q)}${lang ? `&lang=${lang}` : ''}` });
      return { status: r.statusCode, body: r.json() as { lang?: string; langFrom?: string; error?: string; results: { index: number; score: number }[] } };
    };
    // The scores the index gives a query encoded in `lang`, computed here without the server.
    const expected = async (text: string, lang: string) => topK(index.embeddings, await embedTexts(multi.model, multi.tokenizer, [text], 1, lang), 5).map((h) => h.index);
    const cases: [string, string, string, string][] = [
      ['собака', '', 'ru', 'script'],
      ['冲浪的人', '', 'zh', 'script'],
      ['anjing', '', 'en', 'default'],
      ['anjing', 'ms', 'ms', 'picked'],
      ['собака', 'en', 'en', 'picked'],
    ];
    for (const [text, pick, lang, from] of cases) {
      const r = await search(text, pick);
      expect(r.status, text).toBe(200);
      expect([r.body.lang, r.body.langFrom], `${text} ${pick}`).toEqual([lang, from]);
      expect(r.body.results.map((h) => h.index), `${text} ${pick}`).toEqual(await expected(text, lang));
    }
    // The picked language is what the query is encoded in: ms and en give other scores for one text.
    const ms = await search('anjing', 'ms');
    const en = await search('anjing');
    expect(ms.body.results.map((h) => h.score)).not.toEqual(en.body.results.map((h) => h.score));
    const bad = await search('dog', 'xx');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe(`lang=xx: the model "multi" has no language 'xx'; it has en, ru, zh, ms`);
  });

  it('coca retrieve says which language it read a query in and why, and ranks as the server does', async () => {
    const cli = spawnSync(process.execPath, [BIN, 'retrieve', '--text', 'собака', '--index', index.dir, '--checkpoint', multi.dir, '-k', '3'], { encoding: 'utf8', timeout: 120_000 });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'))).toEqual(['query read as ru (detected from its script)']);
    const served = (await s.app.inject({ url: `/api/retrieve?k=3&text=${encodeURIComponent('собака')}` })).json() as { results: { name: string }[] };
    expect(cli.stdout.trim().split('\n').map((l) => path.basename(l.trim().split(/\s+/)[2]!))).toEqual(served.results.map((r) => r.name));
  });

  it('the OpenAPI document describes lang on caption and search and why a query was read as it was', async () => {
    const doc = (await s.app.inject({ url: '/api/openapi.json' })).json() as { paths: Record<string, any>; components: { schemas: Record<string, any> } };
    expect(doc.paths['/api/retrieve'].get.parameters.map((p: { name: string }) => p.name)).toContain('lang');
    expect(Object.keys(doc.paths['/api/caption'].post.requestBody.content['multipart/form-data'].schema.properties)).toContain('lang');
    expect(doc.components.schemas.Images.properties.langFrom.enum).toEqual(['picked', 'script', 'default']);
  });
});
