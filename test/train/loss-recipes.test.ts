// `coca train --contrastive-positives concept` and `--label-smoothing ε` through the trainer: the
// batch's concept groups (src/train/positives.ts), each option reaching its own half of the loss
// and only that half, validation keeping the plain losses, run.json recording the options and a
// resume taking them back (a contradiction refused unless overridden); and at the command line,
// --help and the one-line refusals.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchLoader } from '../../src/data/loader.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { loadConfig } from '../../src/model/config.ts';
import { LOSS_STATS_FLOATS, lossParts, recordLossAndBackward } from '../../src/model/loss.ts';
import { cachedGradients } from '../../src/train/gradcache.ts';
import { conceptGroups } from '../../src/train/positives.ts';
import { syntheticBatch } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { resumeOptions } from '../../src/train/resume.ts';
import { train, type StepLog, type TrainOptions } from '../../src/train/trainer.ts';
import type { Validation } from '../../src/train/validate.ts';
import { testGpu } from '../helpers/gpu.ts';
import { microTrainOptions } from '../helpers/train.ts';
import { coca, expectOneLine } from '../reliability/helpers.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-recipes-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const quiet = () => {};
const readJsonl = <T>(run: string, file: string): T[] => fs.readFileSync(path.join(dir, run, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);

describe('conceptGroups', () => {
  it("rows of one recorded group share an id; without a group (or the group ''), identical normalised captions do", () => {
    const meta = (i: number) => ({ id: String(i), ...(i < 10 ? { group: ['dog', 'cat', ''][i % 3]! } : {}) });
    const batch = {
      indices: Uint32Array.from([0, 1, 3, 2, 5, 11, 12, 13, 4]),
      captions: ['dog', 'cat', 'a dog', 'light skin tone', 'dark skin tone', 'A  red bus', 'a red bus', 'a red car', 'kitten'],
    };
    expect([...conceptGroups(batch, meta)]).toEqual([0, 1, 0, 2, 3, 4, 4, 5, 1]);
    // Streamed shards: no records, captions alone.
    expect([...conceptGroups(batch)]).toEqual([0, 1, 2, 3, 4, 5, 5, 6, 7]);
  });
});

describe('coca train loss recipes', () => {
  it('each option changes its own half of the training loss only; validation keeps the plain losses; run.json records them', async () => {
    // Row 1 of every batch is filed under row 0's item (its picture and caption stay its own), so
    // each batch holds two different pairs of one concept. (Two identical pairs would not do: the
    // multi-positive loss of a duplicated pair is the one-positive loss.)
    const real = BatchLoader.prototype.next;
    const spy = vi.spyOn(BatchLoader.prototype, 'next').mockImplementation(async function (this: BatchLoader) {
      const b = await real.call(this);
      b.indices[1] = b.indices[0]!;
      b.captions[1] = b.captions[0]!;
      return b;
    });
    try {
      // lr 0: every run validates the same weights after its one step.
      const run = (name: string, over: Partial<TrainOptions>) => train(gpu, microTrainOptions(path.join(dir, name), { steps: 1, warmup: 1, lr: 0, valEvery: 1, ...over }), quiet);
      await run('plain', {});
      await run('smooth', { labelSmoothing: 0.1 });
      await run('concept', { contrastivePositives: 'concept' });
    } finally {
      spy.mockRestore();
    }
    const [plain, smooth, concept] = ['plain', 'smooth', 'concept'].map((r) => readJsonl<StepLog>(r, 'log.jsonl')[0]!);
    expect(smooth.contrastive).toBe(plain.contrastive);
    expect(smooth.caption).not.toBe(plain.caption);
    expect(concept.caption).toBe(plain.caption);
    expect(concept.contrastive).not.toBe(plain.contrastive);
    const val = ['plain', 'smooth', 'concept'].map((r) => readJsonl<Validation>(r, 'val.jsonl')[0]!);
    for (const v of val.slice(1)) for (const k of ['caption', 'contrastive', 'total'] as const) expect(v[k], k).toBe(val[0]![k]);

    const record = (r: string) => JSON.parse(fs.readFileSync(path.join(dir, r, 'run.json'), 'utf8')) as Partial<TrainOptions>;
    expect(record('smooth').labelSmoothing).toBe(0.1);
    expect(record('concept').contrastivePositives).toBe('concept');
    expect('labelSmoothing' in record('plain') || 'contrastivePositives' in record('plain')).toBe(false);

    // A resume takes them back; a contradiction needs --override; today's values match a run without them.
    expect(resumeOptions(path.join(dir, 'smooth'), {}, []).labelSmoothing).toBe(0.1);
    expect(resumeOptions(path.join(dir, 'concept'), {}, []).contrastivePositives).toBe('concept');
    expect(() => resumeOptions(path.join(dir, 'smooth'), { 'label-smoothing': 0.2 }, [])).toThrow(/--label-smoothing 0.2 contradicts the run's 0.1 .* or add --override label-smoothing to change it/);
    expect(resumeOptions(path.join(dir, 'smooth'), { 'label-smoothing': 0.2 }, ['label-smoothing']).labelSmoothing).toBe(0.2);
    const old = resumeOptions(path.join(dir, 'plain'), { 'label-smoothing': 0, 'contrastive-positives': 'none' }, []);
    expect([old.labelSmoothing, old.contrastivePositives]).toEqual([undefined, undefined]);
  });
});

describe('gradient caching with both recipes', () => {
  it('gives every parameter the gradient of one batch of 12 with the same groups and ε (micro-batches of 4), not that of the plain loss', async () => {
    const model = CocaModel.init(gpu, loadConfig('nano'), 3);
    try {
      const weights = { contrastive: 1, caption: 2 };
      const inp = { ...syntheticBatch(model, 12, new Rng(1)), groups: Int32Array.from([0, 1, 0, 2, 3, 1, 4, 0, 5, 6, 2, 7]) };
      const grads = async () => new Map(await Promise.all([...model.params.params].map(async ([n, p]) => [n, p.tensor.grad ? await p.tensor.grad.toArray() : new Float32Array(p.tensor.size)] as const)));
      const oneBatch = async (recipe: boolean) => {
        model.params.zeroGrad();
        const p = model.prepare(recipe ? inp : { ...inp, groups: undefined });
        const stats = gpu.alloc(LOSS_STATS_FLOATS, 'stats');
        try {
          recordLossAndBackward(model, p, { buffer: stats, at: 0 }, { weights, labelSmoothing: recipe ? 0.1 : 0 });
          return { parts: lossParts(await gpu.read(stats, LOSS_STATS_FLOATS), 0, weights), grads: await grads() };
        } finally {
          gpu.release(stats);
          p.release();
        }
      };
      const want = await oneBatch(true);
      const plain = await oneBatch(false);
      const parts = await cachedGradients(model, inp, 4, weights, 1, 0.1);
      const got = await grads();
      expect(parts.contrastive).toBeCloseTo(want.parts.contrastive, 4);
      expect(parts.caption).toBeCloseTo(want.parts.caption, 4);
      expect(Math.abs(want.parts.contrastive - plain.parts.contrastive)).toBeGreaterThan(1e-3);
      expect(Math.abs(want.parts.caption - plain.parts.caption)).toBeGreaterThan(1e-4);
      // Each tensor within 1e-5 + 1e-4 × its largest |gradient| (test/train/gradcache.test.ts).
      let apart = 0;
      for (const [name, w] of want.grads) {
        const g = got.get(name)!;
        const p = plain.grads.get(name)!;
        const scale = w.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        const worst = w.reduce((m, x, i) => Math.max(m, Math.abs(g[i]! - x)), 0);
        expect(worst, `${name}: max |Δ| ${worst} at scale ${scale}`).toBeLessThanOrEqual(1e-5 + 1e-4 * scale);
        apart = Math.max(apart, w.reduce((m, x, i) => Math.max(m, Math.abs(p[i]! - x)), 0) / Math.max(scale, 1e-30));
      }
      expect(apart, 'the recipes change the gradients').toBeGreaterThan(1e-2);
    } finally {
      model.params.zeroGrad();
      model.params.release();
    }
  });
});

describe('coca train --contrastive-positives / --label-smoothing at the command line', () => {
  it('are explained in --help with their defaults', () => {
    const r = coca(['train', '--help']);
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--contrastive-positives which captions in a batch count as matches .*Validation keeps the one-positive loss, so runs compare \[string\] \[choices: "none", "concept"\] \[default: none\]/);
    expect(help).toMatch(/--label-smoothing ε of the captioning loss, PyTorch's CrossEntropyLoss\(label_smoothing=ε\).*validation the unsmoothed one \[number\] \[default: 0\]/);
  });

  it('refuses ε out of range, and either option for another architecture, in one line, writing nothing', () => {
    const out = path.join(dir, 'refused');
    const eps = coca(['train', '--label-smoothing', '1', '--out', out]);
    expect(eps.status).toBe(1);
    expectOneLine(eps, /^coca: --label-smoothing must be a number ≥ 0 and ≤ 0.99 \(the caption target's share spread over the vocabulary, e.g. 0.1\), got 1$/);
    const sat = coca(['train', '--arch', 'sat', '--contrastive-positives', 'concept', '--out', out]);
    expect(sat.status).toBe(1);
    expectOneLine(sat, /^coca: --contrastive-positives does not apply to --arch sat: it has no contrastive loss; drop it$/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
