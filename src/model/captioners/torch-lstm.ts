// PyTorch's LSTM weights in coca's layout. torch keeps four tensors per cell (nn.LSTMCell, or
// layer 0 of nn.LSTM: weight_ih[_l0] [4H, I], weight_hh[_l0] [4H, H], bias_ih[_l0], bias_hh[_l0]
// [4H], gate rows i, f, g, o); coca's fused cell reads one [4H, I + H] matrix [W_ih | W_hh] (the
// gates are one matmul of [x | h]) and one bias, their sum. Gate order is the same.
import { ShapeError } from '../../gpu/errors.ts';
import type { HostTensor } from '../../nn/params.ts';
import { shapeStr } from '../../tensor/tensor.ts';

/** torch's four LSTM tensors → coca's weight [4H, I + H] and bias [4H]. */
export function fuseTorchLstm(weightIh: HostTensor, weightHh: HostTensor, biasIh: HostTensor, biasHh: HostTensor): { weight: HostTensor; bias: HostTensor } {
  const [G, I] = weightIh.shape as [number, number];
  const H = G / 4;
  const ok = weightIh.shape.length === 2 && Number.isInteger(H) && weightHh.shape.length === 2 && weightHh.shape[0] === G && weightHh.shape[1] === H && biasIh.data.length === G && biasHh.data.length === G;
  if (!ok) throw new ShapeError(`LSTM weights weight_ih ${shapeStr(weightIh.shape)}, weight_hh ${shapeStr(weightHh.shape)}, biases ${shapeStr(biasIh.shape)} and ${shapeStr(biasHh.shape)} are not one cell's (weight_ih [4H, I], weight_hh [4H, H], biases [4H])`);
  const K = I + H;
  const w = new Float32Array(G * K);
  for (let r = 0; r < G; r++) {
    w.set(weightIh.data.subarray(r * I, (r + 1) * I), r * K);
    w.set(weightHh.data.subarray(r * H, (r + 1) * H), r * K + I);
  }
  return { weight: { shape: [G, K], data: w }, bias: { shape: [G], data: Float32Array.from(biasIh.data, (v, i) => v + biasHh.data[i]!) } };
}

/**
 * A PyTorch state dict of a coca LSTM captioner (scripts/reference/lstm_torch.py's names) in
 * coca's names: each cell's four tensors fused, batch norm's step counter dropped.
 */
export function fromTorchStateDict(sd: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  const cells = new Set<string>();
  for (const [name, t] of sd) {
    const m = /^(.*)\.(weight_ih|weight_hh|bias_ih|bias_hh)(_l0)?$/.exec(name);
    if (m) cells.add(`${m[1]}|${m[3] ?? ''}`);
    else if (!name.endsWith('.num_batches_tracked')) out.set(name, t);
  }
  for (const key of cells) {
    const [prefix, suffix] = key.split('|') as [string, string];
    const get = (k: string) => {
      const t = sd.get(`${prefix}.${k}${suffix}`);
      if (!t) throw new ShapeError(`state dict has ${prefix}'s LSTM weights but no ${prefix}.${k}${suffix}`);
      return t;
    };
    const f = fuseTorchLstm(get('weight_ih'), get('weight_hh'), get('bias_ih'), get('bias_hh'));
    out.set(`${prefix}.weight`, f.weight);
    out.set(`${prefix}.bias`, f.bias);
  }
  return out;
}
