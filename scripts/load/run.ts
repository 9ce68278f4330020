// `npm run load`: coca serve under load on loopback. 50 clients each send caption requests back to
// back for 60 s, once with micro-batching (--max-batch 16) and once with batch 1, in the same run,
// on the same device and checkpoint; prints p50/p99 latency, requests/s, failures and the gain.
// Bounded: loopback only, a fixed number of clients, a fixed duration per phase.
//
//   npm run load -- [--seconds 60] [--clients 50] [--max-batch 16] [--checkpoint DIR] [--json FILE]
//
// Without --checkpoint, a `nano` model at its seeded initialisation is saved to a temp folder (the
// throughput of a decode does not depend on what the weights learned; an untrained model never
// says [EOT], so every caption runs to maxLen: the worst case for latency).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parseArgs } from 'node:util';
import { builtinDir, loadTokenizer, trainTokenizer, type Tokenizer } from '../../src/data/index.ts';
import { getGpu, type Gpu } from '../../src/gpu/gpu.ts';
import { openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { loadConfig } from '../../src/model/config.ts';
import { buildServer, DEFAULTS } from '../../src/serve/server.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';

const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '50' },
    'max-batch': { type: 'string', default: '16' },
    'max-len': { type: 'string', default: '16' },
    checkpoint: { type: 'string' },
    json: { type: 'string' },
  },
});
const seconds = Number(a.seconds);
const clients = Number(a.clients);
const maxBatch = Number(a['max-batch']);
const maxLen = Number(a['max-len']);
if (!(seconds > 0 && seconds <= 600 && clients >= 1 && clients <= 200 && maxBatch >= 1)) throw new Error('load: --seconds 1..600, --clients 1..200, --max-batch ≥ 1');

async function nanoCheckpoint(gpu: Gpu, dir: string): Promise<void> {
  let tok: Tokenizer;
  try {
    tok = loadTokenizer(builtinDir(true));
  } catch {
    tok = trainTokenizer(['a red square', 'a blue circle', 'a dog on a surfboard', 'a person surfing a wave', 'two birds in the sky'], 400);
  }
  const cfg = loadConfig('nano');
  const config = { ...cfg, text_cfg: { ...cfg.text_cfg, vocab_size: tok.vocabSize }, multimodal_cfg: { ...cfg.multimodal_cfg, vocab_size: tok.vocabSize } };
  const model = CocaModel.init(gpu, config, 1);
  await saveCheckpoint(dir, model, { tokenizerJson: JSON.stringify(tok.json) });
  model.params.release();
}

interface Phase {
  name: string;
  maxBatch: number;
  requests: number;
  failed: number;
  failures: Record<string, number>;
  rps: number;
  p50: number;
  p99: number;
  meanBatch: number;
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

async function phase(gpu: Gpu, ck: OpenCheckpoint, pictures: Buffer[], batch: number): Promise<Phase> {
  // A request may wait as long as the phase lasts: under batch 1 the queue is 50 deep, and the
  // comparison is of throughput, not of the 503 policy (which the API tests cover).
  const served = await buildServer(gpu, ck, null, { ...DEFAULTS, maxBatch: batch, maxWaitMs: (seconds + 30) * 1000, maxQueue: clients * 2 });
  const url = await served.app.listen({ port: 0, host: '127.0.0.1' });
  const bodies = await Promise.all(
    pictures.map(async (p) => {
      const fd = new FormData();
      fd.append('beams', '1');
      fd.append('maxLen', String(maxLen));
      fd.append('image', new Blob([new Uint8Array(p)], { type: 'image/png' }), 'p.png');
      const r = new Response(fd);
      return { body: new Uint8Array(await r.arrayBuffer()), type: r.headers.get('content-type')! };
    }),
  );
  // One warm-up request per phase: pipeline compiles are not what is measured.
  await fetch(`${url}/api/caption`, { method: 'POST', body: bodies[0]!.body, headers: { 'content-type': bodies[0]!.type } });
  const q0 = served.queue.stats();
  const lat: number[] = [];
  const failures: Record<string, number> = {};
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < end; i++) {
        const b = bodies[(c + i) % bodies.length]!;
        const s = performance.now();
        try {
          const r = await fetch(`${url}/api/caption`, { method: 'POST', body: b.body, headers: { 'content-type': b.type } });
          const j = (await r.json()) as { captions?: unknown[]; error?: string };
          if (r.status !== 200 || j.captions?.length !== 1) failures[`${r.status} ${j.error ?? ''}`] = (failures[`${r.status} ${j.error ?? ''}`] ?? 0) + 1;
          else lat.push(performance.now() - s);
        } catch (e) {
          failures[(e as Error).message] = (failures[(e as Error).message] ?? 0) + 1;
        }
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const q1 = served.queue.stats();
  await served.close();
  const failed = Object.values(failures).reduce((x, y) => x + y, 0);
  return {
    name: batch > 1 ? `micro-batched (≤ ${batch})` : 'batch 1',
    maxBatch: batch,
    requests: lat.length,
    failed,
    failures,
    rps: lat.length / wall,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    meanBatch: (q1.jobs - q0.jobs) / Math.max(1, q1.batches - q0.batches),
  };
}

const gpu = await getGpu();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-load-'));
try {
  let ckDir = a.checkpoint;
  if (!ckDir) {
    ckDir = path.join(tmp, 'nano');
    await nanoCheckpoint(gpu, ckDir);
  }
  const ck = openCheckpoint(gpu, ckDir);
  const colours = ['#e02020', '#2040e0', '#20a040', '#f0c020', '#8040c0', '#202020', '#40c0c0', '#c06020'];
  const pictures = await Promise.all(colours.map((c, i) => sharp({ create: { width: 48 + 8 * i, height: 64, channels: 3, background: c } }).png().toBuffer()));
  console.log(`load: ${clients} clients × ${seconds} s per phase, caption requests (greedy, maxLen ${maxLen}, attention maps on), checkpoint ${ck.dir}, ${gpu.adapter.device || gpu.adapter.description}`);
  const phases: Phase[] = [];
  for (const b of [maxBatch, 1]) {
    phases.push(await phase(gpu, ck, pictures, b));
    const p = phases[phases.length - 1]!;
    console.log(`  ${p.name}: ${p.requests} ok, ${p.failed} failed`);
  }
  const row = (c: (string | number)[]) => `| ${c.map(String).join(' | ')} |`;
  console.log();
  console.log(row(['mode', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'failed', 'mean batch']));
  console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const p of phases) console.log(row([p.name, p.requests, p.rps.toFixed(2), p.p50.toFixed(0), p.p99.toFixed(0), p.failed, p.meanBatch.toFixed(1)]));
  const gain = phases[0]!.rps / phases[1]!.rps;
  console.log(`\nthroughput gain of micro-batching over batch 1: ${gain.toFixed(2)}×`);
  for (const p of phases) for (const [k, n] of Object.entries(p.failures)) console.log(`  ${p.name} failure ×${n}: ${k}`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify({ clients, seconds, maxLen, device: gpu.adapter.device, phases, gain }, null, 2) + '\n');
  ck.release();
  const failed = phases.reduce((n, p) => n + p.failed, 0);
  process.exitCode = failed > 0 ? 1 : 0;
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
  gpu.destroy();
}
