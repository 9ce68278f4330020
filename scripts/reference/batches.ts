// Streams the exact training batches `coca train` would draw (same loader, seed, crops, flips and
// caption picks) to stdout, so scripts/reference/coca_torch.py --train trains PyTorch on the very
// same inputs. Format: one JSON line (shapes, vocabulary size, normalisation, tokenizer path),
// then per batch the float32 images [B,3,S,S] and the int32 tokens [B,L], little-endian.
//   node --import tsx scripts/reference/batches.ts --data builtin --batch 64 --steps 1000 --seed 1 --image-size 64 --context 32
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BatchLoader, defaultPreprocess, loadDataset, loadTokenizer, measuredStats, resolveDataPath } from '../../src/data/index.ts';

const { values: a } = parseArgs({
  options: {
    data: { type: 'string', default: 'builtin-small' },
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '300' },
    seed: { type: 'string', default: '1' },
    'image-size': { type: 'string', default: '64' },
    context: { type: 'string', default: '32' },
  },
});
const [batch, steps, seed, S, L] = [a.batch, a.steps, a.seed, a['image-size'], a.context].map(Number) as [number, number, number, number, number];
const tokenizer = loadTokenizer(a.data!);
const train = await loadDataset(a.data!, { split: 'train', imageSize: S });
// The same loader options and default preprocessing as src/train/trainer.ts.
const pre = defaultPreprocess(S, measuredStats(a.data!));
const loader = new BatchLoader(train, { batchSize: batch, contextLength: L, tokenizer, preprocess: pre, seed, train: true });
const write = (buf: Uint8Array) => new Promise<void>((res, rej) => process.stdout.write(buf, (e) => (e ? rej(e) : res())));
const header = {
  format: 'coca-batches-1', data: a.data, batch, steps, seed, imageSize: S, contextLength: L, vocabSize: tokenizer.vocabSize,
  trainPairs: train.length, mean: pre.mean, std: pre.std, tokenizer: path.join(resolveDataPath(a.data!), 'tokenizer.json'),
};
await write(Buffer.from(JSON.stringify(header) + '\n'));
for (let i = 0; i < steps; i++) {
  const b = await loader.next();
  if (b.rows !== batch) throw new Error(`batch ${i} has ${b.rows} rows, expected ${batch}`);
  await write(new Uint8Array(b.images.buffer, b.images.byteOffset, b.images.byteLength));
  await write(new Uint8Array(b.tokens.buffer, b.tokens.byteOffset, b.tokens.byteLength));
}
await loader.close();
