// Parity of the prefix captioner with its PyTorch reference (scripts/reference/prefix_torch.py)
// over both frozen towers: CoCa's ViT with the cascade poolers (parity_micro.json: vision width
// 20, embed_dim 24) and the CNN tower (parity_micro_cnn.json, batch norm on running statistics
// drawn away from 0 and 1). The LM is 20 wide with 2 heads of 10, 2 layers, MLP ratio 2, prefix
// of 3, vocabulary 37; a batch of 3 rows ending in 0, 2 and 3 pads (T = 6 steps). Compared: the
// contrastive embedding, the logits, the caption loss, the gradient of every trainable parameter
// (the tower gets none and its statistics do not move), and the KV-cached decode's logits fed
// the same tokens. Regenerate: see test/fixtures/README.md.
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { parsePrefixConfig, type PrefixConfig } from '../../src/model/captioners/prefix-config.ts';
import { PrefixCaptioner, prefixParameterShapes } from '../../src/model/captioners/prefix.ts';
import { parseConfig } from '../../src/model/config.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { ParamStore, type HostTensor } from '../../src/nn/params.ts';
import { Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { compareClose, describeReport } from '../../src/util/allclose.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const OUTPUT_TOL = 1e-4;
const GRAD_TOL = 1e-3;

function check(failures: string[], what: string, got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  let max = 0;
  for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i]!));
  const r = compareClose(got, want, { atol: rel * Math.max(max, 1e-3) * 0.1, rtol: rel });
  if (!r.ok || got.length !== want.length) failures.push(`${what}: ${describeReport(r)} (${got.length} vs ${want.length} values)`);
}

const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(join(FIXTURES, file), 'utf8'));

function load(tower: 'vit' | 'cnn') {
  const f = readSafetensors(join(FIXTURES, tower === 'vit' ? 'parity_prefix.safetensors' : 'parity_prefix_cnn.safetensors'));
  const encoder = parseConfig(readJson(tower === 'vit' ? 'parity_micro.json' : 'parity_micro_cnn.json'), 'fixture encoder');
  const config: PrefixConfig = { ...parsePrefixConfig(readJson('prefix_micro.json'), 'fixture config'), encoder: { source: 'fixture', sha256: '0'.repeat(64), feature: 'contrastive', config: encoder } };
  const get = (name: string) => {
    const t = f.tensors.get(name);
    if (!t) throw new Error(`fixture has no ${name}`);
    return t.data as Float32Array;
  };
  const params = new Map<string, HostTensor>();
  for (const [name, t] of f.tensors) if (name.startsWith('param.')) params.set(name.slice(6), { shape: t.shape, data: t.data as Float32Array });
  const images = f.tensors.get('input.images')!;
  const batch = { images: images.data as Float32Array, text: Int32Array.from(f.tensors.get('input.text')!.data as Int32Array), batch: images.shape[0]! };
  return { config, get, params, batch, steps: Number(f.metadata!['steps']), grads: [...f.tensors.keys()].filter((n) => n.startsWith('grad.')).length };
}

describe.each(['vit', 'cnn'] as const)('prefix captioner over the %s tower: parity with PyTorch', (tower) => {
  it('embedding, logits, loss, every trainable gradient (none for the tower, its statistics unmoved), and the cached decode', async () => {
    const fx = load(tower);
    const model = new PrefixCaptioner(gpu, fx.config, ParamStore.create(gpu, prefixParameterShapes(fx.config), new Rng(0)));
    model.params.load(fx.params);
    const failures: string[] = [];
    try {
      const feature = model.imageFeature(fx.batch.images, fx.batch.batch);
      check(failures, 'feature', await feature.toArray(), fx.get('out.feature'), OUTPUT_TOL);
      feature.release();

      const tape = new Tape();
      const terms = withTape(tape, () => model.forwardLoss(fx.batch, { training: true }));
      expect(terms.steps).toBe(fx.steps);
      expect(terms.regulariser).toBeNull();
      check(failures, 'logits', await terms.logits.toArray(), fx.get('out.logits'), OUTPUT_TOL);
      check(failures, 'loss.caption', await terms.caption.toArray(), fx.get('loss.caption'), OUTPUT_TOL);
      tape.keep(terms.caption);
      tape.keep(terms.logits);
      tape.backwardFrom([[terms.caption, Tensor.fromArray(gpu, [1], [1], 'd_caption')]]);
      let grads = 0;
      for (const [name, p] of model.params.params) {
        if (name.startsWith('visual.')) {
          expect(p.tensor.grad, `${name} is frozen`).toBeNull();
          continue;
        }
        expect(p.tensor.grad, `gradient of ${name}`).not.toBeNull();
        check(failures, `grad ${name}`, await p.tensor.grad!.toArray(), fx.get(`grad.${name}`), GRAD_TOL);
        grads++;
      }
      expect(grads).toBe(fx.grads);
      tape.dispose();
      terms.caption.release();
      terms.logits.release();
      terms.release();
      // The tower ran in inference mode: its running statistics are what they were (and what PyTorch's eval() left).
      const stats = [...model.params.params.keys()].filter((n) => /running_(mean|var)$/.test(n));
      expect(stats.length > 0).toBe(tower === 'cnn');
      for (const n of stats) {
        const now = await model.params.get(n).toArray();
        expect(Array.from(now), n).toEqual(Array.from(fx.params.get(n)!.data));
        check(failures, n, now, fx.get(`out.${n}`), 0);
      }

      // The decode, fed each row's tokens, gives the teacher-forced logits of PyTorch.
      const { batch: B, text } = fx.batch;
      const L = text.length / B;
      const V = fx.config.decoder_cfg.vocab_size;
      const want = fx.get('out.logits');
      const dec = model.beginDecode(fx.batch.images, B, 1);
      try {
        for (let t = 0; t < fx.steps; t++) {
          const got = await dec.step(Int32Array.from({ length: B }, (_, b) => text[b * L + t]!));
          for (let b = 0; b < B; b++) check(failures, `decode row ${b} step ${t}`, got.subarray(b * V, (b + 1) * V), want.subarray((b * fx.steps + t) * V, (b * fx.steps + t + 1) * V), OUTPUT_TOL);
        }
      } finally {
        dec.release();
      }
    } finally {
      model.params.release();
    }
    if (failures.length) expect.fail(`${failures.length} tensors differ:\n${failures.join('\n')}`);
  });
});
