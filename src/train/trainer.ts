// The training loop of `coca train`: data → model → loss → AdamW with warm-up + cosine decay and
// global-norm clipping, a progress bar, a JSONL log per step, validation and report.html every
// N steps, checkpoints (last K, best by validation loss, `last` every --save-every and at the
// end), exact resume from the newest complete checkpoint, a clean stop on Ctrl-C, and a one-line
// stop on a non-finite loss or gradient.
import fs from 'node:fs';
import path from 'node:path';
import { augmentConfig, BatchLoader, DEFAULT_SHUFFLE_BUFFER, defaultPreprocess, describePreprocess, isShardData, loadDataset, loadTokenizer, measuredStats, openShardTrainLoader, parseAugmentSpec, type Batch, type ImagePreprocess, type LoaderState, type ResizeMode, type Tokenizer, type Triple } from '../data/index.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { createProgress } from '../util/progress.ts';
import { CocaError } from '../util/errors.ts';
import { CocaModel } from '../model/coca.ts';
import { withPreprocess, type CocaConfig } from '../model/config.ts';
import { countParams, stepFlops } from '../model/shapes.ts';
import type { LossParts, LossWeights } from '../model/loss.ts';
import { checkpointPreprocess } from '../model/preprocess.ts';
import { AdamW } from './adamw.ts';
import { verifyCheckpoint } from '../model/checkpoint-folder.ts';
import { loadParamsInto, readCheckpointConfig, readCheckpointTokenizer } from '../model/checkpoint.ts';
import { checkpointStep, loadOptimizerInto, newestRunCheckpoint, pruneCheckpoints, RAW_WEIGHTS, readTrainingWeights, readTrainState, saveCheckpoint } from './checkpoint.ts';
import { WeightAverage } from './ema.ts';
import { readJsonl } from '../util/jsonl.ts';
import { writeReport, type Series } from '../util/report.ts';
import { learningRate } from './schedule.ts';
import { trainStep, type StepOptions, type StepReport } from './step.ts';
import { accumulatedStep } from './accumulate.ts';
import { LossScaler, type LossScaleOptions, type LossScaleState } from './loss-scale.ts';
import { precisionUnavailable, setPrecision, type Precision } from '../tensor/precision.ts';
import { gradCachedStep } from './gradcache.ts';
import { validate, type Validation } from './validate.ts';
import { checkOutputFolder, claimOutputFolder, type OutputOptions } from '../util/outdir.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { RunOptions } from './run-options.ts';
import { conceptGroups, type ContrastivePositives } from './positives.ts';

export class TrainError extends CocaError {
  override name = 'TrainError';
}

export interface TrainOptions extends RunOptions {
  config: CocaConfig;
  /** Preset name or config path, for the record. */
  configName: string;
  weights: LossWeights;
  /** When `last` is written besides the end: every N steps, or once N seconds of training have passed since the previous save. */
  saveEvery: { steps: number } | { seconds: number };
  /** A run folder (its newest complete checkpoint is taken) or one checkpoint folder. */
  resume?: string;
  /**
   * A checkpoint folder a new run starts from (e.g. one `coca import open_clip` wrote): its
   * weights, tokenizer and preprocessing; not its optimizer state or step. The config must be its
   * config.json (the CLI passes it so).
   */
  init?: string;
  /**
   * A deliberate choice of preprocessing for a new model (recorded in its config); what is not
   * given defaults to the dataset's measured statistics (built sets) or CLIP's.
   */
  preprocess?: { mean?: Triple; std?: Triple; resizeMode?: ResizeMode };
  /** Batches whose gradients are summed (averaged) into each optimiser step; default 1. */
  gradAccum?: number;
  /**
   * Gradient caching (`--contrastive-batch batch --micro-batch M`): each step's batch runs M pairs
   * at a time (src/train/gradcache.ts), its contrastive loss still over the whole batch; validation
   * too. A divisor of batch; not with gradAccum.
   */
  microBatch?: number;
  /**
   * The image tower (every `visual.*` parameter) takes no gradient and no update: open_clip's
   * --lock-image, for fine-tuning an imported model's text side on new captions.
   */
  lockImage?: boolean;
  /** WebDataset shards: pairs permuted together (default DEFAULT_SHUFFLE_BUFFER). */
  shuffleBuffer?: number;
  /** WebDataset shards: the json field of the caption when a sample has no txt. */
  captionField?: string;
  /** On a non-finite loss or gradient: stop (default) or skip the step and halve the LR. */
  onNonFinite: 'stop' | 'skip';
  /**
   * f32 (default), or f16: mixed precision (src/tensor/precision.ts: f16 products with f32
   * accumulation, f32 master weights and AdamW state) with dynamic loss scaling
   * (src/train/loss-scale.ts), where a step whose gradients overflow is skipped and the scale
   * halved (not --on-nan's business). Needs the adapter's shader-f16.
   */
  precision?: Precision;
  /** The loss scaler's settings with --precision f16 (default torch's: DEFAULT_LOSS_SCALE); not a CLI option. */
  lossScale?: LossScaleOptions;
  /** Stop after this many steps of this invocation (tests of resume), still writing a checkpoint. */
  stopAfter?: number;
  /**
   * Augmentations beyond the crop and flip, as `--augment` spells them canonically
   * (src/data/augment-spec.ts: `colour=0.4,grey=0.2,blur=0.5`); absent or '' for none.
   */
  augment?: string;
  /**
   * `concept`: rows of one concept in a batch are positives of each other in the contrastive loss
   * (src/train/positives.ts); default (absent or `none`): each row's own caption only. Validation
   * keeps the one-positive loss.
   */
  contrastivePositives?: ContrastivePositives;
  /** The caption loss's label smoothing ε (torch's); default 0. Validation reports the unsmoothed loss. */
  labelSmoothing?: number;
  /**
   * The decay of a moving average of the weights (src/train/ema.ts, timm's warm-up), e.g. 0.999;
   * absent or 0: none. Validation and the checkpoints' model.safetensors use the average.
   */
  ema?: number;
}

export interface StepLog extends LossParts {
  step: number;
  lr: number;
  gradNorm: number;
  ms: number;
  imagesPerSec: number;
  /** The loss scale the step ran at (--precision f16 only). */
  lossScale?: number;
}

export interface TrainResult {
  out: string;
  steps: number;
  last: StepLog | null;
  validation: Validation | null;
  interrupted: boolean;
}

interface RunState {
  step: number;
  loader: LoaderState;
  lrScale: number;
  bestValLoss: number | null;
  /** The step whose validation gave bestValLoss (checkpoints/best holds it). */
  bestStep?: number;
  /** The loss scaler's (--precision f16). */
  lossScale?: LossScaleState;
}

/**
 * Takes the image tower off the tape: with no parameter of it requiring a gradient, no op of the
 * image forward is recorded, so its backward is never run and AdamW (which updates only what has
 * a gradient) leaves it as loaded; weight decay skips it too, as torch's does a frozen tensor.
 * Returns how many floats were locked.
 */
function lockImageTower(model: CocaModel): number {
  let n = 0;
  for (const [name, p] of model.params.params) {
    if (!name.startsWith('visual.')) continue;
    p.tensor.requiresGrad = false;
    n += p.tensor.size;
  }
  return n;
}

/**
 * The checkpoint a --resume argument names: a checkpoint folder, or the newest complete one of a
 * run; null for a run killed before its first checkpoint (it starts again from step 0).
 */
export function resolveCheckpoint(dir: string, log: (line: string) => void = () => {}): string | null {
  if (fs.existsSync(path.join(dir, 'run.json'))) return newestRunCheckpoint(dir, log);
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return dir;
  throw new TrainError(`${dir} holds no checkpoint (no run.json, no model.safetensors); give a run folder or checkpoint written by coca train`);
}

const TRAIN = 'coca train';

/** A run folder may be new, empty, or a run of coca train (marked, or with the run.json of older runs). */
function runFolderRules(data: string): OutputOptions {
  return { inputs: [dataPathOf(data)], isOwnLegacy: (d) => fs.existsSync(path.join(d, 'run.json')) };
}

const dataPathOf = (data: string) => (data === 'builtin' || data === 'builtin-small' ? undefined : data);

/** Refuses a run folder that holds someone else's files or the data it trains on; creates nothing. */
export function checkRunFolder(out: string, data: string): void {
  checkOutputFolder(out, TRAIN, runFolderRules(data));
}

/**
 * The preprocessing of this run: a resumed run keeps its model's; a new one records the user's
 * choice, else the dataset's measured statistics (built sets) or CLIP's.
 */
function runPreprocess(o: TrainOptions, from: string | null, log: (line: string) => void): ImagePreprocess {
  const S = o.config.vision_cfg.image_size;
  const chosen = Object.fromEntries(Object.entries(o.preprocess ?? {}).filter(([, v]) => v !== undefined)) as Partial<ImagePreprocess>;
  if (!from) return { ...defaultPreprocess(S, measuredStats(o.data)), ...chosen };
  const pre = checkpointPreprocess(from, readCheckpointConfig(from), log);
  for (const [k, v] of Object.entries(chosen)) {
    if (JSON.stringify(v) !== JSON.stringify(pre[k as keyof ImagePreprocess])) {
      throw new TrainError(`the model in ${from} was trained with ${describePreprocess(pre)}; a run continuing it keeps it: drop --image-mean, --image-std and --image-resize-mode, or start a new model`);
    }
  }
  return pre;
}

/** The tokenizer of the checkpoint a run starts from (--init): its embeddings index that one's ids. */
function initTokenizer(init: string): Tokenizer {
  const tok = readCheckpointTokenizer(init, readCheckpointConfig(init));
  if (!tok) throw new TrainError(`--init ${init} has no tokenizer.json, so the captions cannot be turned into the ids its embeddings were trained on; add the tokenizer it was trained with to the folder`);
  return tok;
}

function checkOutDir(out: string, config: CocaConfig, resuming: boolean): void {
  const runFile = path.join(out, 'run.json');
  if (!fs.existsSync(runFile) || resuming) return;
  const prev = JSON.parse(fs.readFileSync(runFile, 'utf8')) as { config: CocaConfig };
  if (JSON.stringify(prev.config) !== JSON.stringify(config)) {
    throw new TrainError(`${out} holds a run of another config; pick another --out, or --resume ${out} to continue that run`);
  }
  throw new TrainError(`${out} already holds a run; pick another --out, or --resume ${out} to continue it`);
}

export async function train(gpu: Gpu, o: TrainOptions, log: (line: string) => void = console.log): Promise<TrainResult> {
  const precision = o.precision ?? 'f32';
  if (precision === 'f16') {
    const why = precisionUnavailable(gpu, precision);
    if (why) throw new TrainError(why);
  }
  if (o.init) verifyCheckpoint(o.init, log);
  const tokenizer = o.init ? initTokenizer(o.init) : loadTokenizer(o.data);
  const resumeFrom = o.resume ? resolveCheckpoint(o.resume, log) : null;
  if (resumeFrom) verifyCheckpoint(resumeFrom, log);
  const pre = runPreprocess(o, resumeFrom ?? o.init ?? null, log);
  const config: CocaConfig = withPreprocess(
    {
      ...o.config,
      text_cfg: { ...o.config.text_cfg, vocab_size: tokenizer.vocabSize },
      multimodal_cfg: { ...o.config.multimodal_cfg, vocab_size: tokenizer.vocabSize },
    },
    pre,
  );
  checkOutDir(o.out, config, !!o.resume);
  const S = config.vision_cfg.image_size;
  const L = config.text_cfg.context_length;
  const strict = o.strict ?? false;
  // Shards are streamed (never held whole); every other dataset is opened for random access.
  const streamed = isShardData(o.data);
  const captionField = o.captionField;
  const trainSet = streamed ? null : await loadDataset(o.data, { split: 'train', imageSize: S, strict });
  const valSet = await loadDataset(o.data, { split: 'val', imageSize: S, strict, captionField }).catch(() => null);
  if (trainSet && trainSet.length < o.batch) throw new TrainError(`the train split of ${o.data} has ${trainSet.length} items, fewer than one batch of ${o.batch}; use --batch ${Math.max(1, trainSet.length)} or more data`);
  const augment = o.augment ? augmentConfig(parseAugmentSpec(o.augment)) : undefined;
  const loaderOptions = { batchSize: o.batch, contextLength: L, tokenizer, preprocess: pre, strict, seed: o.seed, train: true, warn: (l: string) => log(`warning: ${l}`), ...(augment ? { augment } : {}) };
  const shuffleBuffer = o.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER;
  const accum = o.gradAccum ?? 1;
  const micro = o.microBatch;
  if (micro !== undefined && (accum > 1 || o.batch % micro !== 0)) throw new TrainError(`gradient caching needs a batch (${o.batch}) that is a multiple of the micro-batch (${micro}) and no gradient accumulation (${accum})`);
  // Gradient caching assumes a micro-batch's embeddings do not depend on the other micro-batches
  // and are the same in its two passes; batch norm's batch statistics break both.
  if (micro !== undefined && config.vision_cfg.tower === 'cnn') throw new TrainError(`gradient caching (--contrastive-batch) cannot train the CNN tower: its batch norm makes each picture's embedding depend on its micro-batch; use --batch ${o.batch} without it, or --grad-accum`);
  const loader = trainSet ? new BatchLoader(trainSet, loaderOptions) : openShardTrainLoader(o.data, { ...loaderOptions, shuffleBuffer, captionField });
  const pairs = trainSet ? `${trainSet.length} training pairs` : `${'shards' in loader ? loader.shards.length : 0} shards streamed (shuffle buffer ${shuffleBuffer})`;
  const valLoader = valSet && valSet.length > 0 ? new BatchLoader(valSet, { batchSize: o.batch, contextLength: L, tokenizer, preprocess: pre, strict, seed: o.seed, train: false }) : null;

  const model = CocaModel.init(gpu, config, o.seed);
  const opt = new AdamW(gpu, model.params, { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  let state: RunState = { step: 0, loader: loader.state(), lrScale: 1, bestValLoss: null };
  let savedAverage = null;
  if (resumeFrom) {
    const saved = readTrainingWeights(resumeFrom);
    model.params.load(saved.weights);
    savedAverage = saved.average;
    loadOptimizerInto(resumeFrom, opt);
    state = readTrainState<RunState>(resumeFrom);
    loader.restore(state.loader);
  } else if (o.init) loadParamsInto(o.init, model);
  // A run that had no average (or --override ema turned it on) starts one from the weights.
  const average = o.ema ? new WeightAverage(gpu, model.params, o.ema) : null;
  if (average && savedAverage) average.load(savedAverage);
  const locked = o.lockImage ? lockImageTower(model) : 0;
  const scaler = precision === 'f16' ? new LossScaler(o.lossScale) : null;
  if (scaler && state.lossScale) scaler.restore(state.lossScale);
  claimOutputFolder(o.out, TRAIN, runFolderRules(o.data));
  fs.mkdirSync(path.join(o.out, 'checkpoints'), { recursive: true });
  const effective = { ...o, config, resume: resumeFrom ?? undefined, tokenizerVocab: tokenizer.vocabSize, params: countParams(config), stepGflop: stepFlops(config, o.batch).step / 1e9 };
  writeRunFile(path.join(o.out, 'run.json'), JSON.stringify({ ...effective, progress: undefined, stopAfter: undefined }, null, 2) + '\n');
  const resumed = (resumeFrom ? `, resumed from ${resumeFrom} at step ${state.step}` : o.resume ? ', resumed at step 0 (the run had no checkpoint yet)' : '') + (o.init && !resumeFrom ? `, starting from the weights of ${o.init}` : '');
  log(`coca train: ${o.configName} (${effective.params.toLocaleString('en')} parameters, ${effective.stepGflop.toFixed(2)} GFLOP/step) on ${o.data}: ${pairs}, batch ${describeBatch(o.batch, accum, micro)}, ${o.steps} steps, lr ${o.lr} (warm-up ${o.warmup}, cosine), clip ${o.clip}, λ_con ${o.weights.contrastive}, λ_cap ${o.weights.caption}, seed ${o.seed}${resumed}`);
  log(`  adapter: ${gpu.adapter.backend} · ${gpu.adapter.description || gpu.adapter.device}; output: ${o.out}`);
  log(`  preprocessing (recorded in the model's config.json): ${describePreprocess(pre)}`);
  if (scaler) log(`  precision f16: f16 products with f32 accumulation, f32 master weights and AdamW moments; dynamic loss scale ${scaler.scale} (×${scaler.options.growthFactor} after ${scaler.options.growthInterval} clean steps, ×${scaler.options.backoffFactor} and the step skipped on an overflow)`);
  if (o.augment) log(`  augmentation: crop and flip, and ${o.augment} (--augment)`);
  const recipe = [o.contrastivePositives === 'concept' ? 'contrastive positives: the rows of one concept' : '', o.labelSmoothing ? `caption label smoothing ${o.labelSmoothing}` : ''].filter(Boolean);
  if (recipe.length) log(`  loss recipe: ${recipe.join('; ')} (validation keeps the plain losses)`);
  if (average) log(`  moving average of the weights: decay ${o.ema} (timm's warm-up: 1 − t^(−2/3) up to it); validation runs on it, checkpoints hold it as model.safetensors and the weights as ${RAW_WEIGHTS}`);
  if (o.lockImage) log(`  image tower locked: ${locked.toLocaleString('en')} parameters (visual.*) take no gradient and no update`);

  const logFile = path.join(o.out, 'log.jsonl');
  const valFile = path.join(o.out, 'val.jsonl');
  const history = readHistory(logFile, valFile, state.step);
  const tokJson = JSON.stringify(tokenizer.json);
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const bar = o.progress
    ? createProgress({ label: 'train', total: o.steps, start: state.step, fields: [{ name: 'loss' }, { name: 'con' }, { name: 'cap' }, { name: 'ips', unit: 'img/s' }] })
    : null;

  let lastSave = performance.now();
  const save = async (dir: string) => {
    try {
      await saveCheckpoint(dir, model, { tokenizerJson: tokJson, optimizer: opt, state: { ...state, loader: loader.state() }, ...(average ? { average } : {}) });
    } catch (e) {
      if (e instanceof CocaError) throw new TrainError(`${e.message}; training stopped at step ${state.step}: make room and continue with --resume ${o.out}`);
      throw e;
    }
    lastSave = performance.now();
  };
  const saveDue = () => ('steps' in o.saveEvery ? state.step % o.saveEvery.steps === 0 : performance.now() - lastSave >= o.saveEvery.seconds * 1000);
  let last: StepLog | null = null;
  let lastVal: Validation | null = null;
  let ran = 0;
  setPrecision(gpu, precision);
  try {
    // Killed between writing step-N and best, a run resumes at the step of its new best with best still older: write it now.
    const bestDir = path.join(o.out, 'checkpoints', 'best');
    if (resumeFrom && state.bestStep === state.step && stepOf(bestDir) !== state.step) await save(bestDir);
    while (state.step < o.steps && !interrupted && (o.stopAfter === undefined || ran < o.stopAfter)) {
      const t0 = performance.now();
      const batches = [];
      for (let k = 0; k < accum; k++) batches.push(await loader.next());
      const batch = { rows: batches.reduce((n, b) => n + b.rows, 0) };
      const lr = learningRate(state.step, o.lr, o.warmup, o.steps) * state.lrScale;
      const lossScale = scaler?.scale;
      const stepOptions = { weights: o.weights, clip: o.clip, lr, lossScale, ...(o.labelSmoothing ? { labelSmoothing: o.labelSmoothing } : {}) };
      const groupsOf = o.contrastivePositives === 'concept' ? (b: Batch) => conceptGroups(b, trainSet ? (i) => trainSet.meta(i) : undefined) : undefined;
      const { gradNorm, nonFinite: bad, ...parts } = await stepOn(model, opt, batches, stepOptions, micro, groupsOf);
      if (scaler) {
        // Gradients that overflowed at a finite loss are the scale's doing: skip, halve, go on.
        const overflowed = bad !== null && Number.isFinite(parts.total);
        scaler.update(overflowed);
        state.lossScale = scaler.state();
        if (overflowed) {
          log(`step ${state.step + 1}: gradients overflowed at loss scale ${lossScale}; step skipped, loss scale halved to ${scaler.scale}`);
          state.step++;
          continue;
        }
      }
      if (bad) {
        if (o.onNonFinite === 'stop') throw new TrainError(`step ${state.step + 1}: ${bad}; training stopped, the last good checkpoint is in ${path.join(o.out, 'checkpoints')} (--on-nan skip skips such steps and halves the LR instead)`);
        log(`step ${state.step + 1}: ${bad}; step skipped, learning rate halved`);
        state.lrScale /= 2;
        state.step++;
        continue;
      }
      state.step++;
      ran++;
      average?.update(opt.step);
      const ms = performance.now() - t0;
      last = { step: state.step, ...parts, lr, gradNorm, ms, imagesPerSec: (batch.rows * 1000) / ms, ...(lossScale !== undefined ? { lossScale } : {}) };
      appendLine(logFile, last);
      history.train.push(last);
      bar?.update(state.step, { loss: parts.total.toFixed(3), con: parts.contrastive.toFixed(3), cap: parts.caption.toFixed(3), ips: last.imagesPerSec.toFixed(1) });
      const atEnd = state.step === o.steps;
      if (valLoader && (state.step % o.valEvery === 0 || atEnd)) {
        average?.swap();
        lastVal = await validate(model, valLoader, o.weights, undefined, micro).finally(() => average?.swap());
        appendLine(valFile, { step: state.step, ...lastVal });
        history.val.push({ step: state.step, ...lastVal });
        const isBest = state.bestValLoss === null || lastVal.total < state.bestValLoss;
        if (isBest) {
          state.bestValLoss = lastVal.total;
          state.bestStep = state.step;
        }
        await save(path.join(o.out, 'checkpoints', `step-${String(state.step).padStart(6, '0')}`));
        if (isBest) await save(path.join(o.out, 'checkpoints', 'best'));
        pruneCheckpoints(path.join(o.out, 'checkpoints'), o.keep);
        writeRunReport(o, history, state.step);
      }
      if (!atEnd && saveDue()) await save(path.join(o.out, 'checkpoints', 'last'));
    }
    await save(path.join(o.out, 'checkpoints', 'last'));
    writeRunReport(o, history, state.step);
    for (const l of [loader, valLoader]) {
      const note = l?.decodeSummary();
      if (note) log(note);
    }
  } finally {
    setPrecision(gpu, 'f32');
    bar?.stop();
    process.off('SIGINT', onSigint);
    await loader.close();
    await valLoader?.close();
    opt.release();
    average?.release();
    model.params.release();
  }
  if (interrupted) log(`interrupted at step ${state.step}: checkpoint written to ${path.join(o.out, 'checkpoints', 'last')}; continue with --resume ${o.out}`);
  return { out: o.out, steps: state.step, last, validation: lastVal, interrupted };
}

/** The summary's batch: plain, accumulated, or gradient-cached. */
function describeBatch(batch: number, accum: number, micro: number | undefined): string {
  if (micro !== undefined) return `${batch} contrastive, gradient-cached in micro-batches of ${micro}`;
  return accum > 1 ? `${batch} × ${accum} accumulated = effective batch ${batch * accum}` : String(batch);
}

/** One optimiser step: trainStep on one batch, gradients accumulated over several, or one batch gradient-cached. */
async function stepOn(model: CocaModel, opt: AdamW, batches: readonly Batch[], o: StepOptions, microBatch?: number, groupsOf?: (b: Batch) => Int32Array): Promise<StepReport> {
  const inputs = batches.map((b) => ({ images: b.images, text: b.tokens, batch: b.rows, ...(groupsOf ? { groups: groupsOf(b) } : {}) }));
  if (microBatch !== undefined) return gradCachedStep(model, opt, inputs[0]!, microBatch, o);
  if (inputs.length > 1) return accumulatedStep(model, opt, inputs, o);
  const inp = model.prepare(inputs[0]!);
  return trainStep(model, opt, inp, o).finally(() => inp.release());
}

function stepOf(dir: string): number | null {
  try {
    return fs.existsSync(dir) ? checkpointStep(dir) : null;
  } catch {
    return null;
  }
}

/** A log line; a full disk or a lost folder stops training in one line (the checkpoints stay). */
function appendLine(file: string, record: object): void {
  try {
    fs.appendFileSync(file, JSON.stringify(record) + '\n');
  } catch (e) {
    throw new TrainError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); training stopped, the last checkpoint is whole: make room and continue with --resume ${path.dirname(file)}`);
  }
}

function writeRunFile(file: string, text: string): void {
  try {
    writeFileAtomic(file, text);
  } catch (e) {
    throw new TrainError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the previous file is untouched`);
  }
}

interface History {
  train: StepLog[];
  val: (Validation & { step: number })[];
}

/** Log lines up to `step` (a resumed run rewrites the rest). */
function readHistory(logFile: string, valFile: string, step: number): History {
  const read = <T extends { step: number }>(f: string): T[] => readJsonl<T>(f).filter((r) => r.step <= step);
  const h = { train: read<StepLog>(logFile), val: read<Validation & { step: number }>(valFile) };
  // Drop what a stopped run logged past its checkpoint, so the files equal an uninterrupted run's.
  if (fs.existsSync(logFile)) writeRunFile(logFile, h.train.map((r) => JSON.stringify(r) + '\n').join(''));
  if (fs.existsSync(valFile)) writeRunFile(valFile, h.val.map((r) => JSON.stringify(r) + '\n').join(''));
  return h;
}

function writeRunReport(o: TrainOptions, h: History, step: number): void {
  const t = (name: string, color: string, f: (r: StepLog) => number): Series => ({ name, color, points: h.train.map((r) => [r.step, f(r)]) });
  const v = (name: string, color: string, f: (r: Validation) => number): Series => ({ name, color, points: h.val.map((r) => [r.step, f(r)]) });
  const lastVal = h.val.at(-1);
  writeReport(path.join(o.out, 'report.html'), `coca train: ${o.configName}`, {
    data: o.data,
    step: `${step} / ${o.steps}`,
    batch: o.batch,
    'last train loss': h.train.at(-1)?.total ?? '–',
    'val loss': lastVal?.total ?? '–',
    'val R@1 image→text': lastVal ? lastVal.imageToTextR1 : '–',
    'val R@1 text→image': lastVal ? lastVal.textToImageR1 : '–',
  }, [
    { title: 'training loss', yLabel: 'loss', series: [t('total', '#000', (r) => r.total), t('contrastive', '#1f77b4', (r) => r.contrastive), t('caption', '#d62728', (r) => r.caption)] },
    { title: 'validation loss', yLabel: 'loss', series: [v('total', '#000', (r) => r.total), v('contrastive', '#1f77b4', (r) => r.contrastive), v('caption', '#d62728', (r) => r.caption)] },
    { title: 'validation retrieval R@1', yLabel: 'R@1', series: [v('image→text', '#2ca02c', (r) => r.imageToTextR1), v('text→image', '#9467bd', (r) => r.textToImageR1)] },
    { title: 'learning rate', yLabel: 'lr', series: [t('lr', '#555', (r) => r.lr)] },
  ]);
}
