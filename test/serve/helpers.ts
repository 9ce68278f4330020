// Shared set-up of the serve tests: a small checkpoint, pictures, an index of them, and
// multipart bodies built with the platform's own FormData (what a browser sends).
import fs from 'node:fs';
import path from 'node:path';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { buildIndex, type RetrievalIndex } from '../../src/infer/retrieval.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';

export interface Fixture {
  ck: OpenCheckpoint;
  index: RetrievalIndex;
  pics: Awaited<ReturnType<typeof makePictures>>;
  picsDir: string;
}

export async function serveFixture(gpu: Gpu, dir: string): Promise<Fixture> {
  await makeCheckpoint(gpu, path.join(dir, 'ck'));
  const picsDir = path.join(dir, 'pics');
  const pics = await makePictures(picsDir);
  const ck = openCheckpoint(gpu, path.join(dir, 'ck'));
  const index = await buildIndex(ck, path.join(dir, 'index'), { folder: picsDir, warn: () => {} });
  return { ck, index, pics, picsDir };
}

/** A multipart/form-data body: `image` as a file (bytes, declared type, name) plus text fields. */
export async function form(image: { bytes: Buffer; type?: string; name?: string } | null, fields: Record<string, string | number | boolean> = {}): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, String(v));
  if (image) fd.append('image', new Blob([new Uint8Array(image.bytes)], { type: image.type ?? 'application/octet-stream' }), image.name ?? 'upload');
  const r = new Response(fd);
  return { payload: Buffer.from(await r.arrayBuffer()), headers: { 'content-type': r.headers.get('content-type')! } };
}

export const read = (f: string) => fs.readFileSync(f);
