// Multi-head attention on the tape, over the attention kernels (kernels/attention.ts). Q, K and V
// are read straight out of projection outputs [B, L, C] at a column offset (so one fused q|k|v
// projection needs no split or transpose), and the output is [B, Lq, H·D], what the output
// projection reads. The backward writes dQ, dK, dV into the same layouts.
import {
  attention as attentionKernel,
  attentionBackward,
  attentionOutProj as attentionOutProjKernel,
  attentionInProjFits,
  attentionInProjPays,
  attentionOutProjFits,
  attentionOutProjPays,
  attentionPathAvailable,
  releaseAttentionSaved,
  type AttentionCall,
  type AttentionPath,
  type HeadsRef,
} from '../../../kernels/attention.ts';
import { linear } from './linear.ts';
import type { PreNormed } from './prenorm.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { accumulateGrad, newGrad, newZeroGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { precisionOf } from '../precision.ts';
import { bufferAt, Tensor, shapeStr } from '../tensor.ts';

/** Heads of one of q, k, v: tensor t [B, L, C], head h at columns col + h·D. */
export type { AttentionPath };
/** Whether a path can run at a head dim on this device (the layers above choose with it). */
export { attentionPathAvailable };

export interface HeadsView {
  t: Tensor;
  col: number;
  /** Only positions 0..rows of t take part (a KV cache filled that far); default all L. */
  rows?: number;
}

export interface AttentionOptions {
  heads: number;
  causal?: boolean;
  /** u32 [B, Lk], nonzero = attend (key padding). */
  keyMask?: GPUBuffer;
  path?: AttentionPath;
  /** Where to write the attention weights [B, H, Lq, Lk] (inference only). */
  probs?: GPUBuffer;
  /**
   * A decode step (inference only): the Lq new key and value rows, written into k and v (views of
   * one KV cache) at rows Lk − Lq .. Lk − 1 inside the attention dispatch (kernels/attention.ts).
   */
  append?: { k: HeadsView; v: HeadsView };
}

function dims(v: HeadsView, what: string): [number, number, number] {
  if (v.t.shape.length !== 3) throw new ShapeError(`attention: ${what} ${shapeStr(v.t.shape)} should be [B, L, C]`);
  const [B, L, C] = v.t.shape as [number, number, number];
  if (v.rows === undefined) return [B, L, C];
  if (!Number.isInteger(v.rows) || v.rows < 1 || v.rows > L) throw new ShapeError(`attention: ${what} uses ${v.rows} of the ${L} positions of ${shapeStr(v.t.shape)}`);
  return [B, v.rows, C];
}

function heads(v: HeadsView, buffer: GPUBuffer, offset: number, D: number): HeadsRef {
  const [, L, C] = v.t.shape as [number, number, number];
  return { buffer, offset: offset + v.col, strides: [L * C, D, C] };
}

const runs: Record<AttentionPath, number> = { fused: 0, unfused: 0 };

/** How many attention forwards have run on each path in this process (tests assert which path a model took). */
export function attentionRuns(): Readonly<Record<AttentionPath, number>> {
  return { ...runs };
}

/** The kernel call for attention(q, k, v) (O left to the caller), its shapes checked. */
function kernelCall(q: HeadsView, k: HeadsView, v: HeadsView, d: number, opts: AttentionOptions) {
  const [B, Lq, Cq] = dims(q, 'q');
  const [Bk, Lk, Ck] = dims(k, 'k');
  const [Bv, Lv, Cv] = dims(v, 'v');
  const H = opts.heads;
  const D = d / H;
  if (!Number.isInteger(D)) throw new ShapeError(`attention: width ${d} is not divisible by ${H} heads`);
  if (Bk !== B || Bv !== B || Lv !== Lk) throw new ShapeError(`attention: q ${shapeStr(q.t.shape)}, k ${shapeStr(k.t.shape)}, v ${shapeStr(v.t.shape)} do not line up`);
  for (const [what, view, C] of [['q', q, Cq], ['k', k, Ck], ['v', v, Cv]] as const) {
    if (view.col < 0 || view.col + d > C) throw new ShapeError(`attention: ${what} columns ${view.col}..${view.col + d} are outside ${shapeStr(view.t.shape)}`);
  }
  const tape = needsGrad(q.t, k.t, v.t);
  if (tape && [q, k, v].some((x) => x.rows !== undefined)) throw new ShapeError('attention: views over part of a tensor (rows) are for decoding only; the backward needs whole tensors');
  const append = opts.append;
  if (append) {
    if (tape) throw new ShapeError('attention: the KV-cache append is for decoding only (no gradients)');
    for (const [what, view] of [['appended k', append.k], ['appended v', append.v]] as const) {
      const [Bn, Ln, Cn] = dims(view, what);
      if (Bn !== B || Ln !== Lq || view.col < 0 || view.col + d > Cn) throw new ShapeError(`attention: ${what} (columns ${view.col}..${view.col + d} of ${shapeStr(view.t.shape)}) is not ${Lq} rows of q's ${B} batches`);
    }
  }
  const gpu = q.t.gpu;
  const call: Omit<AttentionCall, 'o'> = {
    B,
    H,
    Lq,
    Lk,
    D,
    q: heads(q, q.t.buffer, q.t.offset, D),
    k: heads(k, k.t.buffer, k.t.offset, D),
    v: heads(v, v.t.buffer, v.t.offset, D),
    causal: opts.causal,
    keyMask: opts.keyMask,
    // A forced path is a demand: one that cannot run here is the kernel's ShapeError, not
    // quietly the other path (a test comparing both would compare one with itself).
    path: opts.path,
    probs: opts.probs,
    // Mixed precision (`--precision f16`): f16 inputs, f32 arithmetic, as the products.
    f16Inputs: precisionOf(gpu) === 'f16',
    append: append && { k: heads(append.k, append.k.t.buffer, append.k.t.offset, D), v: heads(append.v, append.v.t.buffer, append.v.t.offset, D) },
  };
  return { gpu, call, tape };
}

/**
 * out_proj(attention(q, k, v)) (+ residual): y = O·Wᵀ + b (+ residual), W [N, d]. A decoding
 * step's single query row with nothing to differentiate, at a batch of a row or two, takes both in
 * one dispatch (kernels/attention.ts attentionOutProj, the same bits); anything else runs
 * attention, then linear.
 */
export function attentionOutProj(q: HeadsView, k: HeadsView, v: HeadsView, d: number, opts: AttentionOptions, weight: Tensor, bias: Tensor, residual?: Tensor): Tensor {
  const { gpu, call, tape } = kernelCall(q, k, v, d, opts);
  const N = weight.shape[0]!;
  // Anything off is left to attention and linear, which say what is wrong.
  const fits = weight.shape.length === 2 && weight.shape[1] === d && bias.size === N && (!residual || (residual.shape.length === 3 && residual.shape[0] === call.B && residual.shape[1] === 1 && residual.shape[2] === N));
  if (!fits || tape || needsGrad(weight, bias, residual) || !attentionOutProjPays(gpu, call.B) || !attentionOutProjFits(gpu, call, weight.offset)) return linear(attention(q, k, v, d, opts), weight, bias, residual);
  const y = Tensor.empty(gpu, [call.B, 1, N], 'attention+out_proj');
  attentionOutProjKernel(gpu, call, { N, weight: bufferAt(weight), bias: bufferAt(bias), residual: residual ? bufferAt(residual) : undefined, y: bufferAt(y) });
  runs.fused++;
  return y;
}

/** A decoding step's attention branch as decodeBranch takes it: the block input, its layernorm and in-projection. */
export interface BranchInput {
  /** The block's input [B, 1, d] and its layernorm (ln_1): also the branch's residual. */
  x: PreNormed;
  /** The in-projection: q|k|v ([3d, d], selfKV) or q alone ([d, d]), and its bias. */
  weight: Tensor;
  bias: Tensor;
  /** Whether the projection makes the new key and value rows, for k and v's cache row Lk − 1. */
  selfKV: boolean;
}

/**
 * Whether decodeBranch takes this step's attention branch: one query row per batch at a batch
 * attentionOutProjPays and attentionInProjPays allow, nothing to differentiate, f32, and shapes
 * and alignments the kernel takes (attentionOutProjFits, attentionInProjFits). The key count does not enter the kernels'
 * choice at a decoding step's sizes, so it is asked before the cache grows (Lk = 1 stands in).
 */
export function decodeBranchFits(inp: BranchInput, d: number, opts: AttentionOptions, outWeight: Tensor, outBias: Tensor): boolean {
  const { x, norm } = inp.x;
  const gpu = x.gpu;
  const [B, L, C] = x.shape;
  const H = opts.heads;
  const D = d / H;
  const cols = (inp.selfKV ? 3 : 1) * d;
  if (x.shape.length !== 3 || L !== 1 || C !== d || !Number.isInteger(D) || precisionOf(gpu) !== 'f32' || opts.probs || opts.append) return false;
  if (inp.weight.shape[0] !== cols || inp.weight.shape[1] !== d || inp.bias.size !== cols || norm.weight.size !== d || norm.bias.size !== d) return false;
  if (outWeight.shape[0] !== d || outWeight.shape[1] !== d || outBias.size !== d) return false;
  if (needsGrad(x, norm.weight, norm.bias, inp.weight, inp.bias, outWeight, outBias)) return false;
  const call = { B: B!, Lq: 1, Lk: 1, H, D, path: opts.path };
  return attentionOutProjPays(gpu, B!) && attentionInProjPays(gpu, B!) && attentionOutProjFits(gpu, call, outWeight.offset) && attentionInProjFits(gpu, call, inp.weight.offset, inp.selfKV);
}

/**
 * A decoding step's attention branch in one dispatch: x + out_proj(attention(q, k, v)) with q (and,
 * selfKV, the new key and value rows, written into k and v's cache at row Lk − 1) from
 * in_proj(ln_1(x)), the bits of the separate products and attention (kernels/attention.ts
 * attentionOutProj with its in-projection). Only where decodeBranchFits. Returns [B, 1, d].
 */
export function decodeBranch(inp: BranchInput, k: HeadsView, v: HeadsView, d: number, opts: AttentionOptions, outWeight: Tensor, outBias: Tensor): Tensor {
  const { x, norm } = inp.x;
  const gpu = x.gpu;
  const B = x.shape[0]!;
  const H = opts.heads;
  const D = d / H;
  const [Bk, Lk] = dims(k, 'k');
  const [Bv, Lv] = dims(v, 'v');
  if (Bk !== B || Bv !== B || Lv !== Lk) throw new ShapeError(`attention: x ${shapeStr(x.shape)}, k ${shapeStr(k.t.shape)}, v ${shapeStr(v.t.shape)} do not line up`);
  const y = Tensor.empty(gpu, [B, 1, d], 'attention_branch');
  const call = { B, H, Lq: 1, Lk, D, q: { buffer: gpu.unused }, k: heads(k, k.t.buffer, k.t.offset, D), v: heads(v, v.t.buffer, v.t.offset, D), causal: opts.causal, keyMask: opts.keyMask, path: opts.path };
  attentionOutProjKernel(gpu, call, { N: d, weight: bufferAt(outWeight), bias: bufferAt(outBias), residual: bufferAt(x), y: bufferAt(y) }, { weight: bufferAt(inp.weight), bias: bufferAt(inp.bias), gamma: bufferAt(norm.weight), beta: bufferAt(norm.bias), selfKV: inp.selfKV });
  runs.fused++;
  return y;
}

/** softmax(QKᵀ/√D + mask)·V per head; d = H·D model width. Returns [B, Lq, d]. */
export function attention(q: HeadsView, k: HeadsView, v: HeadsView, d: number, opts: AttentionOptions): Tensor {
  const { gpu, call: c, tape } = kernelCall(q, k, v, d, opts);
  const { B, H, Lq, Lk, D } = c;
  const o = Tensor.empty(gpu, [B, Lq, d], 'attention');
  const call: AttentionCall = { ...c, o: { buffer: o.buffer, offset: o.offset, strides: [Lq * d, D, d] } };
  const saved = attentionKernel(gpu, call);
  runs[saved.path]++;
  if (!tape) {
    releaseAttentionSaved(gpu, saved);
    return o;
  }
  o.requiresGrad = true;
  // The kernel's saved state as tensors, so the tape frees it with everything else.
  const keep = [Tensor.adopt(gpu, saved.lse, [B * H * Lq], 'attention.lse')];
  if (saved.probs && saved.ownsProbs) keep.push(Tensor.adopt(gpu, saved.probs, [B * H * Lq * Lk], 'attention.probs'));
  for (const t of keep) tape.track(t);
  const inputs = [...new Set([q.t, k.t, v.t])];
  tape.record({
    op: 'attention',
    inputs,
    outputs: [o],
    saved: [...inputs, o, ...keep],
    backward: ([dO]) => {
      // Each distinct input gets one gradient buffer; columns no view covers must read 0.
      const targets = new Map<Tensor, { g: Tensor; scratch: boolean }>();
      for (const t of inputs) {
        const covered = new Set([q, k, v].filter((x) => x.t === t).map((x) => x.col));
        const full = covered.size * d === t.shape[2]!;
        const fresh = () => (full ? Tensor.empty(gpu, t.shape, `grad(${t.name})`) : Tensor.zeros(gpu, t.shape, `grad(${t.name})`));
        if (t.grad || !t.requiresGrad) targets.set(t, { g: fresh(), scratch: true });
        else {
          t.grad = full ? newGrad(t) : newZeroGrad(t);
          targets.set(t, { g: t.grad, scratch: false });
        }
      }
      const g = (x: HeadsView) => heads(x, targets.get(x.t)!.g.buffer, targets.get(x.t)!.g.offset, D);
      attentionBackward(gpu, call, saved, { dO: { buffer: dO!.buffer, offset: dO!.offset }, dQ: g(q), dK: g(k), dV: g(v) });
      for (const [t, { g: grad, scratch }] of targets) {
        if (!scratch) continue;
        if (t.requiresGrad) accumulateGrad(t, grad);
        grad.release();
      }
    },
  });
  return o;
}
