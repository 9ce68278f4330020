// The validation losses of trained checkpoints on the val split of several datasets, as training
// computes them (src/train/validate.ts, batches of 32 in the split's stored order): tells a
// difference between runs from a difference between their val splits (BENCHMARKS.md, the full
// built-in set from its shards).
//   npx tsx scripts/data/validate-on.ts --data builtin,.cache/shards-full runs/a/checkpoints/last …
import { BatchLoader, loadDataset } from '../../src/data/index.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { loadCheckpoint, readCheckpointConfig, readCheckpointTokenizer } from '../../src/model/checkpoint.ts';
import { checkpointPreprocess } from '../../src/model/preprocess.ts';
import { validate } from '../../src/train/validate.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--data');
if (at < 0 || !args[at + 1] || args.length < 3) {
  console.error('usage: npx tsx scripts/data/validate-on.ts --data DATA[,DATA…] CHECKPOINT…');
  process.exit(1);
}
const datasets = args[at + 1]!.split(',');
const checkpoints = args.filter((_, i) => i !== at && i !== at + 1);
const gpu = await Gpu.open();
try {
  console.log(`| checkpoint | ${datasets.map((d) => `${d}: contrastive | caption | total`).join(' | ')} |`);
  console.log(`|---|${'---:|'.repeat(3 * datasets.length)}`);
  for (const dir of checkpoints) {
    const model = loadCheckpoint(gpu, dir);
    const config = readCheckpointConfig(dir);
    const tokenizer = readCheckpointTokenizer(dir, config);
    if (!tokenizer) throw new Error(`${dir} has no tokenizer.json`);
    const preprocess = checkpointPreprocess(dir, config, () => {});
    const cells: string[] = [];
    for (const data of datasets) {
      const ds = await loadDataset(data, { split: 'val', imageSize: config.vision_cfg.image_size });
      const loader = new BatchLoader(ds, { batchSize: 32, contextLength: config.text_cfg.context_length, tokenizer, preprocess, seed: 1, train: false });
      const v = await validate(model, loader, { contrastive: 1, caption: 2 }).finally(() => loader.close());
      cells.push(`${v.contrastive.toFixed(3)} | ${v.caption.toFixed(3)} | ${v.total.toFixed(3)}`);
    }
    console.log(`| ${dir} | ${cells.join(' | ')} |`);
    model.params.release();
  }
} finally {
  gpu.destroy();
}
