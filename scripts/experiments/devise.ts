// DeViSE on the built-in data (seed 002's experiment at this scale) and its "random embeddings"
// control, as one command: for each variant the run `coca train --arch devise --label-vectors
// text|random` makes (src/train/devise-trainer.ts: skip-gram on the train captions, the CNN tower
// regressed onto the label vectors by the hinge rank loss, warm-up + cosine, clip), then the
// zero-shot count `coca eval` prints for its checkpoint (src/eval/devise.ts) on test-concept and
// Fashion-MNIST, printed as one JSON line per variant with the hinge loss over training and the
// chance levels beside. The same numbers as the two commands; this only runs both variants in a row.
//   node --import tsx scripts/experiments/devise.ts --steps 300 --batch 32 --seed 1 [--variant text|random|both] [--out DIR]
// Before the command existed (commit 93a67de) this script trained with a constant learning rate
// and no clip; docs/devise.md's first table was measured that way.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deviseZeroShot } from '../../src/eval/devise.ts';
import { getGpu } from '../../src/gpu/gpu.ts';
import { loadDeviseConfig, openDevise } from '../../src/model/devise-config.ts';
import type { LabelVectors } from '../../src/model/devise-space.ts';
import { DEFAULT_ADAMW } from '../../src/train/adamw.ts';
import { trainDevise } from '../../src/train/devise-trainer.ts';
import { DEFAULT_CLIP } from '../../src/train/step.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string', default: 'builtin-small' },
    config: { type: 'string', default: 'nano-cnn' },
    steps: { type: 'string', default: '300' },
    batch: { type: 'string', default: '32' },
    seed: { type: 'string', default: '1' },
    lr: { type: 'string', default: '1e-3' },
    dim: { type: 'string' },
    variant: { type: 'string', default: 'both' },
    out: { type: 'string' }, // folder for the runs, one per variant [default: a temporary one, removed]
  },
});
const [steps, batch, seed, lr] = [a.steps, a.batch, a.seed, a.lr].map(Number) as [number, number, number, number];
const base = loadDeviseConfig(a.config!);
const config = a.dim ? { ...base, embed_dim: Number(a.dim) } : base;
const data = a.data!;
const root = a.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'devise-experiment-'));
const gpu = await getGpu();
const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;

async function run(variant: LabelVectors) {
  const out = path.join(root, variant);
  const r = await trainDevise(
    gpu,
    { config, configName: a.config!, labelVectors: variant, data, out, steps, batch, lr, warmup: Math.max(1, Math.round(steps * 0.05)), ...DEFAULT_ADAMW, clip: DEFAULT_CLIP, seed, valEvery: steps, keep: 0, progress: false },
    (l) => console.error(l),
  );
  const losses = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { hinge: number }).hinge);
  const ck = openDevise(gpu, path.join(out, 'checkpoints', 'last'));
  const zeroShot = [];
  try {
    for (const split of ['test-concept', 'test-fmnist']) {
      const z = await deviseZeroShot({ model: ck.model, space: ck.space, tokenizer: ck.tokenizer, pre: ck.pre, batch: 64, margin: ck.config.margin }, data, split);
      const chance = (k: number, among: number) => Math.min(k, among) / among;
      zeroShot.push({ split, labels: z.labels, withVector: z.withVector, coverage: z.covered / z.pictures, hit1: z.hits[0]! / z.pictures, hit5: z.hits[1]! / z.pictures, chance1: chance(1, z.labels), chance5: chance(5, z.labels) });
    }
  } finally {
    ck.release();
  }
  console.log(JSON.stringify({ variant, steps, batch, seed, lr, dim: config.embed_dim, trainLabels: r.labels, skipgramSeconds: r.skipgramSeconds, trainSeconds: r.seconds, hingeFirst50: mean(losses.slice(0, 50)), hingeLast50: mean(losses.slice(-50)), zeroShot }));
}

try {
  for (const variant of a.variant === 'both' ? (['text', 'random'] as const) : [a.variant as LabelVectors]) await run(variant);
} finally {
  if (!a.out) fs.rmSync(root, { recursive: true, force: true });
}
