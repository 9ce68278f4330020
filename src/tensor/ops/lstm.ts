// An LSTM layer over a sequence on the tape (gate order i, f, g, o, as PyTorch). The inputs are
// laid out once as [x_t | h_{t-1}] rows for every step, so each step is one gates matmul and one
// fused cell kernel that writes h_t into the next step's row; the backward runs the cell
// backward and one d[x | h] matmul per step, then dW and db once over the whole sequence.
import { copyRows } from '../../../kernels/copy.ts';
import { lstmCell, lstmCellBackward, lstmGates, lstmGatesBackward } from '../../../kernels/lstm.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { accumulateGrad, addColumnSums, gradSlot, newGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

export interface LstmOutput {
  /** [T, B, H]: h after every step. */
  h: Tensor;
  /** [B, H]: the cell state after the last step. */
  c: Tensor;
}

/**
 * Runs x [T, B, I] through an LSTM from h0, c0 [B, H] (null: zeros) with weight [4H, I + H] (=
 * [W_ih | W_hh]) and bias [4H] (= b_ih + b_hh; null: none).
 */
export function lstmSequence(x: Tensor, h0: Tensor | null, c0: Tensor | null, weight: Tensor, bias: Tensor | null): LstmOutput {
  const gpu = x.gpu;
  if (x.shape.length !== 3) throw new ShapeError(`lstm: x ${shapeStr(x.shape)} must be [steps, batch, input size]`);
  const [T, B, I] = x.shape as [number, number, number];
  const H = weight.shape[0]! / 4;
  const K = I + H;
  if (weight.shape.length !== 2 || !Number.isInteger(H) || weight.shape[1] !== K) throw new ShapeError(`lstm: weight ${shapeStr(weight.shape)} should be [4·hidden, ${I} + hidden] for x ${shapeStr(x.shape)}`);
  for (const [what, t, n] of [['h0', h0, B * H], ['c0', c0, B * H], ['bias', bias, 4 * H]] as const) {
    if (t && t.size !== n) throw new ShapeError(`lstm: ${what} ${shapeStr(t.shape)} does not fit batch ${B}, hidden ${H}`);
  }
  const rows = (t: Tensor, offset: number, rowStride: number) => ({ offset: t.offset + offset, batchStride: 0, rowStride });
  const at = (t: Tensor, shape: number[], offset = 0) => ({ buffer: t.buffer, shape, offset: t.offset + offset });

  const xh = Tensor.empty(gpu, [T, B, K], 'lstm.xh');
  copyRows(gpu, { src: x.buffer, dst: xh.buffer, B: 1, R: T * B, C: I, srcLayout: rows(x, 0, I), dstLayout: rows(xh, 0, K), label: 'lstm.x' });
  const hStart = h0 ?? Tensor.zeros(gpu, [B, H], 'lstm.h0');
  copyRows(gpu, { src: hStart.buffer, dst: xh.buffer, B: 1, R: B, C: H, srcLayout: rows(hStart, 0, H), dstLayout: rows(xh, I, K), label: 'lstm.h0' });
  if (!h0) hStart.release();
  const gates = Tensor.empty(gpu, [T, B, 4 * H], 'lstm.gates');
  const hs = Tensor.empty(gpu, [T, B, H], 'lstm.h');
  // c_t for t ≥ 1 alternates between two buffers, so a step never reads and writes the same one.
  const cOdd = Tensor.empty(gpu, [Math.ceil(T / 2), B, H], 'lstm.c_odd');
  const cEven = Tensor.empty(gpu, [Math.max(1, Math.floor(T / 2)), B, H], 'lstm.c_even');
  const cAt = (t: number) => (t === 0 ? (c0 ? at(c0, [B, H]) : undefined) : t % 2 ? at(cOdd, [B, H], ((t - 1) / 2) * B * H) : at(cEven, [B, H], (t / 2 - 1) * B * H));
  for (let t = 0; t < T; t++) {
    lstmGates(gpu, { xh: at(xh, [B, K], t * B * K), w: at(weight, [4 * H, K]), bias: bias ? at(bias, [4 * H]) : undefined, gates: at(gates, [B, 4 * H], t * B * 4 * H) });
    lstmCell(gpu, {
      gates: at(gates, [B, 4 * H], t * B * 4 * H),
      c: cAt(t),
      cOut: cAt(t + 1)!,
      h: at(hs, [B, H], t * B * H),
      hInto: t + 1 < T ? { buffer: xh.buffer, offset: xh.offset + (t + 1) * B * K + I, rowStride: K } : undefined,
    });
  }
  const cT = Tensor.empty(gpu, [B, H], 'lstm.c');
  const last = cAt(T)!;
  gpu.copy(last.buffer, cT.buffer, B * H * 4, last.offset * 4, cT.offset * 4);

  const tape = needsGrad(x, h0, c0, weight, bias);
  const scratch = [xh, gates, cOdd, cEven];
  if (!tape) {
    for (const s of scratch) s.release();
    return { h: hs, c: cT };
  }
  hs.requiresGrad = true;
  cT.requiresGrad = true;
  for (const s of scratch) tape.track(s);
  tape.record({
    op: 'lstmSequence',
    inputs: [x, ...(h0 ? [h0] : []), ...(c0 ? [c0] : []), weight, ...(bias ? [bias] : [])],
    outputs: [hs, cT],
    saved: [...scratch, weight, ...(c0 ? [c0] : [])],
    backward: ([dhs, dcT]) => {
      const dgates = Tensor.empty(gpu, [T, B, 4 * H], 'lstm.dgates');
      const dxh = Tensor.empty(gpu, [T, B, K], 'lstm.dxh');
      const dc = [Tensor.empty(gpu, [B, H], 'lstm.dc_a'), Tensor.empty(gpu, [B, H], 'lstm.dc_b')];
      for (let t = T - 1; t >= 0; t--) {
        const keepDc = t > 0 || !!c0?.requiresGrad;
        lstmCellBackward(gpu, {
          acts: at(gates, [B, 4 * H], t * B * 4 * H),
          c: cAt(t),
          dh: dhs ? at(dhs, [B, H], t * B * H) : undefined,
          dhInto: t + 1 < T ? { buffer: dxh.buffer, offset: dxh.offset + (t + 1) * B * K + I, rowStride: K } : undefined,
          dc: t + 1 < T ? at(dc[(t + 1) % 2]!, [B, H]) : dcT ? at(dcT, [B, H]) : undefined,
          dgates: at(dgates, [B, 4 * H], t * B * 4 * H),
          dcPrev: keepDc ? at(dc[t % 2]!, [B, H]) : undefined,
        });
        lstmGatesBackward(gpu, { dgates: at(dgates, [B, 4 * H], t * B * 4 * H), xh: at(xh, [B, K], t * B * K), w: at(weight, [4 * H, K]), dxh: at(dxh, [B, K], t * B * K) });
      }
      if (weight.requiresGrad) {
        const { grad, accumulate } = gradSlot(weight);
        lstmGatesBackward(gpu, { dgates: at(dgates, [T * B, 4 * H]), xh: at(xh, [T * B, K]), w: at(weight, [4 * H, K]), dw: at(grad, [4 * H, K]), accumulateDw: accumulate });
      }
      if (bias?.requiresGrad) addColumnSums(bias, dgates, T * B, 4 * H);
      const fromRows = (p: Tensor, R: number, C: number, offset: number) => {
        const accumulate = p.grad !== null;
        p.grad ??= newGrad(p);
        copyRows(gpu, { src: dxh.buffer, dst: p.grad.buffer, B: 1, R, C, srcLayout: rows(dxh, offset, K), dstLayout: rows(p.grad, 0, C), accumulate, label: `lstm.d${p.name}` });
      };
      if (x.requiresGrad) fromRows(x, T * B, I, 0);
      if (h0?.requiresGrad) fromRows(h0, B, H, I);
      if (c0?.requiresGrad) accumulateGrad(c0, dc[0]!);
      for (const s of [dgates, dxh, ...dc]) s.release();
    },
  });
  return { h: hs, c: cT };
}
