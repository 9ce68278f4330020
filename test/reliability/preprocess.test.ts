// The preprocessing is the model's (issue 24): built-in pictures exported to a folder
// (`coca data export`) and read back as a user's dataset reach the model exactly as the built-in
// path gives them, and a checkpoint copied away from its run folder prepares pictures as it did
// inside it. A small model (the parity micro config, 16 px) trained two steps on builtin-small
// (32 px pictures, so resampling is part of what must agree) and a handful of pictures.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../../src/data/index.ts';
import { embedImages as embedBatch } from '../../src/infer/embed.ts';
import { loadImageFiles, openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { checkSearch } from '../../src/infer/search.ts';
import { embedImages, type EvalContext } from '../../src/eval/run.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { parseConfig } from '../../src/model/config.ts';
import { train } from '../../src/train/trainer.ts';
import { testGpu } from '../helpers/gpu.ts';

const SPLIT = 'test-concept';
const COUNT = 6;

let gpu: Gpu;
let dir: string;
let run: string;
let exported: string;
/** Built-in image embeddings of the split, from the checkpoint inside its run folder. */
let builtin: { emb: Float32Array; E: number };

function coca(args: string[]) {
  const r = spawnSync(process.execPath, [path.resolve('bin/coca.js'), ...args], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ctxOf = (ck: OpenCheckpoint): EvalContext => ({ model: ck.model, tokenizer: ck.tokenizer, pre: ck.pre, batch: 64, search: checkSearch({ beams: 1, maxLen: 8 }), log: () => {} });

/** Index in the split of each exported picture (the export names them <split>-<index>.png). */
const indexOf = (file: string) => Number(/-(\d+)\.png$/.exec(file)![1]);

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The built-in rows of the exported pictures, in the order of `files`. */
function builtinRows(files: readonly string[]): Float32Array {
  const { emb, E } = builtin;
  const out = new Float32Array(files.length * E);
  files.forEach((f, k) => out.set(emb.subarray(indexOf(f) * E, (indexOf(f) + 1) * E), k * E));
  return out;
}

/** Embeddings of the exported files the way caption / retrieve / classify / index build read them. */
async function fileEmbeddings(ck: OpenCheckpoint, files: readonly string[]): Promise<Float32Array> {
  return embedBatch(ck.model, await loadImageFiles(files, ck.pre), files.length);
}

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-preprocess-'));
  run = path.join(dir, 'run');
  const micro = parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')));
  await train(
    gpu,
    {
      config: micro, configName: 'micro', data: 'builtin-small', out: run, steps: 2, batch: 8, lr: 3e-3, warmup: 1, weightDecay: 0.1,
      beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, weights: { contrastive: 1, caption: 2 }, seed: 5, valEvery: 1000, keep: 1, saveEvery: { steps: 1000 }, onNonFinite: 'stop', progress: false,
    },
    () => {},
  );
  exported = path.join(dir, 'exported');
  const r = coca(['data', 'export', '--data', 'builtin-small', '--split', SPLIT, '--count', String(COUNT), '--out', exported]);
  expect(r.status, r.stderr).toBe(0);
  const ck = openCheckpoint(gpu, path.join(run, 'checkpoints', 'last'));
  try {
    const ds = await loadDataset('builtin-small', { split: SPLIT, imageSize: ck.model.config.vision_cfg.image_size });
    const e = await embedImages(ctxOf(ck), ds);
    builtin = { emb: e.emb, E: ck.model.config.embed_dim };
  } finally {
    ck.release();
  }
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The checkpoint opened as the commands open it, with the lines it told on stderr. */
function openTelling(ckDir: string): { ck: OpenCheckpoint; notes: string[] } {
  const notes: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((l: unknown) => void notes.push(String(l)));
  try {
    return { ck: openCheckpoint(gpu, ckDir), notes };
  } finally {
    spy.mockRestore();
  }
}

const exportedFiles = () => fs.readdirSync(exported).filter((f) => f.endsWith('.png')).sort().map((f) => path.join(exported, f));

describe('one preprocessing, owned by the model', () => {
  it('the exported pictures read back as a user folder embed as the built-in pictures do (coca eval path)', async () => {
    const ck = openCheckpoint(gpu, path.join(run, 'checkpoints', 'last'));
    try {
      const ds = await loadDataset(exported, { split: 'all', imageSize: ck.model.config.vision_cfg.image_size });
      const e = await embedImages(ctxOf(ck), ds);
      expect(e.n).toBe(COUNT);
      const files = Array.from({ length: e.n }, (_, i) => ds.meta(i).id);
      expect(maxDiff(e.emb, builtinRows(files))).toBeLessThan(1e-5);
    } finally {
      ck.release();
    }
  });

  it('image files given to the inference commands embed as the built-in pictures do', async () => {
    const ck = openCheckpoint(gpu, path.join(run, 'checkpoints', 'last'));
    try {
      const files = exportedFiles();
      expect(maxDiff(await fileEmbeddings(ck, files), builtinRows(files))).toBeLessThan(1e-5);
    } finally {
      ck.release();
    }
  });

  it('a checkpoint copied away from its run folder prepares pictures as before', async () => {
    // The model's files only, as another tool or a user exporting the model takes them.
    const away = path.join(dir, 'away');
    fs.mkdirSync(away);
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json']) fs.copyFileSync(path.join(run, 'checkpoints', 'last', f), path.join(away, f));
    const ck = openCheckpoint(gpu, away);
    try {
      const files = exportedFiles();
      expect(maxDiff(await fileEmbeddings(ck, files), builtinRows(files))).toBeLessThan(1e-5);
      const ds = await loadDataset(exported, { split: 'all', imageSize: ck.model.config.vision_cfg.image_size });
      const e = await embedImages(ctxOf(ck), ds);
      expect(maxDiff(e.emb, builtinRows(Array.from({ length: e.n }, (_, i) => ds.meta(i).id)))).toBeLessThan(1e-5);
    } finally {
      ck.release();
    }
  });

  it('coca caption gives the same captions and scores inside the run folder and copied away', () => {
    const away = path.join(dir, 'away-cli');
    fs.mkdirSync(away);
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json']) fs.copyFileSync(path.join(run, 'checkpoints', 'last', f), path.join(away, f));
    const files = exportedFiles().slice(0, 3);
    const caption = (ck: string) => coca(['caption', ...files, '--checkpoint', ck, '--beams', '1', '--max-len', '5', '--json']);
    const inRun = caption(path.join(run, 'checkpoints', 'last'));
    expect(inRun.status, inRun.stderr).toBe(0);
    const copied = caption(away);
    expect(copied.status, copied.stderr).toBe(0);
    const out = (r: { stdout: string }) => (JSON.parse(r.stdout) as { captions: unknown[] }).captions;
    expect(out(inRun)).toHaveLength(3);
    expect(out(copied)).toEqual(out(inRun));
  });

  it('a deliberate choice is a training option recorded in the model, and a resume cannot change it', () => {
    const chosen = path.join(dir, 'chosen');
    const args = ['train', '--config', path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), '--steps', '1', '--batch', '4'];
    const r = coca([...args, '--out', chosen, '--image-mean', '0.5', '0.5', '0.5', '--image-std', '0.25', '0.25', '0.25', '--image-resize-mode', 'squash']);
    expect(r.status, r.stderr).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(chosen, 'checkpoints', 'last', 'config.json'), 'utf8')) as { vision_cfg: Record<string, unknown> };
    expect(cfg.vision_cfg).toMatchObject({ image_mean: [0.5, 0.5, 0.5], image_std: [0.25, 0.25, 0.25], image_resize_mode: 'squash', image_interpolation: 'bilinear' });
    const again = coca([...args, '--resume', chosen, '--image-mean', '0.4', '0.4', '0.4']);
    expect(again.status).not.toBe(0);
    expect(again.stderr.split('\n').filter((l) => l.startsWith('coca: '))).toEqual([expect.stringMatching(/--image-mean .*preprocessing is the model's/)]);
    const bad = coca([...args, '--out', path.join(dir, 'bad-std'), '--image-std', '0.2', '0', '0.2']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/^coca: --image-std must be three numbers above 0/m);
  });

  it('an old checkpoint without the record gets it from its run folder once, with a notice', async () => {
    const old = path.join(dir, 'old-run');
    fs.cpSync(run, old, { recursive: true });
    const ckDir = path.join(old, 'checkpoints', 'last');
    // What coca wrote before the preprocessing was part of the model config: no image_* keys
    // but image_size, the statistics in state.json, no manifest.
    const cfg = JSON.parse(fs.readFileSync(path.join(ckDir, 'config.json'), 'utf8')) as { vision_cfg: Record<string, unknown> };
    const stats = { mean: cfg.vision_cfg['image_mean'], std: cfg.vision_cfg['image_std'] };
    for (const k of Object.keys(cfg.vision_cfg)) if (k.startsWith('image_') && k !== 'image_size') delete cfg.vision_cfg[k];
    fs.writeFileSync(path.join(ckDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    const state = JSON.parse(fs.readFileSync(path.join(ckDir, 'state.json'), 'utf8')) as Record<string, unknown>;
    if (!state['preprocess']) fs.writeFileSync(path.join(ckDir, 'state.json'), JSON.stringify({ ...state, preprocess: stats }, null, 2) + '\n');
    fs.rmSync(path.join(ckDir, 'manifest.json'), { force: true });

    const first = openTelling(ckDir);
    try {
      expect(first.notes.filter((l) => /preprocessing/.test(l))).toHaveLength(1);
      expect(first.notes.join('\n')).toContain(ckDir);
      const files = exportedFiles();
      expect(maxDiff(await fileEmbeddings(first.ck, files), builtinRows(files))).toBeLessThan(1e-5);
    } finally {
      first.ck.release();
    }
    // Filled in once: the checkpoint now carries it, and copied away it needs no run folder.
    const away = path.join(dir, 'old-away');
    fs.cpSync(ckDir, away, { recursive: true });
    fs.rmSync(path.join(away, 'state.json'), { force: true });
    const again = openTelling(away);
    try {
      expect(again.notes.filter((l) => /preprocessing/.test(l))).toEqual([]);
      const files = exportedFiles();
      expect(maxDiff(await fileEmbeddings(again.ck, files), builtinRows(files))).toBeLessThan(1e-5);
    } finally {
      again.ck.release();
    }
  });
});
