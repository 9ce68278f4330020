// `coca export web --index` (issue 21, "What a newcomer sees"): the site's search grid shows what a
// picture shows, so index/index.json carries each item's first caption when the index kept
// captions (a dataset split's), and none for a picture without. A micro checkpoint and an index of
// two pictures, one with a caption as a dataset index has it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { checkpointId } from '../../src/infer/load.ts';
import { saveIndex } from '../../src/infer/retrieval.ts';
import { exportWeb, type SiteIndex } from '../../src/web/export.node.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';

let gpu: Gpu;
let dir: string;

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-web-captions-'));
  await makeCheckpoint(gpu, path.join(dir, 'ck'));
});
afterAll(() => {
  gpu?.pool.trim();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('coca export web --index', () => {
  it("writes each picture's first caption into index.json for the search grid, none where the index kept none", async () => {
    const pics = await makePictures(path.join(dir, 'pics'));
    const E = 4;
    saveIndex({
      dir: path.join(dir, 'idx'),
      checkpoint: { id: checkpointId(path.join(dir, 'ck')), dir: path.join(dir, 'ck') },
      source: 'fixture',
      items: [{ path: pics.red, captions: ['a red square', 'red'] }, { path: pics.blue }],
      embeddings: new Float32Array(2 * E).fill(0.5),
      E,
    });
    await exportWeb(path.join(dir, 'ck'), path.join(dir, 'site'), path.join(dir, 'idx'));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'site', 'index', 'index.json'), 'utf8')) as SiteIndex;
    expect(meta.items.map((it) => [it.name, it.caption])).toEqual([
      ['red.png', 'a red square'],
      ['blue.jpg', undefined],
    ]);
  });
});
