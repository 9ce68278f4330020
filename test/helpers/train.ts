// The micro config (test/fixtures/parity_micro.json) and the training options the trainer tests
// share: a run of a few seconds on the built-in small set; each test overrides what it varies.
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig, type CocaConfig } from '../../src/model/config.ts';
import type { TrainOptions } from '../../src/train/trainer.ts';

export const microConfig = (): CocaConfig => parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')));

export function microTrainOptions(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    config: microConfig(),
    configName: 'micro',
    data: 'builtin-small',
    out,
    steps: 6,
    batch: 16,
    lr: 3e-3,
    warmup: 2,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.98,
    eps: 1e-6,
    clip: 1,
    weights: { contrastive: 1, caption: 2 },
    seed: 5,
    valEvery: 1000,
    keep: 2,
    saveEvery: { seconds: 300 },
    onNonFinite: 'stop',
    progress: false,
    ...over,
  };
}
