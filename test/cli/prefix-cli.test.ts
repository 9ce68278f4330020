// coca train --arch prefix: --encoder refused in one line, before any training, when it is
// missing, not there, not a checkpoint or not a coca model's; --help saying what it is and its
// default; a short run whose checkpoint captions (beam search) and evaluates by itself
// (the encoder's folder deleted first), and refuses a tokenizer of another vocabulary.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCocaCheckpoint } from '../helpers/prefix.ts';

function coca(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning')) };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-prefix-cli-'));
const enc = path.join(tmp, 'coca');
const notCoca = path.join(tmp, 'sat');
const empty = path.join(tmp, 'empty');

beforeAll(async () => {
  const { getGpu } = await import('../../src/gpu/gpu.ts');
  const gpu = await getGpu();
  await writeCocaCheckpoint(gpu, enc);
  gpu.pool.trim();
  fs.mkdirSync(notCoca);
  fs.writeFileSync(path.join(notCoca, 'config.json'), JSON.stringify({ arch: 'sat' }));
  fs.writeFileSync(path.join(notCoca, 'model.safetensors'), '');
  fs.mkdirSync(empty);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('coca train --arch prefix', () => {
  const out = () => path.join(fs.mkdtempSync(path.join(tmp, 'run-')), 'run');

  // Through the whole command line once (yargs, the one line, the exit status), then the rest in-process.
  it('no --encoder is refused in one line, nothing written', () => {
    const run = out();
    const r = coca(['train', '--arch', 'prefix', '--out', run]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toEqual(['coca: --arch prefix needs --encoder CKPT: a coca checkpoint or run folder whose image tower it freezes (train one first: coca train --steps 300)']);
    expect(fs.existsSync(run)).toBe(false);
  });

  it.each([
    [{ encoder: path.join(tmp, 'nowhere') }, `--encoder ${path.join(tmp, 'nowhere')}: no such file or folder; give a coca checkpoint or run folder`],
    [{ encoder: empty }, `--encoder ${empty}: not a coca checkpoint (no config.json and model.safetensors in it or under it); give a checkpoint or run folder written by coca train`],
    [{ encoder: path.join(enc, 'config.json') }, `--encoder ${path.join(enc, 'config.json')}: a file, not a checkpoint folder; give the folder coca train wrote (a run folder or one of its checkpoints)`],
    [{ encoder: notCoca }, `--encoder ${notCoca}: it holds a sat model; the prefix captioner reads the image tower of a coca model: give a checkpoint of coca train without --arch (or --arch coca)`],
    [{ encoder: enc, 'image-mean': [0.5, 0.5, 0.5] }, '--image-mean does not apply to --arch prefix: the frozen tower reads pictures as its checkpoint records (the preprocessing it was trained with); drop it'],
    [{ encoder: enc, 'lock-image': true }, '--lock-image does not apply to --arch prefix: its image tower is always frozen; drop it'],
    [{ encoder: enc, preset: 'tiny' }, '--preset tiny: --arch prefix has the presets nano; give one of them or --config FILE'],
  ])('%j is refused in one line before anything is written', async (args, line) => {
    const { trainPrefixCommand } = await import('../../src/cli/train-prefix.ts');
    const run = out();
    const defaults = { data: 'builtin-small', steps: 2, batch: 4, lr: 1e-3, clip: 1, seed: 1, valEvery: 10, keep: 1 };
    await expect(trainPrefixCommand({ ...args, out: run, strict: false }, defaults)).rejects.toThrow(line);
    expect(fs.existsSync(run)).toBe(false);
  });

  it('--encoder with another arch is refused in one line', () => {
    const r = coca(['train', '--arch', 'sat', '--encoder', enc, '--out', out()]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toEqual(['coca: --encoder applies to --arch prefix only (this run is --arch sat); drop it']);
  });

  it('--help explains --encoder and its default', () => {
    const r = coca(['train', '--help']);
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const s of ['--encoder', 'whose image tower the prefix captioner reads, frozen', '[default: none; required with --arch prefix]', 'prefix (prefix captioner (seed 000']) expect(help).toContain(s);
  });
});

describe('a prefix checkpoint', () => {
  it('records its encoder, captions by beam search and evaluates on its own, and refuses a tokenizer of another vocabulary', async () => {
    const { getGpu } = await import('../../src/gpu/gpu.ts');
    const { loadPrefixConfig } = await import('../../src/model/captioners/prefix-config.ts');
    const { trainPrefix } = await import('../../src/train/prefix-trainer.ts');
    const { openCaptioner } = await import('../../src/model/captioners/checkpoint.ts');
    const { saveCheckpoint } = await import('../../src/train/checkpoint.ts');
    const { sha256File } = await import('../../src/model/checkpoint-folder.ts');
    const { trainTokenizer } = await import('../../src/data/tokenizer.ts');
    const { checkLstmCaption } = await import('../../src/cli/caption-lstm.ts');
    const sharp = (await import('sharp')).default;
    const gpu = await getGpu();
    const run = path.join(tmp, 'prefix');
    const own = path.join(tmp, 'own-encoder');
    fs.cpSync(enc, own, { recursive: true });
    const sha = sha256File(path.join(own, 'model.safetensors'));
    try {
      await trainPrefix(gpu, { config: loadPrefixConfig('nano'), configName: 'nano', encoder: own, data: 'builtin-small', out: run, steps: 2, batch: 4, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 3, valEvery: 2, keep: 1, progress: false, valBatches: 1 }, () => {});
      const runJson = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
      expect(runJson.arch).toBe('prefix');
      expect(runJson.encoder).toEqual({ source: path.resolve(own), sha256: sha, feature: 'contrastive' });
      const last = path.join(run, 'checkpoints', 'last');
      const cfg = JSON.parse(fs.readFileSync(path.join(last, 'config.json'), 'utf8'));
      expect(cfg.encoder.sha256).toBe(sha);
      expect(cfg.encoder.config.vision_cfg.image_mean).toHaveLength(3);
      fs.rmSync(own, { recursive: true });
      const pic = path.join(tmp, 'red.png');
      await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c33' } }).png().toFile(pic);
      // Beam search here; greedy (the same command and Stepper) in test/model/prefix.test.ts.
      const cap = coca(['caption', pic, '--checkpoint', run, '--beams', '3', '--max-len', '5', '--json']);
      expect(cap.status, cap.stderr.join('\n')).toBe(0);
      const j = JSON.parse(cap.stdout) as { arch: string; search: { mode: string; beams: number }; captions: { tokens: unknown[] }[] };
      expect(j.arch).toBe('prefix');
      expect(j.search).toMatchObject({ mode: 'beam', beams: 3 });
      expect(j.captions).toHaveLength(1);
      expect(() => checkLstmCaption(last, 'prefix', { attention: path.join(tmp, 'att.png'), batch: 1, json: false })).toThrow(`--attention: ${last} holds a prefix model, which has no attention over the picture to draw; drop --attention (sat and coca models have it)`);
      const ev = coca(['eval', run, '--split', 'test-concept,test-fmnist', '--max-items', '4', '--batch', '4', '--max-len', '5']);
      expect(ev.status, ev.stderr.join('\n')).toBe(0);
      expect(ev.stdout).toMatch(/test-concept \(4 images, \d+ captions\)/);
      expect(ev.stdout).toMatch(/\nprefix +\d\.\d{3}/);
      expect(ev.stderr.join('\n')).toContain('test-fmnist: a split of classes (zero-shot classification), which a prefix model cannot do without a joint embedding; skipped');

      // The same weights saved with another tokenizer (a consistent folder, so only the vocabulary is wrong).
      const ck = openCaptioner(gpu, last, () => {});
      const other = path.join(tmp, 'other-tokenizer');
      const foreign = trainTokenizer(['a red square', 'a blue circle', 'a dog on a surfboard'], 300);
      try {
        await saveCheckpoint(other, ck.model, { tokenizerJson: JSON.stringify(foreign.json) });
      } finally {
        ck.release();
      }
      expect(() => openCaptioner(gpu, other)).toThrow(`${path.join(other, 'tokenizer.json')} has a vocabulary of ${foreign.vocabSize} tokens but the model's is ${ck.model.config.decoder_cfg.vocab_size}; it belongs to another model: use the tokenizer.json saved with this checkpoint`);
    } finally {
      gpu.pool.trim();
    }
  });
});
