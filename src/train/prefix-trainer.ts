// `coca train --arch prefix`: the prefix captioner trained on the same data, batches, AdamW,
// warm-up + cosine schedule and clip as the other architectures (the step and validation are the
// LSTM captioners', captioner-step.ts and captioner-trainer.ts), with two differences: the image
// tower comes frozen from a coca checkpoint (--encoder), and so does the preprocessing it was
// trained with. run.json and the model's config.json record the encoder's folder and checksum.
import fs from 'node:fs';
import path from 'node:path';
import { describePreprocess, isShardData, loadTokenizer } from '../data/index.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { readFrozenEncoder } from '../model/captioners/prefix-checkpoint.ts';
import { prefixPreprocess, type PrefixConfig } from '../model/captioners/prefix-config.ts';
import { PrefixCaptioner } from '../model/captioners/prefix.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { claimOutputFolder } from '../util/outdir.ts';
import { createProgress } from '../util/progress.ts';
import { Rng } from '../util/prng.ts';
import { AdamW } from './adamw.ts';
import { captionerTrainStep } from './captioner-step.ts';
import { openCaptionerData, validateCaptioner, type CaptionerStepLog, type CaptionerTrainOptions, type CaptionerTrainResult } from './captioner-trainer.ts';
import { pruneCheckpoints, saveCheckpoint } from './checkpoint.ts';
import { learningRate } from './schedule.ts';
import { TrainError } from './trainer.ts';

export interface PrefixTrainOptions extends Omit<CaptionerTrainOptions, 'config' | 'preprocess'> {
  config: PrefixConfig;
  /** The coca checkpoint folder whose image tower is frozen in (already resolved from a run folder). */
  encoder: string;
}

const TRAIN = 'coca train';

export async function trainPrefix(gpu: Gpu, o: PrefixTrainOptions, log: (line: string) => void = console.log): Promise<CaptionerTrainResult> {
  if (isShardData(o.data)) throw new TrainError(`--arch prefix trains on a built or folder dataset; WebDataset shards stream only into coca's own model for now: give --data builtin-small, builtin or a folder`);
  const enc = readFrozenEncoder(o.encoder);
  const tokenizer = loadTokenizer(o.data);
  const config: PrefixConfig = { ...o.config, decoder_cfg: { ...o.config.decoder_cfg, vocab_size: tokenizer.vocabSize }, encoder: enc.record };
  const pre = prefixPreprocess(config)!;
  const S = pre.size;
  const L = config.decoder_cfg.context_length;
  const { trainSet, loader, valLoader } = await openCaptionerData(o, S, L, tokenizer, pre, log);

  const model = PrefixCaptioner.init(gpu, config, o.seed, enc.tower);
  const opt = new AdamW(gpu, model.params, { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  const rng = new Rng(o.seed ^ 0x0d0d0d0d);
  claimOutputFolder(o.out, TRAIN, { inputs: [o.data === 'builtin' || o.data === 'builtin-small' ? undefined : o.data, o.encoder] });
  fs.mkdirSync(path.join(o.out, 'checkpoints'), { recursive: true });
  let trained = 0;
  for (const p of model.params.params.values()) if (!p.buffer) trained += p.tensor.size;
  const frozen = model.params.count() - trained;
  const { config: _encoderConfig, ...encoderSummary } = enc.record;
  writeFileAtomic(path.join(o.out, 'run.json'), JSON.stringify({ arch: 'prefix', ...o, encoder: encoderSummary, config, progress: undefined, tokenizerVocab: tokenizer.vocabSize, params: trained, frozenParams: frozen }, null, 2) + '\n');
  log(`coca train: --arch prefix ${o.configName} (${trained.toLocaleString('en')} trained parameters; ${frozen.toLocaleString('en')} frozen in the image tower of ${enc.record.source}) on ${o.data}: ${trainSet.length} training pairs, batch ${o.batch}, ${o.steps} steps, lr ${o.lr} (warm-up ${o.warmup}, cosine), clip ${o.clip}, prefix of ${config.mapping_cfg.prefix_len} vectors, seed ${o.seed}`);
  log(`  adapter: ${gpu.adapter.backend} · ${gpu.adapter.description || gpu.adapter.device}; output: ${o.out}`);
  log(`  preprocessing (the encoder's, recorded in the model's config.json): ${describePreprocess(pre)}`);

  const tokJson = JSON.stringify(tokenizer.json);
  const save = (name: string, step: number) => saveCheckpoint(path.join(o.out, 'checkpoints', name), model, { tokenizerJson: tokJson, optimizer: opt, state: { step } });
  const bar = o.progress ? createProgress({ label: 'train', total: o.steps, start: 0, fields: [{ name: 'loss' }, { name: 'ips', unit: 'img/s' }] }) : null;
  let first: CaptionerStepLog | null = null;
  let last: CaptionerStepLog | null = null;
  let validation: CaptionerTrainResult['validation'] = null;
  let best: number | null = null;
  const t0 = performance.now();
  try {
    for (let step = 0; step < o.steps; ) {
      const ts = performance.now();
      const b = await loader.next();
      const lr = learningRate(step, o.lr, o.warmup, o.steps);
      const r = await captionerTrainStep(model, opt, { images: b.images, text: b.tokens, batch: b.rows }, { clip: o.clip, lr, rng });
      if (r.nonFinite) throw new TrainError(`step ${step + 1}: ${r.nonFinite}; training stopped, the last good checkpoint is in ${path.join(o.out, 'checkpoints')}`);
      step++;
      const ms = performance.now() - ts;
      last = { step, caption: r.caption, regulariser: 0, total: r.total, lr, gradNorm: r.gradNorm, ms, imagesPerSec: (b.rows * 1000) / ms };
      first ??= last;
      fs.appendFileSync(path.join(o.out, 'log.jsonl'), JSON.stringify(last) + '\n');
      bar?.update(step, { loss: r.total.toFixed(3), ips: last.imagesPerSec.toFixed(1) });
      if (valLoader && (step % o.valEvery === 0 || step === o.steps)) {
        validation = await validateCaptioner(model, valLoader(), o.valBatches);
        fs.appendFileSync(path.join(o.out, 'val.jsonl'), JSON.stringify({ step, ...validation }) + '\n');
        await save(`step-${String(step).padStart(6, '0')}`, step);
        if (best === null || validation.caption < best) {
          best = validation.caption;
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
    opt.release();
    model.params.release();
  }
  return { out: o.out, steps: o.steps, first, last, validation, seconds: (performance.now() - t0) / 1000 };
}
