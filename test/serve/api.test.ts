// coca serve's JSON API through fastify.inject: each route's answer, micro-batching across
// concurrent requests, and each bad input (oversize, pixel bombs, a type disguised by its header,
// corrupt bytes, path traversal in a thumbnail URL, unknown routes) with its status and message.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { loadImageFiles } from '../../src/infer/load.ts';
import { testGpu } from '../helpers/gpu.ts';
import { greedyDecode } from '../helpers/greedy.ts';
import { form, read, serveFixture, type Fixture } from './helpers.ts';

let gpu: Gpu;
let dir: string;
let fx: Fixture;
let s: Served;

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-'));
  fx = await serveFixture(gpu, dir);
  s = await buildServer(gpu, fx.ck, fx.index, DEFAULTS);
});
afterAll(async () => {
  await s?.close();
  fx?.ck.release();
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const post = async (url: string, image: Parameters<typeof form>[0], fields: Parameters<typeof form>[1] = {}, app = s.app) => {
  const r = await app.inject({ method: 'POST', url, ...(await form(image, fields)) });
  return { status: r.statusCode, body: r.json() as Record<string, any>, headers: r.headers };
};
const png = () => ({ bytes: read(fx.pics.red), type: 'image/png', name: 'red.png' });

describe('routes', () => {
  it('health names the checkpoint, adapter and queue; the OpenAPI document lists every route', async () => {
    const h = (await s.app.inject('/api/health')).json();
    expect(h).toMatchObject({ status: 'ok', checkpoint: { id: fx.ck.id }, queue: { length: 0, maxBatch: 16 }, index: { items: 4 } });
    expect(h.adapter.backend).toBeTruthy();
    const doc = (await s.app.inject('/api/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/api/caption', '/api/classify', '/api/health', '/api/openapi.json', '/api/retrieve', '/api/thumb']);
    // The documented defaults and limits are the ones checkSearch applies (the test below).
    expect(doc.paths['/api/caption'].post.requestBody.content['multipart/form-data'].schema.properties.beams).toMatchObject({ minimum: 1, maximum: 8, default: 6 });
    expect(Object.keys(doc.paths['/api/retrieve'])).toEqual(['get', 'post']);
  });

  it('captions a picture: text, score, per-token log-probs and a grid×grid attention map per token', async () => {
    const r = await post('/api/caption', png(), { beams: 2, maxLen: 8 });
    expect(r.status).toBe(200);
    const G = r.body.grid;
    expect(G).toBe(fx.ck.model.config.vision_cfg.image_size / fx.ck.model.config.vision_cfg.patch_size);
    const c = r.body.captions[0];
    expect(r.body.captions).toHaveLength(1);
    expect(typeof c.text).toBe('string');
    expect(Number.isFinite(c.score)).toBe(true);
    expect(c.tokens.length).toBeGreaterThan(0);
    for (const t of c.tokens) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.map).toHaveLength(G * G);
      expect(Math.max(...t.map)).toBe(1);
    }
    expect(r.body.image).toEqual({ type: 'png', width: 16, height: 16 });
    // One checkpoint: `models` holds it alone, with the same captions as the top level.
    expect(r.body.models).toEqual([{ name: fx.ck.dir, arch: 'coca', checkpoint: { id: fx.ck.id, dir: fx.ck.dir }, grid: G, fit: r.body.fit, captions: r.body.captions }]);
  });

  it('a greedy caption is the direct greedy decode of the picture; its score is the sum of its log-probs, its text its tokens decoded', async () => {
    const r = await post('/api/caption', png(), { beams: 1, maxLen: 8, attention: false });
    const c = r.body.captions[0];
    const ids: number[] = c.tokens.map((t: { id: number }) => t.id);
    const [want] = await greedyDecode(fx.ck.model, await loadImageFiles([fx.pics.red], fx.ck.pre), 1, { maxLen: 8 });
    expect([1, ...ids]).toEqual(want);
    expect(ids.length).toBeGreaterThan(1);
    expect(c.score).toBeCloseTo(c.tokens.reduce((a: number, t: { logprob: number }) => a + t.logprob, 0), 9);
    expect(c.text).toBe(fx.ck.tokenizer.decode(want!));
  });

  it('samples n captions; rejects n without sampling and bad options with the option named', async () => {
    const r = await post('/api/caption', png(), { sample: true, n: 3, seed: 1, maxLen: 6, attention: false });
    expect(r.status).toBe(200);
    expect(r.body.captions).toHaveLength(3);
    expect(r.body.captions[0].tokens[0].map).toBeUndefined();
    expect(await post('/api/caption', png(), { n: 2 })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^n > 1 draws several captions by sampling/) } });
    expect(await post('/api/caption', png(), { beams: 0 })).toMatchObject({ status: 400, body: { error: 'beams must be an integer from 1 to 8, got 0' } });
    expect(await post('/api/caption', png(), { beams: 100000 })).toMatchObject({ status: 400, body: { error: 'beams must be an integer from 1 to 8, got 100000' } });
    expect(await post('/api/caption', png(), { minLen: 5, maxLen: 6 })).toMatchObject({ status: 400, body: { error: 'minLen 5 leaves no room under maxLen 6 (which counts [SOT] and [EOT])' } });
    expect(await post('/api/caption', png(), { topP: 2 })).toMatchObject({ status: 400, body: { error: 'topP must be in (0, 1], got 2' } });
    expect(await post('/api/caption', png(), { beams: 'many' })).toMatchObject({ status: 400, body: { error: 'beams must be a number, got "many"' } });
  });

  it('runs concurrent caption requests with the same options as micro-batches', async () => {
    const before = s.queue.stats();
    const files = [fx.pics.red, fx.pics.blue, fx.pics.wide, fx.pics.red, fx.pics.blue, fx.pics.wide];
    const rs = await Promise.all(files.map((f) => post('/api/caption', { bytes: read(f) }, { beams: 1, maxLen: 6 })));
    for (const r of rs) expect(r.status).toBe(200);
    const after = s.queue.stats();
    expect(after.jobs - before.jobs).toBe(6);
    expect(after.batches - before.batches).toBeLessThan(6);
    // A request's caption does not depend on its batch-mates.
    const alone = await post('/api/caption', { bytes: read(fx.pics.blue) }, { beams: 1, maxLen: 6 });
    expect(alone.body.captions[0].text).toBe(rs[1]!.body.captions[0].text);
  });

  it("a request's sampled captions are the same alone and batched with others, whatever their seeds", async () => {
    const opts = { sample: true, temperature: 1.5, maxLen: 8, attention: false };
    const ask = (f: string, seed: number, n = 1) => post('/api/caption', { bytes: read(f) }, { ...opts, seed, n });
    const texts = (r: Awaited<ReturnType<typeof ask>>) => r.body.captions.map((c: { tokens: { id: number }[] }) => c.tokens.map((t) => t.id).join(' '));
    const before = s.queue.stats();
    const together = await Promise.all([ask(fx.pics.blue, 4), ask(fx.pics.red, 4, 2), ask(fx.pics.wide, 9), ask(fx.pics.blue, 5)]);
    const after = s.queue.stats();
    expect(after.batches - before.batches).toBeLessThan(4);
    const alone = [await ask(fx.pics.blue, 4), await ask(fx.pics.red, 4, 2), await ask(fx.pics.wide, 9), await ask(fx.pics.blue, 5)];
    expect(together.map(texts)).toEqual(alone.map(texts));
    // The first of n captions is the one asked for alone; the seed matters.
    expect(texts(await ask(fx.pics.red, 4))).toEqual(texts(alone[1]!).slice(0, 1));
    expect(texts(alone[0]!)).not.toEqual(texts(alone[3]!));
  });

  it('retrieves indexed pictures by text with thumbnail URLs that load', async () => {
    const r = (await s.app.inject('/api/retrieve?text=a%20red%20square&k=3')).json();
    expect(r.results).toHaveLength(3);
    expect(r.results.map((x: { rank: number }) => x.rank)).toEqual([1, 2, 3]);
    expect(r.results[0].score).toBeGreaterThanOrEqual(r.results[1].score);
    const t = await s.app.inject(r.results[0].thumbnail);
    expect(t.statusCode).toBe(200);
    expect(t.headers['content-type']).toBe('image/png');
    expect((await sharp(t.rawPayload).metadata()).width).toBe(160);
    expect((await s.app.inject('/api/retrieve?text=%20')).json()).toEqual({ error: 'text is empty: say what to look for (?text=dog on a surfboard)' });
    expect((await s.app.inject('/api/retrieve?text=x&k=0')).statusCode).toBe(400);
  });

  it('ranks candidate captions by a picture; a folder index without captions says to send them', async () => {
    const r = await post('/api/retrieve', png(), { texts: 'a red square\na blue circle\na dog', k: 2 });
    expect(r.status).toBe(200);
    expect(r.body.candidates).toBe(3);
    expect(r.body.results).toHaveLength(2);
    expect(await post('/api/retrieve', png())).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^this index kept no captions.*send candidate captions in the field texts/) } });
  });

  it('classifies zero-shot: probabilities sum to 1, best first; one label is refused', async () => {
    const r = await post('/api/classify', png(), { labels: 'red square, blue circle,dog' });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { label: string }) => x.label).sort()).toEqual(['blue circle', 'dog', 'red square']);
    expect(r.body.results.reduce((a: number, x: { p: number }) => a + x.p, 0)).toBeCloseTo(1, 9);
    expect(r.body.results[0].p).toBeGreaterThanOrEqual(r.body.results[2].p);
    expect(await post('/api/classify', png(), { labels: 'dog' })).toMatchObject({ status: 400, body: { error: 'labels must name at least two classes, comma-separated (got 1)' } });
  });

  it('serves the page at /', async () => {
    const r = await s.app.inject('/');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/html/);
  });
});

describe('bad input', () => {
  it('oversize upload → 413 naming the limit', async () => {
    const small = await buildServer(gpu, fx.ck, null, { ...DEFAULTS, maxUploadBytes: 1024 });
    const big = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#123456' } }).png({ compressionLevel: 0 }).toBuffer();
    expect(big.length).toBeGreaterThan(1024);
    expect(await post('/api/caption', { bytes: big, type: 'image/png' }, {}, small.app)).toMatchObject({ status: 413, body: { error: 'the image is over the upload limit of 1 KB (--max-upload-mb)' } });
    await small.close();
  });

  it('a decompression bomb (more pixels than allowed) → 413 from its header, before decoding', async () => {
    const tight = await buildServer(gpu, fx.ck, null, { ...DEFAULTS, maxPixels: 10_000 });
    const wide = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#ffffff' } }).png().toBuffer();
    expect(await post('/api/caption', { bytes: wide, type: 'image/png' }, {}, tight.app)).toMatchObject({
      status: 413,
      body: { error: 'the image is 400×300 = 0.120 MP, over the limit of 0.010 MP (large or decompression-bomb images are refused)' },
    });
    await tight.close();
  });

  it('a text file disguised as image/png → 400 naming what the header claimed', async () => {
    const r = await post('/api/caption', { bytes: Buffer.from('#!/bin/sh\necho not a picture\n'), type: 'image/png', name: 'cat.png' });
    expect(r).toMatchObject({ status: 400, body: { error: 'unsupported image type (the upload said image/png, but its bytes are not an image of a type we read): send PNG, JPEG, GIF, WebP, AVIF or TIFF' } });
    const svg = await post('/api/classify', { bytes: read(fx.pics.svg), type: 'image/svg+xml' }, { labels: 'a,b' });
    expect(svg.status).toBe(400);
    expect(svg.body.error).toMatch(/^unsupported image type/);
  });

  it('corrupt bytes → 400: a PNG signature with garbage, a truncated JPEG, an empty file', async () => {
    const r = await post('/api/caption', { bytes: read(fx.pics.corrupt), type: 'image/png' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^cannot read the PNG image: .*; the file is corrupt or truncated$/);
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian' as const, mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    const cut = await post('/api/caption', { bytes: jpeg.subarray(0, jpeg.length >> 1), type: 'image/jpeg' });
    expect(cut.status).toBe(400);
    expect(cut.body.error).toMatch(/^cannot (read|decode) the JPEG image: .*the file is corrupt or truncated$/);
    expect(await post('/api/caption', { bytes: Buffer.alloc(0), type: 'image/png' })).toMatchObject({ status: 400, body: { error: 'the uploaded image is empty (0 bytes)' } });
  });

  it('no picture, the wrong field, or not multipart at all', async () => {
    expect(await post('/api/caption', null, { beams: 1 })).toMatchObject({ status: 400, body: { error: "no picture: send it in a file field named 'image' (at most 10 MB)" } });
    const r = await s.app.inject({ method: 'POST', url: '/api/caption', payload: { image: 'x' } });
    expect(r.statusCode).toBe(415);
    expect(r.json().error).toBe("send multipart/form-data with the picture in a file field named 'image'");
  });

  it('path traversal in a thumbnail URL → 403, never a read outside the indexed folder', async () => {
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret');
    fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(fx.picsDir, 'link.png'));
    const get = async (q: string) => {
      const r = await s.app.inject(`/api/thumb?${q}`);
      return { status: r.statusCode, error: r.json().error as string };
    };
    expect(await get('path=..%2Fsecret.txt')).toEqual({ status: 403, error: 'thumbnail path "../secret.txt" is outside the indexed folder' });
    expect(await get('path=red.png%2F..%2F..%2F..%2Fsecret.txt')).toEqual({ status: 403, error: 'thumbnail path "red.png/../../../secret.txt" is outside the indexed folder' });
    expect(await get(`path=${encodeURIComponent(path.join(dir, 'secret.txt'))}`)).toMatchObject({ status: 403, error: expect.stringMatching(/must be relative to the indexed folder$/) });
    expect(await get('path=link.png')).toEqual({ status: 403, error: 'thumbnail path "link.png" is outside the indexed folder' });
    expect(await get('path=corrupt.png')).toEqual({ status: 404, error: '"corrupt.png" is not a picture of the index' });
    expect(await get('item=1')).toEqual({ status: 404, error: 'item 1 is a file; ask for ?path=' });
    expect(await get('')).toEqual({ status: 400, error: 'name one picture: ?path=RELATIVE/PATH or ?item=N' });
    // The static files of the page are no way out either.
    expect((await s.app.inject('/..%2f..%2fpackage.json')).statusCode).toBe(404);
  });

  it('unknown route → 404 pointing at the API description', async () => {
    const r = await s.app.inject('/api/nope?x=1');
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({ error: 'no route GET /api/nope; the API is described at /api/openapi.json' });
    expect((await s.app.inject({ method: 'DELETE', url: '/api/caption' })).json().error).toBe('no route DELETE /api/caption; the API is described at /api/openapi.json');
  });

  it('retrieval without an index → 409; a full queue → 503 with Retry-After', async () => {
    const bare = await buildServer(gpu, fx.ck, null, { ...DEFAULTS, maxQueue: 0 });
    const r = await bare.app.inject('/api/retrieve?text=dog');
    expect(r.statusCode).toBe(409);
    expect(r.json().error).toMatch(/^no index is loaded: start coca serve with --index DIR/);
    const busy = await post('/api/caption', png(), {}, bare.app);
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toMatch(/^\d+$/);
    expect(busy.body.error).toMatch(/^the GPU queue is full/);
    await bare.close();
  });
});
