// DeViSE on the built-in data (seed 002's experiment at this scale), and its "random embeddings"
// control: the same tower, steps and batches regressed onto random unit label vectors instead of
// the text model's. Prints one JSON line per variant: the hinge loss over training, and flat
// hit@1/5 zero-shot on test-concept (held-out concepts: labels no training image had) and on
// Fashion-MNIST, ranking each picture against every label of the split by t_j·v (the classes
// coca eval's flat hit@k uses: the split's distinct captions, Fashion-MNIST's ten names).
//
// The text model: skip-gram (src/model/skipgram.ts) on the train split's English captions alone,
// without their pictures. A label's vector is the mean of its words' vectors, so a held-out label
// is reachable only through words the captions used; labels none of whose words occur in them
// have no vector and count as misses (their share is printed as `coverage`).
//   node --import tsx scripts/experiments/devise.ts --steps 300 --batch 32 --seed 1 [--variant text|random|both]
import { parseArgs } from 'node:util';
import { BatchLoader, defaultPreprocess, loadDataset, loadTokenizer, measuredStats, type Dataset } from '../../src/data/index.ts';
import { topKAccuracy } from '../../src/eval/zeroshot.ts';
import { getGpu, type Gpu } from '../../src/gpu/gpu.ts';
import { loadConfig } from '../../src/model/config.ts';
import { DeviseModel } from '../../src/model/devise.ts';
import { labelVector, trainSkipGram, type WordVectors } from '../../src/model/skipgram.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { Rng } from '../../src/util/prng.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string', default: 'builtin-small' },
    config: { type: 'string', default: 'nano-cnn' },
    steps: { type: 'string', default: '300' },
    batch: { type: 'string', default: '32' },
    seed: { type: 'string', default: '1' },
    lr: { type: 'string', default: '1e-3' },
    dim: { type: 'string', default: '64' },
    variant: { type: 'string', default: 'both' },
  },
});
const [steps, batch, seed, lr, dim] = [a.steps, a.batch, a.seed, a.lr, a.dim].map(Number) as [number, number, number, number, number];
const v = loadConfig(a.config!).vision_cfg;
if (v.tower !== 'cnn') throw new Error(`--config ${a.config}: DeViSE here takes a CNN tower (vision_cfg.tower "cnn")`);
const S = v.image_size;
const data = a.data!;
const tokenizer = loadTokenizer(data);
const pre = defaultPreprocess(S, measuredStats(data));
const train = await loadDataset(data, { split: 'train', imageSize: S });

const t0 = Date.now();
const corpus: string[] = [];
for (let i = 0; i < train.length; i++) corpus.push(...train.captions(i));
const text = trainSkipGram(corpus, { dim, seed });
const skipgramSeconds = (Date.now() - t0) / 1000;

/** Every label of `names` as a row of a [L, D] matrix: the text model's vector, or a random unit one (control); null rows where the text has none. */
function labelMatrix(names: readonly string[], wv: WordVectors | null, rng: Rng): (Float32Array | null)[] {
  return names.map((n) => {
    if (wv) return labelVector(wv, n);
    const r = Float32Array.from({ length: dim }, () => rng.normal());
    const norm = Math.hypot(...r);
    return r.map((x) => x / norm);
  });
}

function upload(gpu: Gpu, rows: (Float32Array | null)[]): Tensor {
  const m = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => r && m.set(r, i * dim));
  return Tensor.fromArray(gpu, m, [rows.length, dim], 'label_vectors');
}

async function zeroShot(gpu: Gpu, model: DeviseModel, split: string, wv: WordVectors | null, rng: Rng) {
  const ds: Dataset = await loadDataset(data, { split, imageSize: S });
  // As coca eval: a classification split's classes, else the split's distinct captions as classes (an image's class its first caption).
  const labelOf = (i: number) => (ds.classes ? ds.classes[ds.meta(i).label!]! : ds.captions(i)[0]!);
  const names = ds.classes ? [...ds.classes] : [...new Set(Array.from({ length: ds.length }, (_, i) => ds.captions(i)).flat())];
  const rows = labelMatrix(names, wv, rng);
  const known = names.map((_, j) => j).filter((j) => rows[j] !== null);
  const T = upload(gpu, known.map((j) => rows[j]!));
  const col = new Map(known.map((j, c) => [names[j]!, c]));
  const loader = new BatchLoader(ds, { batchSize: 64, contextLength: 8, tokenizer, preprocess: pre, train: false });
  const scores: number[] = [];
  const labels: number[] = [];
  let missing = 0;
  for (let seen = 0; seen < ds.length; ) {
    const b = await loader.next();
    const s = await model.scores(b.images, b.rows, T);
    for (let r = 0; r < b.rows && seen < ds.length; r++, seen++) {
      const c = col.get(labelOf(b.indices[r]!));
      if (c === undefined) {
        missing++;
        continue;
      }
      scores.push(...s.subarray(r * known.length, (r + 1) * known.length));
      labels.push(c);
    }
  }
  await loader.close();
  T.release();
  const n = labels.length;
  const acc = topKAccuracy(Float32Array.from(scores), n, known.length, labels, [1, 5]).accuracy;
  // Over every picture: those whose label has no vector are misses.
  const all = acc.map((x) => (x * n) / (n + missing));
  ds.close();
  const coverage = n / (n + missing);
  // Chance: a random ranking of all the split's labels; and of those with a vector, the others' pictures missing.
  const chance = (k: number, among: number) => Math.min(k, among) / among;
  return { split, labels: names.length, withVector: known.length, coverage, hit1: all[0], hit5: all[1], chance1: chance(1, names.length), chance5: chance(5, names.length), chanceCovered1: coverage * chance(1, known.length), chanceCovered5: coverage * chance(5, known.length) };
}

async function run(variant: 'text' | 'random') {
  const gpu = await getGpu();
  const rng = new Rng(seed + 100);
  const wv = variant === 'text' ? text : null;
  // Training labels: the train split's distinct captions; a picture's label is the caption the loader drew for it.
  const groups = [...new Set(Array.from({ length: train.length }, (_, i) => train.captions(i)).flat())];
  const rows = labelMatrix(groups, wv, rng);
  const col = new Map<string, number>();
  const kept: Float32Array[] = [];
  groups.forEach((g, j) => {
    if (rows[j]) {
      col.set(g, kept.length);
      kept.push(rows[j]!);
    }
  });
  const T = upload(gpu, kept);
  const model = DeviseModel.init(gpu, { vision_cfg: v, embed_dim: dim }, seed);
  const opt = new AdamW(gpu, model.params, { lr, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
  const loader = new BatchLoader(train, { batchSize: batch, contextLength: 8, tokenizer, preprocess: pre, seed, train: true });
  const losses: number[] = [];
  const start = Date.now();
  for (let step = 0; step < steps; step++) {
    const b = await loader.next();
    const keep = b.captions.map((c, r) => [r, col.get(c)] as const).filter(([, c]) => c !== undefined);
    const per = 3 * S * S;
    const images = new Float32Array(keep.length * per);
    keep.forEach(([r], k) => images.set(b.images.subarray(r * per, (r + 1) * per), k * per));
    model.params.zeroGrad();
    const h = await model.lossAndBackward(images, keep.map(([, c]) => c!), T);
    opt.update();
    losses.push(h.loss);
    if ((step + 1) % 50 === 0) console.error(`devise ${variant} ${step + 1}/${steps}: hinge ${(losses.slice(-50).reduce((x, y) => x + y, 0) / 50).toFixed(3)}`);
  }
  await loader.close();
  const trainSeconds = (Date.now() - start) / 1000;
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const out = {
    variant, steps, batch, seed, lr, dim, trainLabels: kept.length, skipgramSeconds, trainSeconds,
    hingeFirst50: mean(losses.slice(0, 50)), hingeLast50: mean(losses.slice(-50)),
    zeroShot: [await zeroShot(gpu, model, 'test-concept', wv, rng), await zeroShot(gpu, model, 'test-fmnist', wv, rng)],
  };
  console.log(JSON.stringify(out));
  T.release();
  opt.release();
  model.params.release();
}

for (const variant of a.variant === 'both' ? (['text', 'random'] as const) : [a.variant as 'text' | 'random']) await run(variant);
train.close();
