// The commands on a devise checkpoint: coca eval prints its zero-shot table and JSON (the same
// hits as the evaluation path in-process, chance as 1/classes and 5/classes), coca classify ranks
// given labels by their vectors and names those without one, and every command that cannot use
// it (caption, retrieve, eval --captions, classify --templates) says so in one line. coca train's
// DeViSE options are refused in one line each before anything is written, and --help says them.
// A few run as the command does (a child process); the refusals, which come before any GPU work,
// run through the same yargs commands in this process, their error printed as main.ts prints it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { captionCommand } from '../../src/cli/caption.ts';
import { classifyCommand } from '../../src/cli/classify.ts';
import { evalCommand } from '../../src/cli/eval.ts';
import { failureLines } from '../../src/cli/failure.ts';
import { trainCommand } from '../../src/cli/train.ts';
import { deviseZeroShot } from '../../src/eval/devise.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { loadDeviseConfig, openDevise } from '../../src/model/devise-config.ts';
import { trainDevise } from '../../src/train/devise-trainer.ts';
import { testGpu } from '../helpers/gpu.ts';

function coca(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning')) };
}

/** What `coca ARGS` prints on failure (failure.ts's lines), run in this process; [] when it succeeds. */
async function refusal(args: string[]): Promise<string[]> {
  try {
    await yargs(args)
      .command(trainCommand)
      .command(evalCommand)
      .command(captionCommand)
      .command(classifyCommand)
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseAsync();
  } catch (e) {
    return failureLines(e, false);
  }
  return [];
}

/** `coca ARGS --help`'s text, in this process. */
async function helpOf(args: string[]): Promise<string> {
  let text = '';
  await yargs().command(trainCommand).exitProcess(false).wrap(110).parseAsync([...args, '--help'], {}, (_e: unknown, _a: unknown, out: string) => {
    text = out;
  });
  return text;
}

let gpu: Gpu;
let dir: string;
let last: string;
let pic: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-devise-cli-'));
  const run = path.join(dir, 'run');
  await trainDevise(gpu, { config: loadDeviseConfig('nano-cnn'), configName: 'nano-cnn', labelVectors: 'text', data: 'builtin-small', out: run, steps: 2, batch: 6, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 5, valEvery: 100, keep: 1, progress: false, valItems: 6 }, () => {});
  last = path.join(run, 'checkpoints', 'last');
  const sharp = (await import('sharp')).default;
  pic = path.join(dir, 'red.png');
  await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c33' } }).png().toFile(pic);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  gpu?.pool.trim();
});

describe('a devise checkpoint', () => {
  it('coca eval: flat hit@1/5 and coverage beside chance, in the table and the JSON, the hits of the evaluation path', async () => {
    const json = path.join(dir, 'eval.json');
    const ev = coca(['eval', last, '--split', 'test-concept,test-fmnist', '--max-items', '12', '--batch', '5', '--json', json]);
    expect(ev.status, ev.stderr.join('\n')).toBe(0);
    expect(ev.stdout).toMatch(/test-concept, captions as classes \(flat hit@k\) \(12 images, \d+ classes, \d+ with a vector\)/);
    expect(ev.stdout).toContain('test-fmnist (zero-shot, the labels\' vectors) (12 images, 10 classes, 7 with a vector)');
    expect(ev.stdout).toMatch(/\n +top-1 +top-5 +coverage\n/);
    const j = JSON.parse(fs.readFileSync(json, 'utf8')) as { arch: string; labelVectors: string; sections: { title: string; sizes: Record<string, number>; rows: { name: string; metrics: Record<string, number | null> }[] }[] };
    expect([j.arch, j.labelVectors]).toEqual(['devise', 'text']);
    const ck = openDevise(gpu, last, () => {});
    try {
      for (const [s, split] of j.sections.map((s, i) => [s, ['test-concept', 'test-fmnist'][i]!] as const)) {
        const z = await deviseZeroShot({ model: ck.model, space: ck.space, tokenizer: ck.tokenizer, pre: ck.pre, batch: 7, maxItems: 12, margin: ck.config.margin }, 'builtin-small', split);
        expect(s.rows.map((r) => r.name)).toEqual(['devise', 'chance']);
        expect(s.rows[0]!.metrics).toEqual({ top1: z.hits[0]! / 12, top5: z.hits[1]! / 12, coverage: z.covered / 12 });
        const L = s.sizes['classes']!;
        expect(L).toBe(z.labels);
        expect(s.rows[1]!.metrics).toEqual({ top1: 1 / L, top5: 5 / L });
      }
    } finally {
      ck.release();
    }
  });

  it('coca classify ranks the labels that have a vector by score and names the others', () => {
    const r = coca(['classify', pic, '--labels', 'red heart,blue car,qqxzv', '--checkpoint', last, '--json']);
    expect(r.status, r.stderr.join('\n')).toBe(0);
    expect(r.stderr).toEqual([`coca: not ranked, no vector (their words are not in the text model of ${last}): qqxzv`]);
    const j = JSON.parse(r.stdout) as { arch: string; results: { image: string; labels: { label: string; score: number }[] }[]; unranked: string[] };
    expect(j.arch).toBe('devise');
    expect(j.unranked).toEqual(['qqxzv']);
    const labels = j.results[0]!.labels;
    expect(labels.map((l) => l.label).sort()).toEqual(['blue car', 'red heart']);
    expect(labels[0]!.score).toBeGreaterThanOrEqual(labels[1]!.score);
    expect(labels[0]!.score).not.toBe(labels[1]!.score);
  });

  it.each([
    [['caption', 'PIC', '--checkpoint', 'LAST'], 'LAST holds a devise model, which ranks labels and does not caption; rank labels with coca classify IMAGE --labels "a,b" --checkpoint LAST, or caption with a coca, showtell, sat or prefix checkpoint'],
    [['eval', 'LAST', '--captions', 'DIR/sheet'], '--captions: LAST holds a devise model, which ranks labels and writes no captions; drop --captions'],
    [['classify', 'PIC', '--labels', 'a,b', '--templates', 'PIC', '--checkpoint', 'LAST'], '--templates: LAST holds a devise model, which places a label by its own words, without prompts; drop --templates'],
  ])('%j is refused in one line', async (args, line) => {
    const sub = (s: string) => s.replaceAll('LAST', last).replaceAll('PIC', pic).replaceAll('DIR', dir);
    expect(await refusal(args.map(sub))).toEqual([`coca: ${sub(line)}`]);
    expect(fs.existsSync(path.join(dir, 'sheet'))).toBe(false);
  });

  it('coca retrieve refuses it in one line (as the command prints it)', () => {
    const r = coca(['retrieve', '--image', pic, '--texts', pic, '--checkpoint', last]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toEqual([`coca: ${last} holds a devise model; this command works on coca models (coca eval takes any architecture, coca caption all but devise, coca classify coca and devise)`]);
  });
});

describe('coca train --arch devise', () => {
  it.each([
    [['--arch', 'devise', '--label-vectors', 'words'], "--label-vectors words: no such kind; give text (the skip-gram model's word vectors, trained on the train captions alone) or random (random unit vectors, the paper's control: nothing from text)"],
    [['--arch', 'sat', '--label-vectors', 'text'], '--label-vectors applies to --arch devise only (this run trains sat); drop it'],
    [['--label-vectors', 'random'], '--label-vectors applies to --arch devise only (this run trains coca); drop it'],
    [['--arch', 'devise', '--preset', 'nano'], '--preset nano: --arch devise has the CNN preset nano-cnn; give --config nano-cnn (the default) or --config FILE'],
    [['--arch', 'devise', '--grad-accum', '2'], '--grad-accum does not apply to --arch devise: it takes one batch per step; drop it'],
    [['--arch', 'devise', '--config', 'nano'], 'config nano: no such devise preset or file (devise presets: nano-cnn)'],
  ])('%j is refused in one line, nothing written', async (args, line) => {
    const out = path.join(dir, 'refused');
    expect(await refusal(['train', ...args, '--out', out])).toEqual([`coca: ${line}`]);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('--help says --arch devise and --label-vectors with its default', async () => {
    const text = (await helpOf(['train'])).replace(/\s+/g, ' ');
    for (const s of ['devise (DeViSE (seed 002)', 'devise has the config nano-cnn', '--label-vectors', 'random (random unit vectors, the paper\'s control: zero-shot falls to chance) [default: text]']) expect(text).toContain(s);
  });
});
