// `coca train`: joint contrastive + captioning training (src/train/trainer.ts).
import path from 'node:path';
import type { Argv } from 'yargs';
import { Gpu } from '../gpu/gpu.ts';
import { CocaError } from '../util/errors.ts';
import { loadConfig, PRESETS } from '../model/config.ts';
import { train } from '../train/trainer.ts';

interface TrainArgs {
  preset: string;
  config?: string;
  data: string;
  out?: string;
  steps: number;
  batch: number;
  lr: number;
  warmup?: number;
  'weight-decay': number;
  clip: number;
  'caption-weight': number;
  'contrastive-weight': number;
  resume?: string;
  seed: number;
  'val-every': number;
  keep: number;
  'on-nan': 'stop' | 'skip';
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export const trainCommand = {
  command: 'train',
  describe: 'Train a CoCa model (contrastive + captioning) on the built-in data or your own',
  builder: (y: Argv) =>
    y
      .option('preset', { type: 'string', choices: [...PRESETS], default: 'nano', describe: 'model size (nano: tests and demo, minutes on a CPU; b32: open_clip coca_ViT-B-32 shape)' })
      .option('config', { type: 'string', describe: 'a model config JSON (open_clip keys) instead of a preset' })
      .option('data', { type: 'string', default: 'builtin-small', describe: "dataset: builtin-small, builtin, or a folder/file of your own (see 'coca data --help')" })
      .option('out', { type: 'string', describe: 'run folder [default: runs/<preset>-<time>]' })
      .option('steps', { type: 'number', default: 300, describe: 'optimizer steps' })
      .option('batch', { type: 'number', default: 32, describe: 'image–caption pairs per step' })
      .option('lr', { type: 'number', default: 1e-3, describe: 'peak learning rate (AdamW)' })
      .option('warmup', { type: 'number', describe: 'linear warm-up steps, then cosine decay to 0 [default: 5% of --steps]' })
      .option('weight-decay', { type: 'number', default: 0.1, describe: 'decoupled weight decay, on linear-map weights only' })
      .option('clip', { type: 'number', default: 1, describe: 'global gradient-norm clip' })
      .option('caption-weight', { type: 'number', default: 2, describe: 'λ_cap, weight of the captioning loss' })
      .option('contrastive-weight', { type: 'number', default: 1, describe: 'λ_con, weight of the contrastive loss' })
      .option('resume', { type: 'string', describe: 'continue a run (its folder) or a checkpoint exactly where it stopped' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of the initialisation and the data order' })
      .option('val-every', { type: 'number', default: 100, describe: 'validate, checkpoint and update report.html every N steps' })
      .option('keep', { type: 'number', default: 3, describe: 'step checkpoints to keep (plus best and last)' })
      .option('on-nan', { type: 'string', choices: ['stop', 'skip'] as const, default: 'stop' as const, describe: 'on a non-finite loss or gradient: stop, or skip the step and halve the LR' })
      .example('$0 train', 'nano on the built-in small set, a few minutes on a CPU')
      .example('$0 train --preset tiny --data builtin --steps 2000', 'a bigger model on the full built-in set')
      .example('$0 train --resume runs/nano-20261123-0600', 'continue a stopped run'),
  handler: async (a: TrainArgs) => {
    for (const [k, v] of [['steps', a.steps], ['batch', a.batch], ['val-every', a['val-every']]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new CocaError(`--${k} must be a positive integer (got ${v})`);
    }
    if (!(a.lr > 0)) throw new CocaError(`--lr must be positive (got ${a.lr})`);
    const configName = a.config ?? a.preset;
    const config = loadConfig(configName);
    const out = a.out ?? (a.resume && !a.resume.includes('checkpoints') ? a.resume : path.join('runs', `${path.basename(configName, '.json')}-${stamp()}`));
    const gpu = await Gpu.open();
    try {
      const r = await train(gpu, {
        config,
        configName,
        data: a.data,
        out,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        warmup: a.warmup ?? Math.max(1, Math.round(a.steps * 0.05)),
        weightDecay: a['weight-decay'],
        beta1: 0.9,
        beta2: 0.98,
        eps: 1e-6,
        clip: a.clip,
        weights: { caption: a['caption-weight'], contrastive: a['contrastive-weight'] },
        seed: a.seed,
        valEvery: a['val-every'],
        keep: a.keep,
        resume: a.resume,
        onNonFinite: a['on-nan'],
        progress: true,
      });
      const v = r.validation;
      console.log(
        `done: ${r.steps} steps; last loss ${r.last?.total.toFixed(4) ?? '–'}` +
          (v ? `; validation loss ${v.total.toFixed(4)}, R@1 image→text ${(100 * v.imageToTextR1).toFixed(1)} %, text→image ${(100 * v.textToImageR1).toFixed(1)} % (${v.items} pairs)` : '') +
          `\n  checkpoint: ${path.join(r.out, 'checkpoints', 'last')}\n  report:     ${path.join(r.out, 'report.html')}`,
      );
      if (r.interrupted) process.exitCode = 130;
    } finally {
      gpu.destroy();
    }
  },
};
