// Training driven one step at a time by its caller (the train-in-a-tab page, src/web/train.ts),
// with nothing Node-only: the model initialised from the seed as `coca train` does, batches from
// the loader `coca train` uses (loader-core.ts) over an in-memory built set, the learning rate of
// its schedule, and its step (trainStep). Given the same set, config, options and seed, step N
// here is step N of `coca train --data <that set>`; what the trainer adds (files, validation,
// resume, the non-finite policy) is left to the caller. The model's files come back as bytes.
import type { Dataset } from '../data/dataset.ts';
import { BatchLoaderCore, type BatchLoaderOptions } from '../data/loader-core.ts';
import { preprocessOf, type CocaConfig } from '../model/config-schema.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { CocaModel } from '../model/coca.ts';
import { checkpointBytes, type NamedBytes } from '../model/checkpoint-files.ts';
import { DEFAULT_LOSS_WEIGHTS, type LossParts, type LossWeights } from '../model/loss.ts';
import { CocaError } from '../util/errors.ts';
import { AdamW, DEFAULT_ADAMW } from './adamw.ts';
import { learningRate } from './schedule.ts';
import { DEFAULT_CLIP, trainStep } from './step.ts';

export interface SessionOptions {
  steps: number;
  batch: number;
  lr: number;
  /** Linear warm-up steps (coca train's default: 5% of the steps). */
  warmup: number;
  seed: number;
  weightDecay?: number;
  clip?: number;
  weights?: LossWeights;
}

export interface SessionStep extends LossParts {
  step: number;
  lr: number;
  gradNorm: number;
  ms: number;
}

/** coca train's warm-up when none is given: 5% of the steps. */
export function defaultWarmup(steps: number): number {
  return Math.round(steps * 0.05);
}

export class TrainingSession {
  readonly model: CocaModel;
  readonly history: SessionStep[] = [];
  private readonly opt: AdamW;
  private readonly loader: BatchLoaderCore;
  private step = 0;

  /** `config`: with the tokenizer's vocabulary and the preprocessing the pictures are normalised by. */
  constructor(
    gpu: Gpu,
    readonly config: CocaConfig,
    dataset: Dataset,
    tokenizer: BatchLoaderOptions['tokenizer'],
    readonly o: SessionOptions,
  ) {
    const pre = preprocessOf(config);
    if (!pre) throw new CocaError('the model config records no image preprocessing; build the training page again');
    if (dataset.length < o.batch) throw new CocaError(`the training set has ${dataset.length} pairs, fewer than one batch of ${o.batch}; choose a smaller batch`);
    this.model = CocaModel.init(gpu, config, o.seed);
    this.opt = new AdamW(gpu, this.model.params, { lr: o.lr, ...DEFAULT_ADAMW, weightDecay: o.weightDecay ?? DEFAULT_ADAMW.weightDecay });
    this.loader = new BatchLoaderCore(dataset, { batchSize: o.batch, contextLength: config.text_cfg.context_length, tokenizer, preprocess: pre, seed: o.seed, train: true, prefetch: 0 });
  }

  get done(): number {
    return this.step;
  }

  get finished(): boolean {
    return this.step >= this.o.steps;
  }

  /** One optimiser step as coca train takes it; throws one line on a non-finite loss (its default, --on-nan stop). */
  async next(): Promise<SessionStep> {
    if (this.finished) throw new CocaError(`the session has taken its ${this.o.steps} steps`);
    const t0 = performance.now();
    const b = await this.loader.next();
    const lr = learningRate(this.step, this.o.lr, this.o.warmup, this.o.steps);
    const inp = this.model.prepare({ images: b.images, text: b.tokens, batch: b.rows });
    const r = await trainStep(this.model, this.opt, inp, { weights: this.o.weights ?? DEFAULT_LOSS_WEIGHTS, clip: this.o.clip ?? DEFAULT_CLIP, lr }).finally(() => inp.release());
    if (r.nonFinite) throw new CocaError(`step ${this.step + 1}: ${r.nonFinite}; training stopped (try a lower learning rate)`);
    this.step++;
    const s: SessionStep = { step: this.step, contrastive: r.contrastive, caption: r.caption, total: r.total, logitScale: r.logitScale, lr, gradNorm: r.gradNorm, ms: performance.now() - t0 };
    this.history.push(s);
    return s;
  }

  /** The model's checkpoint files (model.safetensors, config.json, tokenizer.json, manifest.json) as coca writes them. */
  files(tokenizerJson: string, sha256: (bytes: Uint8Array) => Promise<string>): Promise<NamedBytes[]> {
    return checkpointBytes(this.model, tokenizerJson, sha256, this.step);
  }

  release(): void {
    void this.loader.close();
    this.opt.release();
    this.model.params.release();
  }
}
