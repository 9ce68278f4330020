// ShardLoader's worker branch (src/data/shard-loader.ts, `prepare` with a pool) in process: the
// pool of worker threads is replaced by a stand-in that records the tasks it is sent and answers
// each with a tensor of its own making (every value the sample's number plus a half) or, for the
// sample keyed "bad", the failure a worker reports. Code run on a real worker thread never sees
// Stryker's active mutant and takes seconds to start; this one sees the loader's side of it: which
// tasks go to the pool, where each answer lands in the batch, what a failed answer becomes, and
// that closing the loader closes the pool. And on the loader's own thread, a picture whose reading
// fails with something other than a decoding problem (prep.ts's readSource made to throw a
// TypeError for the sample keyed "boom") is not taken for a bad picture.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_AUGMENT } from '../../../src/data/augment.ts';
import type { PrepTask } from '../../../src/data/prep.ts';
import { mixSeed } from '../../../src/data/rng.ts';
import { ShardLoader, type ShardLoaderOptions } from '../../../src/data/shard-loader.ts';
import { tempDir, testPreprocess } from '../data/fixtures.ts';

const pools = vi.hoisted(() => [] as { size: number; runs: PrepTask[][]; closed: number }[]);

vi.mock('../../../src/data/workers.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../src/data/workers.ts')>();
  class StandInPool {
    runs: PrepTask[][] = [];
    closed = 0;
    constructor(readonly size: number) {
      pools.push(this);
    }
    async run(tasks: PrepTask[]) {
      // Fail fast rather than hang where a broken loader would retry its rows for ever.
      if (this.runs.length >= 20) throw new Error('the stand-in pool was asked 20 times: the batch never fills');
      this.runs.push(tasks);
      return tasks.map((t) => {
        const name = t.source.kind === 'bytes' ? t.source.name : '';
        if (name.includes(':bad.')) return { ok: false as const, message: `worker: cannot decode ${name}` };
        const n = Number(/:k(\d+)\./.exec(name)![1]);
        return { ok: true as const, data: new Float32Array(3 * t.pre.size * t.pre.size).fill(n + 0.5) };
      });
    }
    async close() {
      this.closed++;
    }
  }
  return { ...original, PrepPool: StandInPool };
});

vi.mock('../../../src/data/prep.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../src/data/prep.ts')>();
  return {
    ...original,
    readSource: (src: Parameters<typeof original.readSource>[0], ...rest: [boolean, never]) => {
      if (src.kind === 'bytes' && src.name.includes(':boom.')) throw new TypeError('not a data problem');
      return original.readSource(src, ...rest);
    },
  };
});

const PLANE = 3 * 2 * 2;

async function tarFile(file: string, keys: string[], png = (key: string) => Buffer.from(`png ${key}`)): Promise<string> {
  const pack = tar.pack();
  for (const key of keys) {
    pack.entry({ name: `${key}.png`, size: png(key).length }, png(key));
    pack.entry({ name: `${key}.txt`, size: Buffer.byteLength(`caption ${key}`) }, `caption ${key}`);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat(chunks));
  return file;
}

const tokenizer = { languages: ['en'], encodeBatch: (captions: readonly string[]) => Int32Array.from(captions.map((c) => c.length)) };
const opts = (o: Partial<ShardLoaderOptions> = {}): ShardLoaderOptions => ({ batchSize: 2, contextLength: 9, tokenizer, preprocess: testPreprocess(2), warn: () => {}, ...o });

let root: string;
let shard: string;
beforeAll(async () => {
  root = tempDir('coca-shard-pool-');
  // Shard order k0, bad, k2, k3: evaluation reads it in order.
  shard = await tarFile(path.join(root, 'pool/0.tar'), ['k0', 'bad', 'k2', 'k3']);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  pools.length = 0;
});

describe('ShardLoader on worker threads (a stand-in pool)', () => {
  it('opens a pool of the workers asked for, and none for workers: 0', async () => {
    const l = new ShardLoader([shard], 'pool', opts({ workers: 3 }));
    expect(pools.map((p) => p.size)).toEqual([3]);
    await l.close();
    const none = new ShardLoader([shard], 'pool', opts({ workers: 0 }));
    expect(pools).toHaveLength(1);
    await none.close();
  });

  it('sends each row’s task to the pool and places each answer at its row; a failed answer skips the sample', async () => {
    const warned: string[] = [];
    const pre = testPreprocess(2);
    const l = new ShardLoader([shard], 'pool', opts({ workers: 2, train: false, prefetch: 0, seed: 6, preprocess: pre, warn: (w) => warned.push(w) }));
    const [a, b] = [await l.next(), await l.next()];
    // Evaluation: k0 and bad first; bad fails, so the second row is read again from k2.
    expect(a.captions).toEqual(['caption k0', 'caption k2']);
    expect(Array.from(a.indices)).toEqual([0, 2]);
    expect(b.captions).toEqual(['caption k3', 'caption k0']);
    for (const [batch, want] of [
      [a, [0, 2]],
      [b, [3, 0]],
    ] as const) {
      expect(batch.images).toHaveLength(2 * PLANE);
      for (let r = 0; r < 2; r++) for (let j = 0; j < PLANE; j++) expect(batch.images[r * PLANE + j], `row ${r}`).toBe(want[r]! + 0.5);
    }
    const pool = pools[0]!;
    // Three calls: both rows of the first batch, its retried row, both rows of the second.
    expect(pool.runs.map((ts) => ts.map((t) => (t.source as { name: string }).name))).toEqual([
      [`${shard}:k0.png`, `${shard}:bad.png`],
      [`${shard}:k2.png`],
      [`${shard}:k3.png`, `${shard}:k0.png`],
    ]);
    const [k0, bad] = pool.runs[0]!;
    expect(k0).toEqual({ train: false, seed: mixSeed(6, 0, 0, 0, 0xc40), noFlip: false, augment: DEFAULT_AUGMENT, pre, source: { kind: 'bytes', bytes: Buffer.from('png k0'), name: `${shard}:k0.png` } });
    expect(bad!.seed).toBe(mixSeed(6, 0, 0, 1, 0xc40));
    expect(l.skipped).toBe(1);
    expect(warned).toEqual([`worker: cannot decode ${shard}:bad.png; skipping it (pass --strict to stop instead)`]);
    expect(l.decodeSummary()).toBe(`warning: skipped 1 picture that could not be decoded (${shard}:bad) in pool; pass --strict to stop at the first`);
    await l.close();
    expect(pool.closed).toBe(1);
  });

  it('stops at a failed answer with --strict', async () => {
    const l = new ShardLoader([shard], 'pool', opts({ workers: 1, train: false, prefetch: 0, strict: true }));
    await expect(l.next()).rejects.toThrow(`worker: cannot decode ${shard}:bad.png (--strict stops at the first picture that cannot be decoded)`);
    await l.close();
  });
});

describe('ShardLoader on its own thread', () => {
  it('does not take an error other than a decoding failure for a bad picture', async () => {
    const flat = await sharp(Buffer.alloc(12, 9), { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer();
    const f = await tarFile(path.join(root, 'boom/0.tar'), ['boom', 'k1'], (key) => (key === 'boom' ? Buffer.from('png') : flat));
    const l = new ShardLoader([f], 'boom', opts({ workers: 0, train: false, prefetch: 0, batchSize: 1 }));
    await expect(l.next()).rejects.toThrow(new TypeError('not a data problem'));
    expect(l.skipped).toBe(0);
    await l.close();
  });
});
