// `coca train --arch devise`: seed 002's DeViSE on the same data, batches, preprocessing, AdamW,
// warm-up + cosine schedule and clip as the other architectures. First the text model, a skip-gram
// on the train split's captions without their pictures (skipgram.ts; skipped for the random
// control), then the CNN tower regressed into its space with the hinge rank loss over the train
// split's distinct captions as labels, a picture's label the caption the loader drew for it. A
// run folder like the others': run.json (arch recorded), log.jsonl per step, val.jsonl (the val
// split's hinge loss and flat hit@k over its own captions every --val-every steps),
// checkpoints/step-N, best (lowest validation hinge) and last, each self-contained (devise-config.ts).
import fs from 'node:fs';
import path from 'node:path';
import { BatchLoader, defaultPreprocess, describePreprocess, isShardData, loadDataset, loadTokenizer, measuredStats, type Dataset, type ImagePreprocess, type ResizeMode, type Triple } from '../data/index.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { withDevisePreprocess, type DeviseFullConfig } from '../model/devise-config.ts';
import { LABEL_VECTORS_ABOUT, randomSpace, textSpace, wordVectorsFile, type LabelSpace, type LabelVectors } from '../model/devise-space.ts';
import { DeviseModel } from '../model/devise.ts';
import { trainSkipGram, type WordVectors } from '../model/skipgram.ts';
import { claimOutputFolder } from '../util/outdir.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { createProgress } from '../util/progress.ts';
import { deviseZeroShot, labelMatrix, type DeviseZeroShot } from '../eval/devise.ts';
import { AdamW, STEP_NONFINITE, STEP_STATS_FLOATS } from './adamw.ts';
import { pruneCheckpoints, saveCheckpoint } from './checkpoint.ts';
import type { RunOptions } from './run-options.ts';
import { learningRate } from './schedule.ts';
import { TrainError } from './trainer.ts';

export interface DeviseTrainOptions extends RunOptions {
  config: DeviseFullConfig;
  configName: string;
  labelVectors: LabelVectors;
  preprocess?: { mean?: Triple; std?: Triple; resizeMode?: ResizeMode };
  /** Validation pictures at most (tests); default all of the val split. */
  valItems?: number;
}

export interface DeviseStepLog {
  step: number;
  hinge: number;
  /** Active hinge terms of the step (0: every label already ranked below the true one by the margin). */
  active: number;
  /** Pictures of the batch whose label has a vector (all of them with the text model's own captions). */
  rows: number;
  lr: number;
  gradNorm: number;
  ms: number;
  imagesPerSec: number;
}

export interface DeviseValidation {
  hinge: number;
  hit1: number;
  hit5: number;
  items: number;
}

export interface DeviseTrainResult {
  out: string;
  steps: number;
  labels: number;
  words: number | null;
  skipgramSeconds: number;
  first: DeviseStepLog | null;
  last: DeviseStepLog | null;
  validation: DeviseValidation | null;
  /** Wall time of the training loop (steps, validation and checkpoints), seconds. */
  seconds: number;
}

/** The train split's distinct captions (in item order): the labels the tower is trained on. */
export function trainLabels(ds: Dataset): string[] {
  return [...new Set(Array.from({ length: ds.length }, (_, i) => ds.captions(i)).flat())];
}

/** The text model of a run: skip-gram on every caption of the train split, text alone. */
export function trainTextModel(ds: Dataset, c: DeviseFullConfig): WordVectors {
  const corpus: string[] = [];
  for (let i = 0; i < ds.length; i++) corpus.push(...ds.captions(i));
  return trainSkipGram(corpus, { ...c.skipgram, dim: c.embed_dim, seed: c.label_seed });
}

const TRAIN = 'coca train';

export async function trainDevise(gpu: Gpu, o: DeviseTrainOptions, log: (line: string) => void = console.log): Promise<DeviseTrainResult> {
  if (isShardData(o.data)) throw new TrainError('--arch devise trains on a built or folder dataset; WebDataset shards stream only into coca\'s own model for now: give --data builtin-small, builtin or a folder');
  const tokenizer = loadTokenizer(o.data);
  const S = o.config.vision_cfg.image_size;
  const chosen = Object.fromEntries(Object.entries(o.preprocess ?? {}).filter(([, v]) => v !== undefined)) as Partial<ImagePreprocess>;
  const pre: ImagePreprocess = { ...defaultPreprocess(S, measuredStats(o.data)), ...chosen };
  const config = withDevisePreprocess({ ...o.config, label_vectors: o.labelVectors, label_seed: o.seed }, pre);
  const strict = o.strict ?? false;
  const trainSet = await loadDataset(o.data, { split: 'train', imageSize: S, strict });
  if (trainSet.length < o.batch) throw new TrainError(`the train split of ${o.data} has ${trainSet.length} items, fewer than one batch of ${o.batch}; use --batch ${Math.max(1, trainSet.length)} or more data`);
  const hasVal = await loadDataset(o.data, { split: 'val', imageSize: S, strict }).then((d) => (d.close(), d.length > 0), () => false);

  const t0 = performance.now();
  const words = config.label_vectors === 'text' ? trainTextModel(trainSet, config) : null;
  const skipgramSeconds = (performance.now() - t0) / 1000;
  const space: LabelSpace = words ? textSpace(words) : randomSpace(config.embed_dim, config.label_seed);
  const names = trainLabels(trainSet);
  const col = new Map<string, number>();
  const rows: Float32Array[] = [];
  for (const n of names) {
    const v = space.vector(n);
    if (v) {
      col.set(n, rows.length);
      rows.push(v);
    }
  }
  if (rows.length < 2) throw new TrainError(`only ${rows.length} of the ${names.length} train captions of ${o.data} have a vector; the hinge rank loss needs two labels at least: give a dataset with captions in words`);

  const model = DeviseModel.init(gpu, config, o.seed);
  const opt = new AdamW(gpu, model.params, { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  const T = labelMatrix(gpu, rows, config.embed_dim);
  const loader = new BatchLoader(trainSet, { batchSize: o.batch, contextLength: 8, tokenizer, preprocess: pre, strict, seed: o.seed, train: true, warn: (l: string) => log(`warning: ${l}`) });
  claimOutputFolder(o.out, TRAIN, { inputs: [o.data === 'builtin' || o.data === 'builtin-small' ? undefined : o.data] });
  fs.mkdirSync(path.join(o.out, 'checkpoints'), { recursive: true });
  const params = model.params.count();
  writeFileAtomic(path.join(o.out, 'run.json'), JSON.stringify({ arch: 'devise', ...o, config, progress: undefined, params, labels: rows.length, words: words?.vectors.size ?? null }, null, 2) + '\n');
  log(`coca train: --arch devise ${o.configName} (${params.toLocaleString('en')} parameters) on ${o.data}: ${trainSet.length} training pairs, batch ${o.batch}, ${o.steps} steps, lr ${o.lr} (warm-up ${o.warmup}, cosine), clip ${o.clip}, margin ${config.margin}, seed ${o.seed}`);
  log(
    `  label vectors: ${config.label_vectors}, ${LABEL_VECTORS_ABOUT[config.label_vectors]}` +
      (words ? ` (${words.vectors.size.toLocaleString('en')} words × ${words.dim}, ${skipgramSeconds.toFixed(1)} s on the CPU)` : ` (${config.embed_dim} wide)`) +
      `; ${rows.length.toLocaleString('en')} of ${names.length.toLocaleString('en')} train captions have one and are the labels`,
  );
  log(`  adapter: ${gpu.adapter.backend} · ${gpu.adapter.description || gpu.adapter.device}; output: ${o.out}`);
  log(`  preprocessing (recorded in the model's config.json): ${describePreprocess(pre)}`);

  const tokJson = JSON.stringify(tokenizer.json);
  const extra = words ? [wordVectorsFile(words)] : [];
  const save = (name: string, step: number) => saveCheckpoint(path.join(o.out, 'checkpoints', name), model, { tokenizerJson: tokJson, optimizer: opt, state: { step }, extraFiles: extra });
  const bar = o.progress ? createProgress({ label: 'train', total: o.steps, start: 0, fields: [{ name: 'hinge' }, { name: 'ips', unit: 'img/s' }] }) : null;
  const plane = 3 * S * S;
  let first: DeviseStepLog | null = null;
  let last: DeviseStepLog | null = null;
  let validation: DeviseValidation | null = null;
  let best: number | null = null;
  const tl = performance.now();
  try {
    for (let step = 0; step < o.steps; ) {
      const ts = performance.now();
      const b = await loader.next();
      const keep = b.captions.flatMap((c, r) => (col.has(c) ? [[r, col.get(c)!] as const] : []));
      if (keep.length < 2) throw new TrainError(`step ${step + 1}: ${keep.length} picture(s) of the batch have a label vector; batch norm needs two: use a larger --batch`);
      const images = new Float32Array(keep.length * plane);
      keep.forEach(([r], k) => images.set(b.images.subarray(r * plane, (r + 1) * plane), k * plane));
      const lr = learningRate(step, o.lr, o.warmup, o.steps);
      model.params.zeroGrad();
      const h = await model.lossAndBackward(images, keep.map(([, c]) => c), T, config.margin);
      if (!Number.isFinite(h.loss)) throw new TrainError(`step ${step + 1}: the loss is ${h.loss}; training stopped, the last good checkpoint is in ${path.join(o.out, 'checkpoints')}`);
      const stats = opt.recordGradNorm(o.clip);
      opt.hyper.lr = lr;
      opt.update(stats, true);
      const st = await gpu.read(stats, STEP_STATS_FLOATS, 0, 'train:step');
      if (st[STEP_NONFINITE] !== 0) throw new TrainError(`step ${step + 1}: a gradient is NaN or Inf; training stopped, the last good checkpoint is in ${path.join(o.out, 'checkpoints')}`);
      step++;
      const ms = performance.now() - ts;
      last = { step, hinge: h.loss, active: h.active, rows: keep.length, lr, gradNorm: st[0]!, ms, imagesPerSec: (keep.length * 1000) / ms };
      first ??= last;
      fs.appendFileSync(path.join(o.out, 'log.jsonl'), JSON.stringify(last) + '\n');
      bar?.update(step, { hinge: h.loss.toFixed(3), ips: last.imagesPerSec.toFixed(1) });
      if (hasVal && (step % o.valEvery === 0 || step === o.steps)) {
        const z = await deviseZeroShot({ model, space, tokenizer, pre, batch: o.batch, maxItems: o.valItems, strict, margin: config.margin }, o.data, 'val');
        validation = validationOf(z);
        fs.appendFileSync(path.join(o.out, 'val.jsonl'), JSON.stringify({ step, ...validation }) + '\n');
        await save(`step-${String(step).padStart(6, '0')}`, step);
        if (best === null || validation.hinge < best) {
          best = validation.hinge;
          await save('best', step);
        }
        pruneCheckpoints(path.join(o.out, 'checkpoints'), o.keep);
      }
    }
    await save('last', o.steps);
    const note = loader.decodeSummary();
    if (note) log(note);
  } finally {
    bar?.stop();
    await loader.close();
    T.release();
    opt.release();
    model.params.release();
    trainSet.close();
  }
  return { out: o.out, steps: o.steps, labels: rows.length, words: words?.vectors.size ?? null, skipgramSeconds, first, last, validation, seconds: (performance.now() - tl) / 1000 };
}

function validationOf(z: DeviseZeroShot): DeviseValidation {
  const at = (k: number) => z.hits[z.ks.indexOf(k)]! / Math.max(1, z.pictures);
  return { hinge: z.hinge, hit1: at(1), hit5: at(5), items: z.pictures };
}
