// coca serve with several checkpoints (issue 22): /api/caption answers with one entry per model,
// each the caption `coca caption` gives with that checkpoint alone (two CoCa models of different
// weights, a Show-Attend-Tell one, whose α is its overlay, and a Show and Tell one and a prefix
// captioner over the first's frozen tower, which have no map to give); a checkpoint that does not load is
// one line naming it, and nothing is served.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { openCheckpoint, resolveCheckpointDir, type OpenCheckpoint } from '../../src/infer/load.ts';
import { openCaptioner, type OpenCaptioner } from '../../src/model/captioners/checkpoint.ts';
import { loadLstmConfig } from '../../src/model/captioners/config.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { trainCaptioner } from '../../src/train/captioner-trainer.ts';
import { loadPrefixConfig } from '../../src/model/captioners/prefix-config.ts';
import { trainPrefix } from '../../src/train/prefix-trainer.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint } from '../infer/fixture.ts';
import { form, read, serveFixture, type Fixture } from './helpers.ts';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'coca.js');
let gpu: Gpu;
let dir: string;
let fx: Fixture;
let other: OpenCheckpoint;
let sat: OpenCaptioner;
let tell: OpenCaptioner;
let prefix: OpenCaptioner;
let s: Served;

function coca(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning') && !l.includes('--trace-warnings')) };
}

interface Cap {
  text: string;
  score: number;
  tokens: { id: number; logprob: number; map?: number[] }[];
}

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-multi-'));
  fx = await serveFixture(gpu, dir);
  await makeCheckpoint(gpu, path.join(dir, 'other'), 11);
  other = openCheckpoint(gpu, path.join(dir, 'other'));
  for (const arch of ['sat', 'showtell'] as const) {
    await trainCaptioner(gpu, { config: loadLstmConfig(arch, 'nano'), configName: 'nano', data: 'builtin-small', out: path.join(dir, arch), steps: 2, batch: 4, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 3, valEvery: 1000, keep: 1, progress: false, valBatches: 1 }, () => {});
  }
  sat = openCaptioner(gpu, resolveCheckpointDir(path.join(dir, 'sat')));
  tell = openCaptioner(gpu, resolveCheckpointDir(path.join(dir, 'showtell')));
  await trainPrefix(gpu, { config: loadPrefixConfig('nano'), configName: 'nano', encoder: path.join(dir, 'ck'), data: 'builtin-small', out: path.join(dir, 'prefix'), steps: 2, batch: 4, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 3, valEvery: 1000, keep: 1, progress: false, valBatches: 1 }, () => {});
  prefix = openCaptioner(gpu, resolveCheckpointDir(path.join(dir, 'prefix')));
  s = await buildServer(gpu, fx.ck, null, { ...DEFAULTS, name: 'first' }, [
    { name: 'second', arch: 'coca', ck: other },
    { name: 'attend', arch: 'sat', ck: sat },
    { name: 'tell', arch: 'showtell', ck: tell },
    { name: 'prefix', arch: 'prefix', ck: prefix },
  ]);
}, 300_000);
afterAll(async () => {
  await s?.close();
  fx?.ck.release();
  other?.release();
  sat?.release();
  tell?.release();
  prefix?.release();
  gpu?.pool.trim();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('coca serve with several checkpoints', () => {
  it("answers one entry per model, each the caption coca caption gives with that checkpoint", async () => {
    const r = await s.app.inject({ method: 'POST', url: '/api/caption', ...(await form({ bytes: read(fx.pics.blue), type: 'image/jpeg' }, { beams: 2, maxLen: 8 })) });
    expect(r.statusCode).toBe(200);
    const body = r.json() as { captions: Cap[]; models: { name: string; arch: string; checkpoint: { dir: string }; grid: number; captions: Cap[] }[] };
    expect(body.models.map((m) => [m.name, m.arch, m.checkpoint.dir])).toEqual([
      ['first', 'coca', fx.ck.dir],
      ['second', 'coca', other.dir],
      ['attend', 'sat', sat.dir],
      ['tell', 'showtell', tell.dir],
      ['prefix', 'prefix', prefix.dir],
    ]);
    // The single-checkpoint shape stays: the top level is the first model's answer.
    expect(body.captions).toEqual(body.models[0]!.captions);
    const grids = [fx.ck, other].map((c) => c.model.config.vision_cfg.image_size / c.model.config.vision_cfg.patch_size);
    expect(body.models.map((m) => m.grid)).toEqual([...grids, sat.model.encoder.grid, 0, 0]);
    for (const m of body.models) {
      expect(m.captions).toHaveLength(1);
      const c = m.captions[0]!;
      const cli = coca(['caption', fx.pics.blue, '--checkpoint', m.checkpoint.dir, '--beams', '2', '--max-len', '8', '--json']);
      expect(cli.status, cli.stderr.join('\n')).toBe(0);
      const want = (JSON.parse(cli.stdout) as { captions: { caption: string; score: number; tokens: { id: number; logprob: number }[] }[] }).captions[0]!;
      expect(c.tokens.map((t) => t.id), m.name).toEqual(want.tokens.map((t) => t.id));
      expect(c.text, m.name).toBe(want.caption);
      expect(c.score).toBeCloseTo(want.score, 4);
      // Each token carries its own model's attention map: grid², scaled to a maximum of 1; none
      // from a model that looks at no map.
      for (const t of c.tokens) {
        if (m.arch === 'showtell' || m.arch === 'prefix') {
          expect(t.map, m.name).toBeUndefined();
          continue;
        }
        expect(t.map, m.name).toHaveLength(m.grid ** 2);
        expect(Math.max(...t.map!)).toBe(1);
      }
    }
    // Different weights: the two CoCa answers are not one model's twice.
    expect(body.models[1]!.captions[0]!.tokens[0]!.logprob).not.toBeCloseTo(body.models[0]!.captions[0]!.tokens[0]!.logprob, 6);
    const h = (await s.app.inject('/api/health')).json() as { models: { name: string; arch: string }[] };
    expect(h.models.map((m) => `${m.name}:${m.arch}`)).toEqual(['first:coca', 'second:coca', 'attend:sat', 'tell:showtell', 'prefix:prefix']);
  });

  it('a checkpoint that does not load is one line naming it; nothing is served', () => {
    const missing = path.join(dir, 'nowhere');
    const r = coca(['serve', '--checkpoint', path.join(dir, 'ck'), '--checkpoint', missing, '--port', '0', '--index', path.join(dir, 'no-index')]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toMatch(/coca serve: http/);
    expect(r.stderr).toEqual([`coca: --checkpoint ${missing}: checkpoint ${missing} does not exist; pass a folder written by 'coca train'`]);
    const first = coca(['serve', '--checkpoint', path.join(dir, 'sat'), '--checkpoint', path.join(dir, 'ck'), '--port', '0']);
    expect(first.status).not.toBe(0);
    expect(first.stdout).not.toMatch(/coca serve: http/);
    expect(first.stderr).toEqual([`coca: --checkpoint ${path.join(dir, 'sat')}: it holds a sat model, but the first checkpoint answers retrieval and zero-shot labels, which need a coca model; put a coca checkpoint first`]);
  });

  it('--help explains several --checkpoint and that retrieval and labels use the first', () => {
    const r = coca(['serve', '--help']);
    expect(r.status).toBe(0);
    const text = r.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('give it several times to caption with each model side by side');
    expect(text).toContain('retrieval and zero-shot labels use the first, which must be a coca model');
  });
});
