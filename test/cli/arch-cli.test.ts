// coca train --arch: the choice refused in one line before any GPU work when it cannot be made
// (an unknown arch, an option of CoCa's alone, a config of another arch),
// and --help naming each architecture.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function coca(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning')) };
}

describe('coca train --arch', () => {
  const out = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'coca-arch-cli-')), 'run');

  it.each([
    [['--arch', 'lstm'], 'Invalid values'],
    [['--arch', 'sat', '--contrastive-weight', '2'], '--contrastive-weight does not apply to --arch sat: it has no contrastive loss; drop it'],
    [['--arch', 'coca', '--config', 'test/fixtures/lstm_micro_sat.json'], '--arch coca and --config test/fixtures/lstm_micro_sat.json disagree: the config is a sat model; drop --arch or give a coca config'],
  ])('%j is refused in one line', (args, line) => {
    const r = coca(['train', ...args, '--out', out()]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.join('\n')).toContain(line);
    if (!line.startsWith('Invalid')) expect(r.stderr).toHaveLength(1);
  });

  it('--help names every architecture and says the default', () => {
    const r = coca(['train', '--help']);
    expect(r.status).toBe(0);
    for (const s of ['--arch', 'coca (CoCa:', 'showtell (Show and Tell', 'sat (Show, Attend and Tell', '[default: coca, or the one a --config file names]']) expect(r.stdout.replace(/\s+/g, ' ')).toContain(s);
  });
});

describe('coca caption and coca eval on a sat checkpoint', () => {
  it('captions with the attention pictures of α, scores captions, names a split of classes as skipped, and refuses retrieval in one line', async () => {
    const { getGpu } = await import('../../src/gpu/gpu.ts');
    const { loadLstmConfig } = await import('../../src/model/captioners/config.ts');
    const { trainCaptioner } = await import('../../src/train/captioner-trainer.ts');
    const sharp = (await import('sharp')).default;
    const gpu = await getGpu();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-sat-cli-'));
    const run = path.join(dir, 'run');
    try {
      await trainCaptioner(gpu, { config: loadLstmConfig('sat', 'nano'), configName: 'nano', data: 'builtin-small', out: run, steps: 2, batch: 4, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 3, valEvery: 1000, keep: 1, progress: false, valBatches: 1 }, () => {});
      const pic = path.join(dir, 'red.png');
      await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c33' } }).png().toFile(pic);
      const png = path.join(dir, 'att.png');
      const cap = coca(['caption', pic, '--checkpoint', run, '--beams', '2', '--max-len', '5', '--json', '--attention', png]);
      expect(cap.status, cap.stderr.join('\n')).toBe(0);
      const j = JSON.parse(cap.stdout) as { arch: string; captions: { tokens: unknown[] }[] };
      expect(j.arch).toBe('sat');
      expect(j.captions).toHaveLength(1);
      expect(fs.statSync(png).size).toBeGreaterThan(1000);
      const ev = coca(['eval', run, '--split', 'test-concept,test-fmnist', '--max-items', '4', '--batch', '4', '--max-len', '5']);
      expect(ev.status, ev.stderr.join('\n')).toBe(0);
      expect(ev.stdout).toMatch(/test-concept \(4 images, \d+ captions\)/);
      expect(ev.stdout).toMatch(/\nsat +\d\.\d{3}/);
      expect(ev.stderr.join('\n')).toContain('test-fmnist: a split of classes (zero-shot classification), which a sat model cannot do without a joint embedding; skipped');
      const ret = coca(['classify', pic, '--labels', 'a,b', '--checkpoint', run]);
      expect(ret.status).not.toBe(0);
      expect(ret.stderr).toEqual([`coca: ${path.join(run, 'checkpoints', 'last')} holds a sat model; this command works on coca models (coca eval takes any architecture, coca caption all but devise, coca classify coca and devise)`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      gpu.pool.trim();
    }
  });
});
