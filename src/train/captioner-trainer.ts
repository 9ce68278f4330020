// `coca train --arch showtell|sat`: the LSTM captioners trained on the same data, batches,
// preprocessing, AdamW, warm-up + cosine schedule and clip as CoCa, so runs compare at an equal
// budget. A run folder like CoCa's: run.json (arch recorded), log.jsonl per step, val.jsonl
// (validation caption loss every --val-every steps), checkpoints/step-N, best and last.
// Each checkpoint holds the whole training state (weights and batch norm's running statistics,
// AdamW's moments and step, the loader's place, the dropout generator's, the best validation
// loss), so a run resumed from it continues bit for bit as if it had never stopped.
import fs from 'node:fs';
import path from 'node:path';
import { BatchLoader, defaultPreprocess, describePreprocess, isShardData, loadDataset, loadTokenizer, measuredStats, type Dataset, type ImagePreprocess, type LoaderState, type Tokenizer, type ResizeMode, type Triple } from '../data/index.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { withLstmPreprocess, withLstmVocab, type LstmConfig } from '../model/captioners/config.ts';
import type { Captioner } from '../model/captioners/captioner.ts';
import { LstmCaptioner } from '../model/captioners/lstm.ts';
import { claimOutputFolder } from '../util/outdir.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { createProgress } from '../util/progress.ts';
import { Rng } from '../util/prng.ts';
import { AdamW } from './adamw.ts';
import { captionerLoss, captionerTrainStep } from './captioner-step.ts';
import { verifyCheckpoint } from '../model/checkpoint-folder.ts';
import { loadParamsInto } from '../model/checkpoint.ts';
import { checkpointStep, loadOptimizerInto, pruneCheckpoints, readTrainState, saveCheckpoint } from './checkpoint.ts';
import type { RunOptions } from './run-options.ts';
import { learningRate } from './schedule.ts';
import { resolveCheckpoint, TrainError } from './trainer.ts';

export interface CaptionerTrainOptions extends RunOptions {
  config: LstmConfig;
  configName: string;
  preprocess?: { mean?: Triple; std?: Triple; resizeMode?: ResizeMode };
  /** Validation batches at most (tests); default all of the val split. */
  valBatches?: number;
  /** Continue the run in `out` from this checkpoint, or from the newest of this run folder. */
  resume?: string;
  /** Stop after this many steps of this invocation, writing last (tests of resume). */
  stopAfter?: number;
}

/** What a checkpoint holds beyond weights and AdamW for a run to continue exactly (state.json). */
interface CaptionerRunState {
  step: number;
  loader: LoaderState;
  /** The dropout generator's position. */
  rng: number[];
  /** The lowest validation loss so far and its step (what `best` holds). */
  best: number | null;
  bestStep?: number;
}

export interface CaptionerStepLog {
  step: number;
  caption: number;
  regulariser: number;
  total: number;
  lr: number;
  gradNorm: number;
  ms: number;
  imagesPerSec: number;
}

export interface CaptionerTrainResult {
  out: string;
  steps: number;
  first: CaptionerStepLog | null;
  last: CaptionerStepLog | null;
  validation: { caption: number; regulariser: number; items: number } | null;
  /** Wall time of the training loop (steps, validation and checkpoints), seconds. */
  seconds: number;
}

const TRAIN = 'coca train';

export async function trainCaptioner(gpu: Gpu, o: CaptionerTrainOptions, log: (line: string) => void = console.log): Promise<CaptionerTrainResult> {
  if (isShardData(o.data)) throw new TrainError(`--arch ${o.config.arch} trains on a built or folder dataset; WebDataset shards stream only into coca's own model for now: give --data builtin-small, builtin or a folder`);
  const tokenizer = loadTokenizer(o.data);
  const S = o.config.vision_cfg.image_size;
  const chosen = Object.fromEntries(Object.entries(o.preprocess ?? {}).filter(([, v]) => v !== undefined)) as Partial<ImagePreprocess>;
  const pre: ImagePreprocess = { ...defaultPreprocess(S, measuredStats(o.data)), ...chosen };
  const config = withLstmPreprocess(withLstmVocab(o.config, tokenizer.vocabSize), pre);
  const L = config.decoder_cfg.context_length;
  const { trainSet, loader, valLoader } = await openCaptionerData(o, S, L, tokenizer, pre, log);

  const model = LstmCaptioner.init(gpu, config, o.seed);
  const opt = new AdamW(gpu, model.params, { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  const rng = new Rng(o.seed ^ 0x0d0d0d0d);
  let state: CaptionerRunState = { step: 0, loader: loader.state(), rng: rng.state(), best: null };
  const resumeFrom = o.resume ? resolveCheckpoint(o.resume, log) : null;
  if (resumeFrom) {
    try {
      verifyCheckpoint(resumeFrom, log);
      loadParamsInto(resumeFrom, model);
      loadOptimizerInto(resumeFrom, opt);
      state = readTrainState<CaptionerRunState>(resumeFrom);
      if (!Number.isInteger(state.step) || !state.loader || !Array.isArray(state.rng)) throw new TrainError(`${resumeFrom}/state.json lacks the loader's or the dropout generator's place (written before runs could resume); the run cannot continue exactly: start a new run with --out`);
      loader.restore(state.loader);
      rng.restore(state.rng);
    } catch (e) {
      await loader.close();
      opt.release();
      model.params.release();
      throw e;
    }
  }
  claimOutputFolder(o.out, TRAIN, { inputs: [o.data === 'builtin' || o.data === 'builtin-small' ? undefined : o.data] });
  fs.mkdirSync(path.join(o.out, 'checkpoints'), { recursive: true });
  const params = model.params.count();
  writeFileAtomic(path.join(o.out, 'run.json'), JSON.stringify({ arch: config.arch, ...o, config, progress: undefined, resume: undefined, stopAfter: undefined, tokenizerVocab: tokenizer.vocabSize, params }, null, 2) + '\n');
  // Lines a stopped run logged past its checkpoint go, so the files equal an uninterrupted run's.
  for (const f of ['log.jsonl', 'val.jsonl']) keepLinesUpTo(path.join(o.out, f), state.step);
  const resumed = resumeFrom ? `, resumed from ${resumeFrom} at step ${state.step}` : o.resume ? ', resumed at step 0 (the run had no checkpoint yet)' : '';
  log(`coca train: --arch ${config.arch} ${o.configName} (${params.toLocaleString('en')} parameters) on ${o.data}: ${trainSet.length} training pairs, batch ${o.batch}, ${o.steps} steps, lr ${o.lr} (warm-up ${o.warmup}, cosine), clip ${o.clip}, dropout ${config.decoder_cfg.dropout}${config.arch === 'sat' ? `, λ (doubly stochastic) ${config.decoder_cfg.alpha_c}` : ''}, seed ${o.seed}${resumed}`);
  log(`  adapter: ${gpu.adapter.backend} · ${gpu.adapter.description || gpu.adapter.device}; output: ${o.out}`);
  log(`  preprocessing (recorded in the model's config.json): ${describePreprocess(pre)}`);

  const tokJson = JSON.stringify(tokenizer.json);
  const save = (name: string, step: number) => saveCheckpoint(path.join(o.out, 'checkpoints', name), model, { tokenizerJson: tokJson, optimizer: opt, state: { step, loader: loader.state(), rng: rng.state(), best, bestStep } satisfies CaptionerRunState });
  const bar = o.progress ? createProgress({ label: 'train', total: o.steps, start: state.step, fields: [{ name: 'loss' }, { name: 'cap' }, { name: 'ips', unit: 'img/s' }] }) : null;
  let first: CaptionerStepLog | null = null;
  let last: CaptionerStepLog | null = null;
  let validation: CaptionerTrainResult['validation'] = null;
  let best = state.best;
  let bestStep = state.bestStep;
  let step = state.step;
  const t0 = performance.now();
  try {
    // Killed between writing step-N and best, a run resumes at the step of its new best with best still older: write it now.
    const bestDir = path.join(o.out, 'checkpoints', 'best');
    if (resumeFrom && bestStep === step && checkpointStep(bestDir) !== step) await save('best', step);
    for (let ran = 0; step < o.steps && (o.stopAfter === undefined || ran < o.stopAfter); ran++) {
      const ts = performance.now();
      const b = await loader.next();
      const lr = learningRate(step, o.lr, o.warmup, o.steps);
      const r = await captionerTrainStep(model, opt, { images: b.images, text: b.tokens, batch: b.rows }, { clip: o.clip, lr, rng });
      if (r.nonFinite) throw new TrainError(`step ${step + 1}: ${r.nonFinite}; training stopped, the last good checkpoint is in ${path.join(o.out, 'checkpoints')}`);
      step++;
      const ms = performance.now() - ts;
      last = { step, caption: r.caption, regulariser: r.regulariser, total: r.total, lr, gradNorm: r.gradNorm, ms, imagesPerSec: (b.rows * 1000) / ms };
      first ??= last;
      fs.appendFileSync(path.join(o.out, 'log.jsonl'), JSON.stringify(last) + '\n');
      bar?.update(step, { loss: r.total.toFixed(3), cap: r.caption.toFixed(3), ips: last.imagesPerSec.toFixed(1) });
      if (valLoader && (step % o.valEvery === 0 || step === o.steps)) {
        validation = await validateCaptioner(model, valLoader(), o.valBatches);
        fs.appendFileSync(path.join(o.out, 'val.jsonl'), JSON.stringify({ step, ...validation }) + '\n');
        // The step's checkpoint records the best including this validation, so a resume from it compares as the run would.
        const total = validation.caption + validation.regulariser;
        const improved = best === null || total < best;
        if (improved) [best, bestStep] = [total, step];
        await save(`step-${String(step).padStart(6, '0')}`, step);
        if (improved) await save('best', step);
        pruneCheckpoints(path.join(o.out, 'checkpoints'), o.keep);
      }
    }
    await save('last', step);
    const note = loader.decodeSummary();
    if (note) log(note);
  } finally {
    bar?.stop();
    await loader.close();
    opt.release();
    model.params.release();
  }
  return { out: o.out, steps: step, first, last, validation, seconds: (performance.now() - t0) / 1000 };
}

/** Keeps the JSON lines of `file` whose step is at most `step` (a missing file stays missing). */
/**
 * A captioner run's data: the train split in a shuffling loader (at least one batch of it), and the
 * val split's loader, made afresh for each validation (null when the set has none).
 */
export async function openCaptionerData(
  o: Pick<RunOptions, 'data' | 'batch' | 'seed' | 'strict'>, S: number, L: number, tokenizer: Tokenizer, pre: ImagePreprocess, log: (line: string) => void,
): Promise<{ trainSet: Dataset; loader: BatchLoader; valLoader: (() => BatchLoader) | null }> {
  const strict = o.strict ?? false;
  const trainSet = await loadDataset(o.data, { split: 'train', imageSize: S, strict });
  const valSet = await loadDataset(o.data, { split: 'val', imageSize: S, strict }).catch(() => null);
  if (trainSet.length < o.batch) throw new TrainError(`the train split of ${o.data} has ${trainSet.length} items, fewer than one batch of ${o.batch}; use --batch ${Math.max(1, trainSet.length)} or more data`);
  const base = { batchSize: o.batch, contextLength: L, tokenizer, preprocess: pre, strict, seed: o.seed };
  const loader = new BatchLoader(trainSet, { ...base, train: true, warn: (l: string) => log(`warning: ${l}`) });
  const valLoader = valSet && valSet.length > 0 ? () => new BatchLoader(valSet, { ...base, train: false }) : null;
  return { trainSet, loader, valLoader };
}

function keepLinesUpTo(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as { step: number }).step <= step);
  writeFileAtomic(file, lines.map((l) => l + '\n').join(''));
}

/** The mean caption loss (and regulariser) over the val split, in inference mode, weighted by rows. */
export async function validateCaptioner(model: Captioner, loader: BatchLoader, maxBatches = Infinity): Promise<{ caption: number; regulariser: number; items: number }> {
  let caption = 0;
  let regulariser = 0;
  let items = 0;
  try {
    for (let n = 0; n < maxBatches; n++) {
      const b = await loader.next();
      const l = await captionerLoss(model, { images: b.images, text: b.tokens, batch: b.rows });
      caption += l.caption * b.rows;
      regulariser += l.regulariser * b.rows;
      items += b.rows;
      if (b.last) break;
    }
  } finally {
    await loader.close();
  }
  return { caption: caption / Math.max(1, items), regulariser: regulariser / Math.max(1, items), items };
}
