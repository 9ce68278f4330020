// Images per second that the BatchLoader delivers (read or decode, crop, flip, normalise,
// tokenise), for comparing with what a training step consumes.
// Usage: npx tsx scripts/data/loader-throughput.ts [dataset] [imageSize] [batchSize] [batches] [train|eval]
import { BatchLoader, defaultPreprocess, loadDataset, loadTokenizer, measuredStats, trainTokenizer } from '../../src/data/index.ts';

const [where = 'builtin-small', size = '32', batch = '64', count = '40', mode = 'train'] = process.argv.slice(2);
const train = mode === 'train';
const ds = await loadDataset(where, { split: where.startsWith('builtin') ? 'train' : 'all', imageSize: Number(size) });
let tokenizer;
try {
  tokenizer = loadTokenizer(where);
} catch {
  const caps: string[] = [];
  for (let i = 0; i < ds.length; i++) caps.push(...ds.captions(i));
  tokenizer = trainTokenizer(caps, 1024);
}
const loader = new BatchLoader(ds, { batchSize: Number(batch), contextLength: 32, tokenizer, preprocess: defaultPreprocess(Number(size), measuredStats(where)), seed: 0, train });
await loader.next(); // warm-up: first reads, JIT
const t0 = performance.now();
let n = 0;
for (let i = 0; i < Number(count); i++) n += (await loader.next()).rows;
const s = (performance.now() - t0) / 1000;
console.log(`${where} ${mode} ${size}px batch ${batch}: ${n} images in ${s.toFixed(2)} s = ${(n / s).toFixed(0)} images/s`);
