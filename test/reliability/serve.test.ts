// coca serve answers a malformed request with 400 (or 413 for an over-long field) and a JSON
// error, never 500, and never answers for part of what was sent. Each of these requests must be
// refused while it is parsed, before any GPU work: the server runs here over a stand-in
// checkpoint with no model behind it, so a request that got as far as the model would fail
// with 500 instead of the status expected.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { OpenCheckpoint } from '../../src/infer/load.ts';
import type { RetrievalIndex } from '../../src/infer/retrieval.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { form } from '../serve/helpers.ts';

let s: Served;
let png: Buffer;

beforeAll(async () => {
  const gpu = { adapter: { backend: 'none', device: 'none', description: 'none' }, software: true } as unknown as Gpu;
  const model = { config: { embed_dim: 4, vision_cfg: { image_size: 8, patch_size: 4 }, text_cfg: { context_length: 12 } } };
  const ck = { dir: 'stand-in', id: '0000000000000000', model, pre: { size: 8, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], fit: 'cover' }, tokenizer: {}, release: () => {} } as unknown as OpenCheckpoint;
  const index = { dir: 'stand-in', checkpoint: { id: ck.id, dir: 'stand-in' }, source: '/nonexistent', items: [{ path: '/nonexistent/a.png' }], embeddings: new Float32Array(4), E: 4 } as RetrievalIndex;
  s = await buildServer(gpu, ck, index, DEFAULTS);
  png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#e02020' } }).png().toBuffer();
});
afterAll(async () => {
  await s?.close();
});

const image = () => ({ bytes: png, type: 'image/png', name: 'red.png' });

async function send(method: 'GET' | 'POST', url: string, body?: { payload: Buffer | string; headers: Record<string, string> }) {
  const r = await s.app.inject({ method, url, ...(body ?? {}) });
  return { status: r.statusCode, body: r.json() as { error?: string } };
}

describe('malformed requests', () => {
  it('a multipart body cut short is 400, not 500', async () => {
    const { payload, headers } = await form(image(), { k: 3 });
    const r = await send('POST', '/api/retrieve', { payload: payload.subarray(0, payload.length - 60), headers });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^the multipart body is malformed \(.+\); send multipart\/form-data with the picture in a file field named 'image'$/);
  });

  it('a multipart body that is not multipart at all is 400', async () => {
    const r = await send('POST', '/api/caption', { payload: 'this is not a form', headers: { 'content-type': 'multipart/form-data; boundary=XYZ' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^the multipart body is malformed/);
  });

  it('a query parameter given twice is 400 naming it', async () => {
    const r = await send('GET', '/api/retrieve?text=dog&text=cat');
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("the query parameter 'text' is given 2 times; give it once");
  });

  it('a form field given twice is 400, not the last one silently', async () => {
    // Two texts fields: FormData appends, it does not replace.
    const f = new FormData();
    f.append('texts', 'a dog');
    f.append('texts', 'a cat');
    f.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'red.png');
    const res = new Response(f);
    const r = await send('POST', '/api/retrieve', { payload: Buffer.from(await res.arrayBuffer()), headers: { 'content-type': res.headers.get('content-type')! } });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("the field 'texts' is given more than once; give it once");
  });
});

describe('over-long fields', () => {
  it('a texts field over 64 KiB is refused with 413, not answered for the part kept', async () => {
    const texts = Array.from({ length: 200 }, (_, i) => `caption number ${i} `.padEnd(400, 'x')).join('\n');
    expect(texts.length).toBeGreaterThan(64 * 1024);
    const r = await send('POST', '/api/retrieve', await form(image(), { texts }));
    expect(r.status).toBe(413);
    expect(r.body.error).toBe(`the field 'texts' is over 64 KiB (65536 bytes); send less`);
  });

  it('so is any other field', async () => {
    const labels = 'cat,dog,'.repeat(9000);
    const r = await send('POST', '/api/classify', await form(image(), { labels }));
    expect(r.status).toBe(413);
    expect(r.body.error).toBe(`the field 'labels' is over 64 KiB (65536 bytes); send less`);
  });
});
