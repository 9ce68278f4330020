// DeViSE: the hinge rank loss against hand values and finite differences, the whole model (CNN
// tower, global average pool, linear map, hinge over every wrong label) against the float64
// PyTorch reference (scripts/reference/devise_torch.py: loss, every gradient, batch norm's
// running statistics), and the skip-gram text model it takes its label vectors from.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { parseConfig } from '../../src/model/config.ts';
import { DeviseModel, hingeRankLoss } from '../../src/model/devise.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { labelVector, trainSkipGram, words } from '../../src/model/skipgram.ts';
import type { HostTensor } from '../../src/nn/params.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { compareClose, describeReport } from '../../src/util/allclose.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

describe('hinge rank loss', () => {
  it('sums margin − s_y + s_j over the wrong labels that violate it, batch mean (hand values)', () => {
    // Row 0, y = 1: s = [0.5, 0.3, 0.25] → terms 0.1 − 0.3 + 0.5 = 0.3 and 0.1 − 0.3 + 0.25 = 0.05.
    // Row 1, y = 0: s = [0.9, 0.1, 0.85] → label 1 is 0.7 behind (no term), label 2 gives 0.05.
    const h = hingeRankLoss([0.5, 0.3, 0.25, 0.9, 0.1, 0.85], 2, 3, [1, 0], 0.1);
    expect(h.loss).toBeCloseTo((0.3 + 0.05 + 0.05) / 2, 12);
    expect(h.active).toBe(3);
    expect(Array.from(h.dScores)).toEqual([0.5, -1, 0.5, -0.5, 0, 0.5]);
  });

  it('its gradient is the loss’s finite difference', () => {
    const rng = new Rng(3);
    const [B, L] = [5, 11];
    const s = Array.from({ length: B * L }, () => rng.uniform(-0.3, 0.3));
    const y = Array.from({ length: B }, () => rng.int(L));
    const h = hingeRankLoss(s, B, L, y, 0.1);
    expect(h.active).toBeGreaterThan(0);
    expect(h.active).toBeLessThan(B * (L - 1));
    const eps = 1e-7;
    for (let i = 0; i < B * L; i++) {
      const up = [...s];
      const dn = [...s];
      up[i]! += eps;
      dn[i]! -= eps;
      const fd = (hingeRankLoss(up, B, L, y, 0.1).loss - hingeRankLoss(dn, B, L, y, 0.1).loss) / (2 * eps);
      expect(Math.abs(fd - h.dScores[i]!), `score ${i}`).toBeLessThan(1e-6);
    }
  });

  it('refuses a label outside the label set in one line', () => {
    expect(() => hingeRankLoss([0, 0], 1, 2, [2])).toThrow(/label 2 of row 0 is not in \[0, 2\)/);
  });
});

describe('DeViSE against PyTorch (float64)', () => {
  it('loss, every gradient and the running statistics of one training step', async () => {
    const f = readSafetensors(join(import.meta.dirname, '..', 'fixtures', 'parity_devise.safetensors'));
    const get = (k: string) => {
      const t = f.tensors.get(k);
      if (!t) throw new Error(`fixture has no ${k}`);
      return t;
    };
    const v = parseConfig(JSON.parse(f.metadata!.config!), 'fixture').vision_cfg;
    const vecs = get('input.label_vectors');
    const model = DeviseModel.init(gpu, { vision_cfg: v, embed_dim: vecs.shape[1]! }, 0);
    const state = new Map<string, HostTensor>();
    for (const [k, t] of f.tensors) {
      for (const prefix of ['param.', 'buffer.']) if (k.startsWith(prefix)) state.set(k.slice(prefix.length), { shape: t.shape, data: t.data as Float32Array });
    }
    model.params.load(state);
    const T = Tensor.fromArray(gpu, vecs.data as Float32Array, vecs.shape, 'label_vectors');
    const labels = get('input.labels').data as Int32Array;
    const h = await model.lossAndBackward(get('input.images').data as Float32Array, labels, T);
    // Not vacuous: some hinge terms are active and some are not.
    expect(h.active).toBe(Number(f.metadata!.active));
    expect(h.active).toBeGreaterThan(0);
    expect(h.active).toBeLessThan(labels.length * (vecs.shape[0]! - 1));
    expect(h.loss).toBeCloseTo((get('loss.hinge').data as Float32Array)[0]!, 5);
    const failures: string[] = [];
    let grads = 0;
    for (const [name, p] of model.params.params) {
      const want = (p.buffer ? get(`out.buffer.${name}`) : get(`grad.${name}`)).data as Float32Array;
      const got = p.buffer ? await p.tensor.toArray() : await p.tensor.grad!.toArray();
      const max = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      const r = compareClose(got, want, { atol: 1e-4 * Math.max(max, 1e-3), rtol: 1e-3 });
      if (!r.ok) failures.push(`${p.buffer ? 'running' : 'grad'} ${name}: ${describeReport(r)}`);
      if (!p.buffer) grads++;
    }
    expect(grads).toBe([...f.tensors.keys()].filter((k) => k.startsWith('grad.')).length);
    T.release();
    model.params.release();
    if (failures.length) expect.fail(failures.join('\n'));
  });
});

describe('skip-gram word vectors', () => {
  it('words that share contexts end up nearer than words that do not, the same for a seed', () => {
    const corpus: string[] = [];
    const rng = new Rng(1);
    const pets = ['cat', 'dog'];
    const vehicles = ['car', 'truck'];
    for (let i = 0; i < 300; i++) {
      corpus.push(`the ${pets[rng.int(2)]} eats food and sleeps`);
      corpus.push(`a ${vehicles[rng.int(2)]} drives on the road fast`);
    }
    const wv = trainSkipGram(corpus, { dim: 16, epochs: 3, seed: 2 });
    const cos = (a: string, b: string) => {
      const x = wv.vectors.get(a)!;
      const y = wv.vectors.get(b)!;
      let d = 0;
      for (let i = 0; i < x.length; i++) d += x[i]! * y[i]!;
      return d / Math.hypot(...x) / Math.hypot(...y);
    };
    expect(cos('cat', 'dog')).toBeGreaterThan(cos('cat', 'car') + 0.2);
    expect(cos('car', 'truck')).toBeGreaterThan(cos('truck', 'dog') + 0.2);
    expect(trainSkipGram(corpus, { dim: 16, epochs: 3, seed: 2 }).vectors.get('cat')).toEqual(wv.vectors.get('cat'));
    // A label's vector: its words' mean, unit length; null when no word of it is known.
    expect(words('T-shirt/top')).toEqual(['t', 'shirt', 'top']);
    const lv = labelVector(wv, 'cat truck')!;
    expect(Math.hypot(...lv)).toBeCloseTo(1, 6);
    expect(labelVector(wv, 'zebra')).toBeNull();
  });
});
