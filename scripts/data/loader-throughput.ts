// Images per second that the loaders deliver (read or decode, crop, flip, normalise, tokenise),
// for comparing with what a training step consumes.
// Usage: npx tsx scripts/data/loader-throughput.ts [dataset] [imageSize] [batchSize] [batches] [train|eval] [workers]
//   dataset may be WebDataset shards (a folder, pattern, list or URL): they are streamed (training).
// Shards against their source, side by side in one run (disk, loopback HTTP, the source dataset):
//   npx tsx scripts/data/loader-throughput.ts --shards DIR [--source builtin-small] [--size 32]
//     [--batch 32] [--batches 40] [--workers 2] [--rounds 3]
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BatchLoader, defaultPreprocess, isShardData, loadDataset, loadTokenizer, measuredStats, openShardTrainLoader, trainTokenizer, type Batch, type Tokenizer } from '../../src/data/index.ts';

interface Loader {
  next(): Promise<Batch>;
  close(): Promise<void>;
}

async function open(where: string, size: number, batch: number, train: boolean, workers: number | undefined, tokenizer?: Tokenizer): Promise<Loader> {
  const pre = defaultPreprocess(size, measuredStats(where));
  const common = { batchSize: batch, contextLength: 32, preprocess: pre, seed: 0, train, ...(workers !== undefined ? { workers } : {}) };
  if (isShardData(where)) return openShardTrainLoader(where, { ...common, tokenizer: tokenizer ?? loadTokenizer(where) });
  const ds = await loadDataset(where, { split: where.startsWith('builtin') || fs.existsSync(path.join(where, 'manifest.json')) ? 'train' : 'all', imageSize: size });
  if (!tokenizer) {
    try {
      tokenizer = loadTokenizer(where);
    } catch {
      const caps: string[] = [];
      for (let i = 0; i < ds.length; i++) caps.push(...ds.captions(i));
      tokenizer = trainTokenizer(caps, 1024);
    }
  }
  return new BatchLoader(ds, { ...common, tokenizer });
}

/** Images/s over `count` batches after one warm-up batch (first reads, JIT, a first shuffle buffer). */
async function measure(loader: Loader, count: number): Promise<{ images: number; seconds: number }> {
  await loader.next();
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < count; i++) n += (await loader.next()).rows;
  const seconds = (performance.now() - t0) / 1000;
  await loader.close();
  return { images: n, seconds };
}

/** Serves a folder's files on 127.0.0.1 (a loopback stand-in for a shard server); returns its base URL. */
async function serve(dir: string): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (process.argv.includes('--shards')) {
  const { values: v } = parseArgs({ options: { shards: { type: 'string' }, source: { type: 'string', default: 'builtin-small' }, size: { type: 'string', default: '32' }, batch: { type: 'string', default: '32' }, batches: { type: 'string', default: '40' }, workers: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' } } });
  const dir = path.resolve(v.shards!);
  const [size, batch, batches, workers, rounds] = [v.size, v.batch, v.batches, v.workers, v.rounds].map(Number) as [number, number, number, number, number];
  const train = fs.existsSync(path.join(dir, 'train')) ? 'train' : '.';
  const tars = fs.readdirSync(path.join(dir, train)).filter((n) => n.endsWith('.tar')).sort();
  const range = `{${tars[0]!.replace('.tar', '')}..${tars.at(-1)!.replace('.tar', '')}}.tar`;
  const server = await serve(dir);
  const tokenizer = loadTokenizer(dir);
  const sources: [string, string][] = [
    [`${v.source} (its own reader)`, v.source!],
    ['shards from disk', path.join(dir, train, range)],
    ['shards over loopback HTTP', `${server.base}/${train === '.' ? '' : 'train/'}${range}`],
  ];
  console.log(`loader throughput, ${size} px, batch ${batch}, ${batches} batches after one warm-up, ${workers} worker threads, ${rounds} rounds (median); ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const rates = new Map<string, number[]>(sources.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, where] of sources) {
      const m = await measure(await open(where, size, batch, true, workers, tokenizer), batches);
      rates.get(name)!.push(m.images / m.seconds);
    }
  }
  const ref = median(rates.get(sources[0]![0])!);
  for (const [name] of sources) {
    const rs = rates.get(name)!;
    console.log(`  ${name.padEnd(34)} ${median(rs).toFixed(0).padStart(6)} images/s  (${rs.map((x) => x.toFixed(0)).join(', ')})  ${(median(rs) / ref).toFixed(2)}× ${v.source}`);
  }
  await server.close();
} else {
  const [where = 'builtin-small', size = '32', batch = '64', count = '40', mode = 'train', workers] = process.argv.slice(2);
  const loader = await open(where, Number(size), Number(batch), mode === 'train', workers === undefined ? undefined : Number(workers));
  const { images, seconds } = await measure(loader, Number(count));
  console.log(`${where} ${mode} ${size}px batch ${batch}: ${images} images in ${seconds.toFixed(2)} s = ${(images / seconds).toFixed(0)} images/s`);
}
