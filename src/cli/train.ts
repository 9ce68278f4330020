// `coca train`: joint contrastive + captioning training (src/train/trainer.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { AUGMENT_ITEMS, checkStats, formatAugmentSpec, parseAugmentSpec, RESIZE_MODES, type ResizeMode, type Triple } from '../data/index.ts';
import { Gpu } from '../gpu/gpu.ts';
import { CocaError } from '../util/errors.ts';
import { loadConfig, PRESETS } from '../model/config.ts';
import { DEFAULT_ADAMW } from '../train/adamw.ts';
import { checkInt, checkNumber, OptionError } from './numbers.ts';
import { resumeOptions, RESUMABLE, runOf, type RecordedOptions } from '../train/resume.ts';
import { DEFAULT_CLIP } from '../train/step.ts';
import { CONTRASTIVE_POSITIVES, type ContrastivePositives } from '../train/positives.ts';
import { checkRunFolder, train, type TrainOptions } from '../train/trainer.ts';
import { PRECISIONS, type Precision } from '../tensor/precision.ts';
import { ARCHS, ARCH_NAMES } from '../model/arch.ts';
import { runArch, trainLstmCommand } from './train-arch.ts';
import { ENCODER_HELP, trainPrefixCommand } from './train-prefix.ts';
import { trainDeviseCommand } from './train-devise.ts';

interface TrainArgs {
  arch?: string;
  preset?: string;
  config?: string;
  data?: string;
  out?: string;
  steps?: number;
  batch?: number;
  lr?: number;
  warmup?: number;
  'weight-decay'?: number;
  clip?: number;
  'caption-weight'?: number;
  'contrastive-weight'?: number;
  resume?: string;
  init?: string;
  override?: string[];
  seed?: number;
  'val-every'?: number;
  keep?: number;
  'save-every'?: string;
  'on-nan'?: 'stop' | 'skip';
  'image-mean'?: number[];
  'image-std'?: number[];
  'image-resize-mode'?: ResizeMode;
  strict: boolean;
  'shuffle-buffer'?: number;
  'caption-field'?: string;
  'grad-accum'?: number;
  'contrastive-batch'?: number;
  'micro-batch'?: number;
  'lock-image'?: boolean;
  precision?: Precision;
  encoder?: string;
  'label-vectors'?: string;
  augment?: string;
  'contrastive-positives'?: ContrastivePositives;
  'label-smoothing'?: number;
  ema?: number;
}

// Defaults live here rather than in yargs, so that a resume can tell an option typed on the
// command line (checked against the run's record) from one left at its default.
const DEFAULTS = {
  preset: 'nano',
  data: 'builtin-small',
  steps: 300,
  batch: 32,
  lr: 1e-3,
  'weight-decay': DEFAULT_ADAMW.weightDecay,
  clip: DEFAULT_CLIP,
  'caption-weight': 2,
  'contrastive-weight': 1,
  seed: 1,
  'val-every': 100,
  keep: 3,
  'on-nan': 'stop',
  'save-every': '5m',
  precision: 'f32',
  'contrastive-positives': 'none',
  'label-smoothing': 0,
} as const;
const dflt = (k: keyof typeof DEFAULTS) => ({ defaultDescription: String(DEFAULTS[k]) });

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** --save-every: N steps, or a time (90s, 5m) of training between two writes of `last`. */
function parseSaveEvery(v: string): TrainOptions['saveEvery'] {
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0 || (!m[2] && !Number.isInteger(Number(m[1])))) throw new CocaError(`--save-every ${v}: give a number of steps (50) or a time (90s, 5m)`);
  if (!m[2]) return { steps: Number(m[1]) };
  return { seconds: Number(m[1]) * (m[2] === 'm' ? 60 : 1) };
}

/** The run's numbers, typed or recorded: each in its range before the GPU opens. */
function checkNumbers(o: RecordedOptions): void {
  checkInt('steps', o.steps, 1);
  checkInt('batch', o.batch, 1);
  checkInt('val-every', o.valEvery, 1);
  if (o.shuffleBuffer !== undefined) checkInt('shuffle-buffer', o.shuffleBuffer, 1);
  if (o.gradAccum !== undefined) checkInt('grad-accum', o.gradAccum, 1);
  if (o.microBatch !== undefined) checkGradCache(o.batch, o.microBatch, o.gradAccum ?? 1);
  checkInt('warmup', o.warmup, 0, o.steps);
  checkInt('keep', o.keep, 0);
  checkInt('seed', o.seed, 0);
  // AdamW moves each weight by about lr per step: beyond 1 nothing is learned, only diverged.
  checkNumber('lr', o.lr, { above: 0, max: 1, about: 'the peak AdamW step, e.g. 1e-3' });
  checkNumber('clip', o.clip, { above: 0, about: 'the largest global gradient norm kept' });
  checkNumber('weight-decay', o.weightDecay, { min: 0, max: 1 / o.lr, about: 'each step shrinks weights by lr × weight decay, which must stay below 1' });
  if (o.ema !== undefined && !(o.ema >= 0 && o.ema < 1)) throw new OptionError(`--ema must be a number ≥ 0 and < 1 (the share of the weight average kept at each step, e.g. 0.999; 0 is off), got ${o.ema}`);
  checkNumber('caption-weight', o.weights.caption, { min: 0 });
  checkNumber('contrastive-weight', o.weights.contrastive, { min: 0 });
  // ε = 1 would make the caption target uniform: nothing about the next word would be learned.
  checkNumber('label-smoothing', o.labelSmoothing, { min: 0, max: 0.99, about: "the caption target's share spread over the vocabulary, e.g. 0.1" });
  if (o.weights.caption === 0 && o.weights.contrastive === 0) throw new OptionError('--caption-weight and --contrastive-weight are both 0: nothing would be learned; keep at least one above 0');
}

/** Gradient caching's numbers: M pairs at a time out of a contrastive batch of N, each micro-batch as full as the others. */
export function checkGradCache(N: number, M: number, accum: number): void {
  checkInt('micro-batch', M, 1);
  if (M > N) throw new OptionError(`--micro-batch ${M} is larger than --contrastive-batch ${N}; give a micro-batch of at most ${N} pairs (the pairs held in memory at once)`);
  if (N % M !== 0) {
    const near = [Math.floor(N / M) * M, Math.ceil(N / M) * M].filter((n) => n > 0);
    throw new OptionError(`--contrastive-batch ${N} is not a multiple of --micro-batch ${M}; make it one (e.g. ${near.join(' or ')}) so that every micro-batch holds ${M} pairs`);
  }
  if (accum > 1) throw new OptionError(`--grad-accum ${accum} does not combine with --contrastive-batch: gradient caching already spreads one batch over micro-batches; for ${N * accum} pairs a step give --contrastive-batch ${N * accum}`);
}

/**
 * --contrastive-batch N is the step's batch, computed --micro-batch M pairs at a time; each needs
 * the other (a resumed run may take M from its record), and --batch, if given too, must agree.
 */
export function checkGradCacheArgs(a: Pick<TrainArgs, 'batch' | 'contrastive-batch' | 'micro-batch' | 'resume'>, recordedMicro: number | undefined): void {
  const N = a['contrastive-batch'];
  if (N !== undefined && a.batch !== undefined && a.batch !== N) throw new OptionError(`--batch ${a.batch} and --contrastive-batch ${N} disagree: with gradient caching the step's batch is the contrastive batch; drop --batch`);
  if (N !== undefined && a['micro-batch'] === undefined && recordedMicro === undefined) throw new OptionError(`--contrastive-batch ${N} needs --micro-batch M, the pairs held in memory at once (a divisor of ${N}, e.g. 32); without gradient caching use --batch ${N}`);
  if (a['micro-batch'] !== undefined && N === undefined && !a.resume) throw new OptionError(`--micro-batch ${a['micro-batch']} needs --contrastive-batch N, the pairs whose contrastive loss is computed together (a multiple of ${a['micro-batch']})`);
}

/** The options of a new run: what was given, defaults for the rest. */
function freshOptions(a: TrainArgs): RecordedOptions {
  // --init: the model is the checkpoint's own, config.json and all (an imported open_clip model's included).
  const configName = a.init ? path.join(a.init, 'config.json') : (a.config ?? a.preset ?? DEFAULTS.preset);
  const steps = a.steps ?? DEFAULTS.steps;
  return {
    config: loadConfig(configName),
    configName,
    data: a.data ?? DEFAULTS.data,
    steps,
    batch: a['contrastive-batch'] ?? a.batch ?? DEFAULTS.batch,
    lr: a.lr ?? DEFAULTS.lr,
    warmup: a.warmup ?? Math.max(1, Math.round(steps * 0.05)),
    weightDecay: a['weight-decay'] ?? DEFAULTS['weight-decay'],
    beta1: DEFAULT_ADAMW.beta1,
    beta2: DEFAULT_ADAMW.beta2,
    eps: DEFAULT_ADAMW.eps,
    clip: a.clip ?? DEFAULTS.clip,
    weights: { caption: a['caption-weight'] ?? DEFAULTS['caption-weight'], contrastive: a['contrastive-weight'] ?? DEFAULTS['contrastive-weight'] },
    seed: a.seed ?? DEFAULTS.seed,
    valEvery: a['val-every'] ?? DEFAULTS['val-every'],
    keep: a.keep ?? DEFAULTS.keep,
    onNonFinite: a['on-nan'] ?? DEFAULTS['on-nan'],
    precision: a.precision ?? DEFAULTS.precision,
    preprocess: { mean: a['image-mean'] as Triple | undefined, std: a['image-std'] as Triple | undefined, resizeMode: a['image-resize-mode'] },
    saveEvery: parseSaveEvery(a['save-every'] ?? DEFAULTS['save-every']),
    ...(a['shuffle-buffer'] !== undefined ? { shuffleBuffer: a['shuffle-buffer'] } : {}),
    ...(a['grad-accum'] !== undefined ? { gradAccum: a['grad-accum'] } : {}),
    ...(a['micro-batch'] !== undefined ? { microBatch: a['micro-batch'] } : {}),
    ...(a['lock-image'] ? { lockImage: true } : {}),
    ...(a['caption-field'] !== undefined ? { captionField: a['caption-field'] } : {}),
    ...(a.init !== undefined ? { init: a.init } : {}),
    ...(a.augment ? { augment: canonicalAugment(a.augment) || undefined } : {}),
    // Recorded only when on, so that a run of today's recipe records what it always did.
    ...(a['contrastive-positives'] && a['contrastive-positives'] !== 'none' ? { contrastivePositives: a['contrastive-positives'] } : {}),
    ...(a['label-smoothing'] ? { labelSmoothing: a['label-smoothing'] } : {}),
    ...(a.ema ? { ema: a.ema } : {}),
  };
}

/** --augment in the one spelling run.json records ('' for none). */
const canonicalAugment = (v: string): string => formatAugmentSpec(parseAugmentSpec(v));

const AUGMENT_HELP =
  "training augmentations beyond today's random crop and flip, a comma list of NAME or NAME=VALUE: " +
  (Object.entries(AUGMENT_ITEMS) as [string, { dflt?: number; means: string }][]).map(([k, it]) => `${k}${it.dflt !== undefined ? `[=${it.dflt}]` : '=V'} (${it.means})`).join('; ') +
  '. Drawn per picture, after the crop, from the seed (same seed, same pictures), in that order: colour, grey, blur. E.g. --augment colour,grey,blur [default: none]';

export const trainCommand = {
  command: 'train',
  describe: 'Train a CoCa model (contrastive + captioning) on the built-in data or your own',
  builder: (y: Argv) =>
    y
      .option('arch', {
        type: 'string',
        choices: ARCH_NAMES,
        describe: `architecture: ${ARCH_NAMES.map((n) => `${n} (${ARCHS[n]})`).join('; ')}. showtell, sat and prefix have the preset nano; prefix needs --encoder; devise has the config nano-cnn [default: coca, or the one a --config file names]`,
      })
      .option('label-vectors', {
        type: 'string',
        describe: "--arch devise: the labels' vectors the tower is regressed onto: text (a skip-gram model trained on the train captions alone, the paper's) or random (random unit vectors, the paper's control: zero-shot falls to chance) [default: text]",
      })
      .option('encoder', { type: 'string', describe: ENCODER_HELP })
      .option('preset', { type: 'string', choices: [...PRESETS], ...dflt('preset'), describe: 'model size (nano: tests and demo, minutes on a CPU; b32: open_clip coca_ViT-B-32 shape)' })
      .option('config', { type: 'string', describe: 'a model config JSON (open_clip keys) instead of a preset, or a bundled one by name: nano-cnn (nano with the CNN image tower, vision_cfg.tower "cnn")' })
      .option('data', { type: 'string', ...dflt('data'), describe: "dataset: builtin-small, builtin, a folder/file of your own, or WebDataset shards, streamed (a .tar, 'shards/{00000..00099}.tar', a list file, http(s):// URLs, a folder written by coca data shards; see docs/webdataset.md)" })
      .option('out', { type: 'string', describe: 'run folder, new or empty [default: runs/<preset>-<time>]' })
      .option('steps', { type: 'number', ...dflt('steps'), describe: 'optimizer steps' })
      .option('batch', { type: 'number', ...dflt('batch'), describe: 'image–caption pairs per step' })
      .option('lr', { type: 'number', ...dflt('lr'), describe: 'peak learning rate (AdamW)' })
      .option('warmup', { type: 'number', describe: 'linear warm-up steps, then cosine decay to 0 [default: 5% of --steps]' })
      .option('weight-decay', { type: 'number', ...dflt('weight-decay'), describe: 'decoupled weight decay, on linear-map weights only' })
      .option('clip', { type: 'number', ...dflt('clip'), describe: 'global gradient-norm clip' })
      .option('caption-weight', { type: 'number', ...dflt('caption-weight'), describe: 'λ_cap, weight of the captioning loss' })
      .option('contrastive-weight', { type: 'number', ...dflt('contrastive-weight'), describe: 'λ_con, weight of the contrastive loss' })
      .option('contrastive-positives', {
        type: 'string',
        choices: [...CONTRASTIVE_POSITIVES],
        ...dflt('contrastive-positives'),
        describe:
          'which captions in a batch count as matches of a picture in the contrastive loss: none (its own caption only; other captions of the same concept are negatives), or concept (every pair of its concept: the target of each row and column is uniform over them, as SupCon/UniCL). ' +
          "Concepts are the built-in sets' concept groups (styles, skin tones, gender words and translations of one thing); for your own data, identical captions (after case and spacing). Validation keeps the one-positive loss, so runs compare",
      })
      .option('label-smoothing', { type: 'number', ...dflt('label-smoothing'), describe: "ε of the captioning loss, PyTorch's CrossEntropyLoss(label_smoothing=ε): (1 − ε)·NLL + ε·the mean over the vocabulary of −log p, pad positions ignored; in [0, 0.99]. The training log shows the smoothed loss, validation the unsmoothed one" })
      .option('resume', {
        type: 'string',
        describe: "continue a run in its own folder from its newest complete checkpoint (last, best or step-N), with the run's recorded options (run.json); a checkpoint folder inside a run continues from that one. coca, showtell and sat runs continue bit for bit (weights, AdamW, the data order and dropout draws); prefix and devise runs cannot be resumed yet",
      })
      .option('init', { type: 'string', describe: "start a new run from this checkpoint's weights, tokenizer and preprocessing (e.g. one made by 'coca import open_clip'); not its optimizer or step. Fine-tuning as open_clip does: --caption-weight 1 --contrastive-weight 0 --lr 1e-5" })
      .option('lock-image', { type: 'boolean', describe: "freeze the image tower (every visual.* parameter: no gradient, no update), as open_clip's --lock-image; with --init, fine-tunes the text side of an imported model on new captions [default: false]" })
      .option('override', { type: 'string', array: true, describe: 'with --resume: let these options (by name, e.g. --override steps lr) change what the run recorded' })
      .option('seed', { type: 'number', ...dflt('seed'), describe: 'seed of the initialisation and the data order' })
      .option('val-every', { type: 'number', ...dflt('val-every'), describe: 'validate, write a step checkpoint and update report.html every N steps' })
      .option('keep', { type: 'number', ...dflt('keep'), describe: 'step checkpoints to keep (plus best and last)' })
      .option('save-every', {
        type: 'string',
        ...dflt('save-every'),
        describe:
          'write checkpoints/last every N steps (50) or after this much training time (90s, 5m), so a crash or kill loses at most that much. ' +
          '5 minutes bounds the loss whatever the model size, while writing last stays a small part of it (nano, 5 MB: about 0.1 s; b32, 3 GB of weights and moments: about 20 s on a 2-core machine)',
      })
      .option('on-nan', { type: 'string', choices: ['stop', 'skip'] as const, ...dflt('on-nan'), describe: 'on a non-finite loss or gradient: stop, or skip the step and halve the LR' })
      .option('precision', {
        type: 'string',
        choices: [...PRECISIONS],
        ...dflt('precision'),
        describe:
          'f16: mixed precision, the matrix products on f16 operands with f32 accumulation, f32 master weights and AdamW state, dynamic loss scaling (a step whose gradients overflow is skipped and the scale halved; the scale is logged). ' +
          'Needs the adapter\'s shader-f16; pays on GPUs (half the bytes read, tensor cores), not on a CPU adapter (docs/mixed-precision.md)',
      })
      .option('image-mean', { type: 'number', array: true, describe: "per-channel mean R G B the model normalises with, recorded in it [default: the built-in set's measured one, CLIP's for your data]" })
      .option('image-std', { type: 'number', array: true, describe: 'per-channel std R G B, recorded in the model [default: as --image-mean]' })
      .option('image-resize-mode', { type: 'string', choices: [...RESIZE_MODES], describe: "how a non-square picture is squared, recorded in the model: shortest (centre crop), longest (letterbox), squash [default: longest on the built-in sets, else shortest]" })
      .option('strict', { type: 'boolean', default: false, describe: 'stop at the first picture that cannot be decoded (otherwise it is replaced by another item, counted and named)' })
      .option('grad-accum', { type: 'number', describe: 'batches whose gradients are averaged into each optimiser step (effective batch = --batch × K; contrastive negatives stay within each batch) [default: 1]' })
      .option('contrastive-batch', {
        type: 'number',
        describe:
          "gradient caching: N, the pairs per step whose contrastive loss is computed together (the step's batch, instead of --batch), run --micro-batch pairs at a time so memory is that of a micro-batch; " +
          "gradients equal those of one batch of N (docs/webdataset.md, 'Contrastive batches larger than memory') [default: off]",
      })
      .option('micro-batch', { type: 'number', describe: 'with --contrastive-batch N: pairs in activation memory at once, a divisor of N; validation runs in pieces of it too [default: none, needed with --contrastive-batch]' })
      .option('shuffle-buffer', { type: 'number', describe: 'WebDataset shards: pairs shuffled together as they stream in (the shard order is shuffled too) [default: 1000]' })
      .option('augment', { type: 'string', describe: AUGMENT_HELP })
      .option('ema', {
        type: 'number',
        describe:
          'keep an exponential moving average of the weights with this decay (e.g. 0.999; 0: off), updated on the GPU after each step, warmed up as timm does (decay 1 − t^(−2/3) until it reaches this). ' +
          "Validation, best and the checkpoints' model.safetensors (what eval, caption, serve and export read) are the average; raw.safetensors beside it holds the weights training continues from (docs/recipes.md) [default: 0]",
      })
      .option('caption-field', { type: 'string', describe: 'WebDataset shards: the json field a caption is read from when a sample has no .txt [default: caption]' })
      .example('$0 train', 'nano on the built-in small set, a few minutes on a CPU')
      .example('$0 train --preset tiny --data builtin --steps 2000', 'a bigger model on the full built-in set')
      .example('$0 train --resume runs/nano-20261123-0600', 'continue a stopped or killed run where its newest checkpoint left it')
      .example('$0 train --resume runs/nano-20261123-0600 --steps 600 --override steps', 'continue it further than it was meant to go')
      .example('$0 train --contrastive-batch 1024 --micro-batch 32', 'a contrastive batch of 1024 pairs in the memory of 32 (gradient caching)')
      .example('$0 train --arch sat --steps 300', 'Show, Attend and Tell on the same data, batches and schedule as CoCa')
      .example('$0 train --arch prefix --encoder runs/nano-20261123-0600', "the prefix captioner over that coca run's frozen image tower")
      .example('$0 train --arch devise --label-vectors random', "DeViSE's random-vector control (docs/devise.md)"),
  handler: async (a: TrainArgs) => {
    const arch = runArch(a);
    if (a['label-vectors'] !== undefined && arch !== 'devise') throw new CocaError(`--label-vectors applies to --arch devise only (this run trains ${arch}); drop it`);
    const archDefaults = { data: DEFAULTS.data, steps: DEFAULTS.steps, batch: DEFAULTS.batch, lr: DEFAULTS.lr, clip: DEFAULTS.clip, seed: DEFAULTS.seed, valEvery: DEFAULTS['val-every'], keep: DEFAULTS.keep };
    if (arch === 'prefix') {
      await trainPrefixCommand(a as unknown as Parameters<typeof trainPrefixCommand>[0], archDefaults);
      return;
    }
    if (a.encoder !== undefined) throw new CocaError(`--encoder applies to --arch prefix only (this run is --arch ${arch}); drop it`);
    if (arch === 'devise') return trainDeviseCommand(a as unknown as Parameters<typeof trainDeviseCommand>[0], archDefaults);
    if (arch === 'showtell' || arch === 'sat') {
      await trainLstmCommand(arch, a as unknown as Parameters<typeof trainLstmCommand>[1], archDefaults);
      return;
    }
    if (a.override?.length && !a.resume) throw new CocaError('--override only applies with --resume (a new run takes its options as given)');
    if (a.init && (a.preset || a.config)) throw new CocaError(`--init ${a.init} brings its own model (its config.json); drop --${a.preset ? 'preset' : 'config'}`);
    if (a.init && !fs.existsSync(path.join(a.init, 'config.json'))) throw new CocaError(`--init ${a.init}: not a checkpoint folder (no config.json); give one written by coca train or coca import open_clip`);
    let recorded: RecordedOptions;
    let out: string;
    if (a.resume) {
      const run = runOf(a.resume);
      const given: Record<string, unknown> = {};
      for (const k of Object.keys(RESUMABLE)) given[k] = a[k as keyof TrainArgs];
      if (a['save-every'] !== undefined) given['save-every'] = parseSaveEvery(a['save-every']);
      if (a['contrastive-batch'] !== undefined) given['batch'] = a['contrastive-batch'];
      if (a.augment !== undefined) given['augment'] = canonicalAugment(a.augment);
      recorded = resumeOptions(run, given, a.override ?? []);
      out = a.out ?? run;
    } else {
      recorded = freshOptions(a);
      out = a.out ?? path.join('runs', `${path.basename(recorded.configName, '.json')}-${stamp()}`);
    }
    checkGradCacheArgs(a, recorded.microBatch);
    for (const name of ['mean', 'std'] as const) {
      const v = a[`image-${name}`];
      const problem = v && checkStats(name, v);
      if (problem) throw new CocaError(`--image-${problem}`);
    }
    checkNumbers(recorded);
    checkRunFolder(out, recorded.data);
    const gpu = await Gpu.open();
    try {
      // A run recorded before --save-every existed saves at the default.
      const saveEvery = recorded.saveEvery ?? parseSaveEvery(DEFAULTS['save-every']);
      const r = await train(gpu, { ...recorded, config: loadConfig(recorded.configName), out, resume: a.resume, saveEvery, strict: a.strict, progress: true });
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
