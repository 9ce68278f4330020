// Parity with the PyTorch reference (scripts/reference/coca_torch.py, the llm.c way): the micro
// config's fixture holds inputs, every parameter, the embeddings, tokens, logits, both losses,
// every parameter gradient, and the losses and parameters of 3 AdamW steps. coca computes all of
// it on the GPU and compares, for both pooler layouts and both attention paths (each layer's
// path counted: the op reports which ran), and for the CNN image tower (vision_cfg.tower "cnn":
// batch norm's running statistics after a training forward and after 3 steps, and the inference
// forward on them, too).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttentionPath } from '../../kernels/attention.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { attentionRuns } from '../../src/tensor/ops/attention.ts';
import { parseConfig } from '../../src/model/config.ts';
import { parameterShapes } from '../../src/model/shapes.ts';
import { lossAndBackward } from '../../src/model/loss.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { ParamStore, type HostTensor } from '../../src/nn/params.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy } from '../../src/tensor/tensor.ts';
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

function load(layout: 'cascade' | 'openclip' | 'cnn') {
  const f = readSafetensors(join(FIXTURES, `parity_${layout}.safetensors`));
  const config = parseConfig(JSON.parse(f.metadata!.config!), 'fixture config');
  const get = (name: string) => {
    const t = f.tensors.get(name);
    if (!t) throw new Error(`fixture has no ${name}`);
    return t;
  };
  const params = new Map<string, HostTensor>();
  const buffers = new Map<string, HostTensor>();
  for (const [name, t] of f.tensors) {
    if (name.startsWith('param.')) params.set(name.slice(6), { shape: t.shape, data: t.data as Float32Array });
    if (name.startsWith('buffer.')) buffers.set(name.slice(7), { shape: t.shape, data: t.data as Float32Array });
  }
  return { config, get, params, buffers, state: new Map([...params, ...buffers]), f };
}

const OUTPUT_TOL = 1e-4; // relative, outputs and losses
const GRAD_TOL = 1e-3; // relative, gradients

const LR = 1e-3;

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

/**
 * A parameter after 3 AdamW steps against the float64 reference. Three kinds of element:
 * - Rows of the token embedding that nothing reaches (`unused`): their gradient is exactly 0, and
 *   token embeddings take no weight decay, so they must come out bit for bit as they went in.
 * - Elements whose reference gradient is no larger than `noise`, the largest difference this run
 *   measured between the GPU's first-step gradient of the tensor and the reference's: float32
 *   rounding can flip their gradient's sign, and Adam normalises each element's gradient
 *   (m̂/√v̂), so each step may go lr either way: held to |Δ| ≤ 3 steps · lr. These are the key
 *   biases (the middle third of each in_proj_bias: softmax ignores a shift shared by all keys, so
 *   their gradient is 0 in exact arithmetic and the reference's is rounding, ~1e-17) and the odd
 *   element whose true gradient happens to fall below float32's error (measured: ~6e-7 of the
 *   tensor's largest gradient).
 * - Every other element: relative OUTPUT_TOL, plus the gradient tolerance carried through the
 *   updates (GRAD_TOL of 3 steps of at most lr each) as the absolute part — parameters that start
 *   at 0 (biases) are nothing but those updates.
 */
function compareSteps(
  name: string,
  o: { got: Float32Array; want: ArrayLike<number>; init: ArrayLike<number>; grad: ArrayLike<number>; noise: number; unused: (i: number) => boolean },
): { failures: string[]; unused: number; noisy: number } {
  const failures: string[] = [];
  const rest: number[] = [];
  let unused = 0;
  let noisy = 0;
  for (let i = 0; i < o.got.length; i++) {
    if (o.unused(i)) {
      unused++;
      if (o.grad[i] !== 0 || o.want[i] !== o.init[i]) failures.push(`${name}[${i}]: the reference moved an unused row (gradient ${o.grad[i]})`);
      if (!Object.is(o.got[i], o.init[i])) failures.push(`${name}[${i}] has no gradient but moved from ${o.init[i]} to ${o.got[i]}`);
    } else if (Math.abs(o.grad[i]!) <= o.noise) {
      noisy++;
      if (!(Math.abs(o.got[i]! - o.want[i]!) <= 3 * LR)) failures.push(`${name}[${i}] (gradient ${o.grad[i]}, float32 noise ${o.noise}) moved by ${o.got[i]! - o.want[i]!}`);
    } else rest.push(i);
  }
  const r = compareClose(
    rest.map((i) => o.got[i]!),
    rest.map((i) => o.want[i]!),
    { atol: GRAD_TOL * 3 * LR, rtol: OUTPUT_TOL },
  );
  if (!r.ok) failures.push(`param after 3 steps ${name}: ${describeReport(r)}`);
  return { failures, unused, noisy };
}

describe.each(['cascade', 'openclip'] as const)('parity with PyTorch, %s pooler', (layout) => {
  it.each(['fused', 'unfused'] as AttentionPath[])('outputs, losses and every gradient (%s attention)', async (path) => {
    const fx = load(layout);
    const model = new CocaModel(gpu, fx.config, ParamStore.create(gpu, parameterShapes(fx.config), new Rng(0)));
    model.attentionPath = path;
    model.params.load(fx.state);
    const images = fx.get('input.images');
    const text = fx.get('input.text');
    const B = images.shape[0]!;
    const inp = model.prepare({ images: images.data as Float32Array, text: Int32Array.from(text.data as Int32Array), batch: B });
    const runsBefore = attentionRuns();
    const { parts, outputs } = await lossAndBackward(model, inp, undefined, true);
    // Which path each attention layer took: the vision tower's head dim (10) is not a multiple of
    // 4, so it runs unfused whatever is forced; every other layer runs the path forced.
    const { vision_cfg: v, text_cfg: t, multimodal_cfg: m } = fx.config;
    expect(v.width / v.heads).toBe(10);
    const poolers = v.attentional_pool === 'cascade' ? 2 : 1;
    const others = t.layers + 2 * m.layers + poolers;
    const runsAfter = attentionRuns();
    const ran = { fused: runsAfter.fused - runsBefore.fused, unfused: runsAfter.unfused - runsBefore.unfused };
    expect(ran).toEqual(path === 'fused' ? { fused: others, unfused: v.layers } : { fused: 0, unfused: others + v.layers });
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
    model.params.load(fx.state);
    const images = fx.get('input.images');
    const text = Int32Array.from(fx.get('input.text').data as Int32Array);
    const inp = model.prepare({ images: images.data as Float32Array, text, batch: images.shape[0]! });
    const opt = new AdamW(gpu, model.params, { lr: LR, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
    const losses: number[] = [];
    const noise = new Map<string, number>();
    for (let t = 0; t < 3; t++) {
      model.params.zeroGrad();
      losses.push((await lossAndBackward(model, inp)).parts.total);
      if (t === 0) for (const [name, p] of model.params.params) noise.set(name, maxDiff(await p.tensor.grad!.toArray(), fx.get(`grad.${name}`).data as Float32Array));
      opt.update();
    }
    const failures: string[] = [];
    check(failures, 'train.losses', losses, fx.get('train.losses').data as Float32Array, OUTPUT_TOL);
    // Token rows nothing reaches: tokens the input does not hold, and [PAD], whose positions the
    // text tower's attention and the caption loss mask out.
    const W = fx.config.text_cfg.width;
    const used = new Set(text);
    used.delete(fx.config.text_cfg.pad_id);
    let unused = 0;
    for (const [name, p] of model.params.params) {
      const r = compareSteps(name, {
        got: await p.tensor.toArray(),
        want: fx.get(`train.param.${name}`).data as Float32Array,
        init: fx.params.get(name)!.data,
        grad: fx.get(`grad.${name}`).data as Float32Array,
        noise: noise.get(name)!,
        unused: name === 'text.token_embedding.weight' ? (i) => !used.has(Math.floor(i / W)) : () => false,
      });
      failures.push(...r.failures);
      unused += r.unused;
      if (name.endsWith('in_proj_bias')) {
        // The justification, measured: every key bias's reference gradient is below float32's error.
        const g = fx.get(`grad.${name}`).data as Float32Array;
        const third = g.length / 3;
        for (let i = third; i < 2 * third; i++) expect(Math.abs(g[i]!), `${name}[${i}]`).toBeLessThanOrEqual(noise.get(name)!);
      }
    }
    // Not vacuous: the input leaves most of the 37 token rows unused.
    expect(unused).toBe((fx.config.text_cfg.vocab_size - used.size) * W);
    expect(used.size).toBeLessThan(fx.config.text_cfg.vocab_size / 2);
    inp.release();
    opt.release();
    model.params.release();
    if (failures.length) expect.fail(`${failures.length} tensors differ:\n${failures.join('\n')}`);
  });
});

describe('parity with PyTorch, CNN image tower', () => {
  // parity_micro_cnn.json: a 48-pixel image through a stride-2 stem and its max pool, stages of
  // 5, 7 and 9 channels with 1, 2 and 1 blocks (an identity shortcut in stage 1 and in stage 2's
  // second block, 1x1 downsampling in the others), a 3x3 map of 9 tokens 9 wide for the poolers.
  it('outputs, losses, every gradient, the running statistics, and inference on them', async () => {
    const fx = load('cnn');
    expect(fx.config.vision_cfg.tower).toBe('cnn');
    const model = new CocaModel(gpu, fx.config, ParamStore.create(gpu, parameterShapes(fx.config), new Rng(0)));
    model.params.load(fx.state);
    const images = fx.get('input.images');
    const B = images.shape[0]!;
    const inp = model.prepare({ images: images.data as Float32Array, text: Int32Array.from(fx.get('input.text').data as Int32Array), batch: B });
    const { parts, outputs } = await lossAndBackward(model, inp, undefined, true);
    const failures: string[] = [];
    check(failures, 'image_embedding_raw', await outputs!.imageEmbedding.toArray(), fx.get('out.image_embedding_raw').data as Float32Array, OUTPUT_TOL);
    check(failures, 'text_embedding_raw', await outputs!.textEmbedding.toArray(), fx.get('out.text_embedding_raw').data as Float32Array, OUTPUT_TOL);
    check(failures, 'image_tokens', await outputs!.imageTokens.toArray(), fx.get('out.image_tokens').data as Float32Array, OUTPUT_TOL);
    check(failures, 'logits', await outputs!.logits.toArray(), fx.get('out.logits').data as Float32Array, OUTPUT_TOL);
    check(failures, 'losses', [parts.contrastive, parts.caption, parts.total], ['loss.contrastive', 'loss.caption', 'loss.total'].map((k) => (fx.get(k).data as Float32Array)[0]!), OUTPUT_TOL);
    let grads = 0;
    let buffers = 0;
    for (const [name, p] of model.params.params) {
      if (p.buffer) {
        // Moved once, by momentum 0.1 towards the batch's mean and unbiased variance (PyTorch's).
        expect(p.tensor.grad, `${name} is a buffer`).toBeNull();
        const moved = fx.get(`out.buffer.${name}`).data as Float32Array;
        expect(maxDiff(moved, fx.buffers.get(name)!.data), `${name} moved in the reference`).toBeGreaterThan(1e-4);
        check(failures, `running ${name}`, await p.tensor.toArray(), moved, OUTPUT_TOL);
        buffers++;
        continue;
      }
      expect(p.tensor.grad, `gradient of ${name}`).not.toBeNull();
      check(failures, `grad ${name}`, await p.tensor.grad!.toArray(), fx.get(`grad.${name}`).data as Float32Array, GRAD_TOL);
      grads++;
    }
    expect(grads).toBe(fx.params.size);
    expect(buffers).toBe(fx.buffers.size);
    // 11 convs (the stem, 2 per block, 2 downsampling shortcuts), each with a batch norm of 2 buffers.
    expect(buffers).toBe(2 * 11);
    for (const t of Object.values(outputs!)) t.release();
    // Inference: the running statistics that forward left, no batch statistics.
    const ev = noGrad(() => tidy(() => model.encodeImage(inp.patches)));
    check(failures, 'eval image_embedding_raw', await ev.embedding.toArray(), fx.get('eval.image_embedding_raw').data as Float32Array, OUTPUT_TOL);
    check(failures, 'eval image_tokens', await ev.tokens.toArray(), fx.get('eval.image_tokens').data as Float32Array, OUTPUT_TOL);
    ev.embedding.release();
    ev.tokens.release();
    inp.release();
    model.params.release();
    if (failures.length) expect.fail(`${failures.length} tensors differ:\n${failures.join('\n')}`);
  });

  it('3 AdamW steps: losses, final parameters and running statistics', async () => {
    const fx = load('cnn');
    const model = new CocaModel(gpu, fx.config, ParamStore.create(gpu, parameterShapes(fx.config), new Rng(0)));
    model.params.load(fx.state);
    const images = fx.get('input.images');
    const text = Int32Array.from(fx.get('input.text').data as Int32Array);
    const inp = model.prepare({ images: images.data as Float32Array, text, batch: images.shape[0]! });
    const opt = new AdamW(gpu, model.params, { lr: LR, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
    const losses: number[] = [];
    const noise = new Map<string, number>();
    for (let t = 0; t < 3; t++) {
      model.params.zeroGrad();
      losses.push((await lossAndBackward(model, inp)).parts.total);
      if (t === 0) for (const [name, p] of model.params.params) if (!p.buffer) noise.set(name, maxDiff(await p.tensor.grad!.toArray(), fx.get(`grad.${name}`).data as Float32Array));
      opt.update();
    }
    const failures: string[] = [];
    check(failures, 'train.losses', losses, fx.get('train.losses').data as Float32Array, OUTPUT_TOL);
    const W = fx.config.text_cfg.width;
    const used = new Set(text);
    used.delete(fx.config.text_cfg.pad_id);
    for (const [name, p] of model.params.params) {
      if (p.buffer) {
        check(failures, `running ${name} after 3 steps`, await p.tensor.toArray(), fx.get(`train.buffer.${name}`).data as Float32Array, OUTPUT_TOL);
        continue;
      }
      const r = compareSteps(name, {
        got: await p.tensor.toArray(),
        want: fx.get(`train.param.${name}`).data as Float32Array,
        init: fx.params.get(name)!.data,
        grad: fx.get(`grad.${name}`).data as Float32Array,
        noise: noise.get(name)!,
        unused: name === 'text.token_embedding.weight' ? (i) => !used.has(Math.floor(i / W)) : () => false,
      });
      failures.push(...r.failures);
    }
    inp.release();
    opt.release();
    model.params.release();
    if (failures.length) expect.fail(`${failures.length} tensors differ:\n${failures.join('\n')}`);
  });
});
