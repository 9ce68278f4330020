// Parity with the PyTorch reference (scripts/reference/coca_torch.py, the llm.c way): the micro
// config's fixture holds inputs, every parameter, the embeddings, tokens, logits, both losses,
// every parameter gradient, and the losses and parameters of 3 AdamW steps. coca computes all of
// it on the GPU and compares, for both pooler layouts and both attention paths.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttentionPath } from '../../kernels/attention.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { parseConfig } from '../../src/model/config.ts';
import { parameterShapes } from '../../src/model/shapes.ts';
import { lossAndBackward } from '../../src/model/loss.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { ParamStore, type HostTensor } from '../../src/nn/params.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { Rng } from '../../src/util/prng.ts';
import { compareClose, describeReport } from '../../src/util/allclose.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/** Per-tensor tolerance relative to the tensor's largest magnitude (float32 against float64). */
function check(failures: string[], what: string, got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  let max = 0;
  for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i]!));
  const r = compareClose(got, want, { atol: rel * Math.max(max, 1e-3) * 0.1, rtol: rel });
  if (!r.ok || got.length !== want.length) failures.push(`${what}: ${describeReport(r)}`);
}

function load(layout: 'cascade' | 'openclip') {
  const f = readSafetensors(join(FIXTURES, `parity_${layout}.safetensors`));
  const config = parseConfig(JSON.parse(f.metadata!.config!), 'fixture config');
  const get = (name: string) => {
    const t = f.tensors.get(name);
    if (!t) throw new Error(`fixture has no ${name}`);
    return t;
  };
  const params = new Map<string, HostTensor>();
  for (const [name, t] of f.tensors) if (name.startsWith('param.')) params.set(name.slice(6), { shape: t.shape, data: t.data as Float32Array });
  return { config, get, params, f };
}

const OUTPUT_TOL = 1e-4; // relative, outputs and losses
const GRAD_TOL = 1e-3; // relative, gradients

describe.each(['cascade', 'openclip'] as const)('parity with PyTorch, %s pooler', (layout) => {
  it.each(['fused', 'unfused'] as AttentionPath[])('outputs, losses and every gradient (%s attention)', async (path) => {
    const fx = load(layout);
    const model = new CocaModel(gpu, fx.config, ParamStore.create(gpu, parameterShapes(fx.config), new Rng(0)));
    model.attentionPath = path;
    model.params.load(fx.params);
    const images = fx.get('input.images');
    const text = fx.get('input.text');
    const B = images.shape[0]!;
    const inp = model.prepare({ images: images.data as Float32Array, text: Int32Array.from(text.data as Int32Array), batch: B });
    const { parts, outputs } = await lossAndBackward(model, inp, undefined, true);
    const failures: string[] = [];
    check(failures, 'image_embedding_raw', await outputs!.imageEmbedding.toArray(), fx.get('out.image_embedding_raw').data as Float32Array, OUTPUT_TOL);
    check(failures, 'text_embedding_raw', await outputs!.textEmbedding.toArray(), fx.get('out.text_embedding_raw').data as Float32Array, OUTPUT_TOL);
    check(failures, 'image_tokens', await outputs!.imageTokens.toArray(), fx.get('out.image_tokens').data as Float32Array, OUTPUT_TOL);
    check(failures, 'text_tokens', await outputs!.textTokens.toArray(), fx.get('out.text_tokens').data as Float32Array, OUTPUT_TOL);
    check(failures, 'logits', await outputs!.logits.toArray(), fx.get('out.logits').data as Float32Array, OUTPUT_TOL);
    check(failures, 'losses', [parts.contrastive, parts.caption, parts.total], [0, 1, 2].map((i) => (fx.get(['loss.contrastive', 'loss.caption', 'loss.total'][i]!).data as Float32Array)[0]!), OUTPUT_TOL);
    let grads = 0;
    for (const [name, p] of model.params.params) {
      expect(p.tensor.grad, `gradient of ${name}`).not.toBeNull();
      check(failures, `grad ${name}`, await p.tensor.grad!.toArray(), fx.get(`grad.${name}`).data as Float32Array, GRAD_TOL);
      grads++;
    }
    expect(grads).toBe(fx.params.size);
    for (const t of Object.values(outputs!)) t.release();
    inp.release();
    model.params.release();
    if (failures.length) expect.fail(`${failures.length} tensors differ:\n${failures.join('\n')}`);
  });

  it('3 AdamW steps: losses and final parameters', async () => {
    const fx = load(layout);
    const model = new CocaModel(gpu, fx.config, ParamStore.create(gpu, parameterShapes(fx.config), new Rng(0)));
    model.params.load(fx.params);
    const images = fx.get('input.images');
    const inp = model.prepare({ images: images.data as Float32Array, text: Int32Array.from(fx.get('input.text').data as Int32Array), batch: images.shape[0]! });
    const opt = new AdamW(gpu, model.params, { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
    const losses: number[] = [];
    for (let t = 0; t < 3; t++) {
      model.params.zeroGrad();
      losses.push((await lossAndBackward(model, inp)).parts.total);
      opt.update();
    }
    const failures: string[] = [];
    check(failures, 'train.losses', losses, fx.get('train.losses').data as Float32Array, OUTPUT_TOL);
    for (const [name, p] of model.params.params) {
      const got = await p.tensor.toArray();
      const want = fx.get(`train.param.${name}`).data as Float32Array;
      // Adam normalises each element's gradient (m̂/√v̂), so an element whose gradient is tiny next
      // to the tensor's largest steps by up to lr whatever the gradient's size, and float32
      // rounding can flip its sign. Where the gradient itself is only known to the absolute part
      // of the gradient tolerance (|g| < 1e-3·max|g|: GRAD_TOL·0.1·max|g| is then ≥ 10 % of it) —
      // including the key biases, whose gradient is 0 in exact arithmetic (softmax ignores a
      // shift shared by all keys) — the float64 and float32 steps may differ by up to the step
      // size: those elements are held to |Δ| ≤ 3 steps · lr. Every other element to OUTPUT_TOL.
      const g = fx.get(`grad.${name}`).data as Float32Array;
      const gmax = g.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      const loose = Array.from(g, (x, i) => (Math.abs(x) < 1e-3 * gmax ? i : -1)).filter((i) => i >= 0);
      const looseSet = new Set(loose);
      for (const i of loose) if (!(Math.abs(got[i]! - want[i]!) <= 3 * 1e-3)) failures.push(`${name}[${i}] (gradient ${g[i]} ≪ ${gmax}) moved by ${got[i]! - want[i]!}`);
      const rest = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => !looseSet.has(i));
      // The rest: relative OUTPUT_TOL, plus the gradient tolerance carried through the updates
      // (GRAD_TOL of 3 steps of at most lr each) as the absolute part — parameters that start at
      // 0 (biases) are nothing but those updates.
      const r = compareClose(rest(got), rest(want), { atol: GRAD_TOL * 3 * 1e-3, rtol: OUTPUT_TOL });
      if (!r.ok) failures.push(`param after 3 steps ${name}: ${describeReport(r)}`);
    }
    inp.release();
    opt.release();
    model.params.release();
    if (failures.length) expect.fail(`${failures.length} tensors differ:\n${failures.join('\n')}`);
  });
});
