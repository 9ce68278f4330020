// Parity of the LSTM captioners with their PyTorch reference (scripts/reference/lstm_torch.py):
// Show and Tell and Show-Attend-Tell on a micro config (P = 9 feature positions, hidden 11,
// vocabulary 37), a batch of 3 rows ending in 0, 2 and 3 pads. The fixture holds the parameters
// in PyTorch's names (the LSTM cell as nn.LSTMCell's four tensors, loaded through
// fromTorchStateDict), and the reference's logits, attention weights, loss terms, batch norm's
// updated running statistics, every gradient of one step, and the logits of an inference
// forward. Regenerate: see test/fixtures/README.md.
import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { parseLstmConfig } from '../../src/model/captioners/config.ts';
import { LstmCaptioner, lstmParameterShapes } from '../../src/model/captioners/lstm.ts';
import { fromTorchStateDict } from '../../src/model/captioners/torch-lstm.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { ParamStore, type HostTensor } from '../../src/nn/params.ts';
import { noGrad, Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor, tidy } from '../../src/tensor/tensor.ts';
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

function load(arch: 'showtell' | 'sat') {
  const f = readSafetensors(join(FIXTURES, `parity_${arch}.safetensors`));
  const config = parseLstmConfig(JSON.parse(fs.readFileSync(join(FIXTURES, `lstm_micro_${arch}.json`), 'utf8')), 'fixture config');
  const get = (name: string) => {
    const t = f.tensors.get(name);
    if (!t) throw new Error(`fixture has no ${name}`);
    return t.data as Float32Array;
  };
  const torch = new Map<string, HostTensor>();
  for (const [name, t] of f.tensors) if (name.startsWith('param.')) torch.set(name.slice(6), { shape: t.shape, data: t.data as Float32Array });
  const images = f.tensors.get('input.images')!;
  const batch = { images: images.data as Float32Array, text: Int32Array.from(f.tensors.get('input.text')!.data as Int32Array), batch: images.shape[0]! };
  return { config, get, torch, batch, steps: Number(f.metadata!['steps']) };
}

describe.each(['showtell', 'sat'] as const)('%s: parity with PyTorch', (arch) => {
  it('outputs, loss terms, running statistics, every gradient, and the inference forward', async () => {
    const fx = load(arch);
    const model = new LstmCaptioner(gpu, fx.config, ParamStore.create(gpu, lstmParameterShapes(fx.config), new Rng(0)));
    model.params.load(fromTorchStateDict(fx.torch));
    const tape = new Tape();
    const terms = withTape(tape, () => model.forwardLoss(fx.batch, { training: true }));
    expect(terms.steps).toBe(fx.steps);
    const failures: string[] = [];
    check(failures, 'logits', await terms.logits.toArray(), fx.get('out.logits'), OUTPUT_TOL);
    check(failures, 'loss.caption', await terms.caption.toArray(), fx.get('loss.caption'), OUTPUT_TOL);
    if (arch === 'sat') {
      const alphas: Float32Array[] = [];
      for (const a of terms.alphas) alphas.push(await a.toArray());
      const flat = new Float32Array(alphas.reduce((n, a) => n + a.length, 0));
      alphas.reduce((at, a) => (flat.set(a, at), at + a.length), 0);
      check(failures, 'alphas', flat, fx.get('out.alphas'), OUTPUT_TOL);
      expect(terms.regulariser).not.toBeNull();
      check(failures, 'loss.regulariser', await terms.regulariser!.toArray(), fx.get('loss.regulariser'), OUTPUT_TOL);
    } else {
      expect(terms.regulariser).toBeNull();
      for (const s of ['running_mean', 'running_var']) check(failures, s, await model.params.get(`decoder.bn.${s}`).toArray(), fx.get(`out.decoder.bn.${s}`), OUTPUT_TOL);
    }
    const seeds: [Tensor, Tensor][] = [[terms.caption, Tensor.fromArray(gpu, [1], [1], 'd_caption')]];
    if (terms.regulariser) seeds.push([terms.regulariser, Tensor.fromArray(gpu, [1], [1], 'd_reg')]);
    for (const [t] of seeds) tape.keep(t);
    tape.keep(terms.logits);
    tape.backwardFrom(seeds);
    let grads = 0;
    for (const [name, p] of model.params.params) {
      if (/running_(mean|var)$/.test(name)) {
        expect(p.tensor.grad, `${name} is state, not trained`).toBeNull();
        continue;
      }
      expect(p.tensor.grad, `gradient of ${name}`).not.toBeNull();
      check(failures, `grad ${name}`, await p.tensor.grad!.toArray(), fx.get(`grad.${name}`), GRAD_TOL);
      grads++;
    }
    // Every trained tensor of the reference (the cell's four as coca's two) was compared.
    const trained = [...fx.torch.keys()].filter((n) => !/running_|\.decode_step\./.test(n)).length + 2;
    expect(grads).toBe(trained);
    tape.dispose();
    for (const t of [terms.caption, terms.logits, terms.regulariser]) t?.release();
    terms.release();

    const evalLogits = await noGrad(() =>
      tidy(() => {
        const e = model.forwardLoss(fx.batch, { training: false });
        e.release();
        return e.logits;
      }),
    ).toArray();
    check(failures, 'eval logits', evalLogits, fx.get('out.eval_logits'), OUTPUT_TOL);
    model.params.release();
    if (failures.length) expect.fail(`${failures.length} tensors differ:\n${failures.join('\n')}`);
  });
});
