// Host side of the cross-entropy family (shaders/crossentropy.wgsl): shape and target checks,
// the count of rows that are not ignored (from the CPU copy of the targets, so the mean needs no
// GPU-side count), uniforms, dispatch.
//
// Semantics are torch.nn.functional.cross_entropy(logits, targets, ignore_index, reduction='mean')
// with one exception: a batch where every target is ignored gives loss 0 and a zero gradient,
// not NaN, so that a batch of padding cannot poison the parameters. `smoothing` ε is torch's
// label_smoothing: the target (1 − ε)·onehot + ε/V, i.e. loss = (1 − ε)·NLL + ε·mean_j(−log p_j).
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkTensor, grid2d, type TensorRef } from './common.ts';
import { checkIdsInRange, type TokenIds } from './embedding.ts';

/** torch's default ignore_index. */
export const IGNORE_INDEX = -100;

export interface CrossEntropyCall {
  /** [N, V] or [B, T, V]: the targets' shape with the vocabulary appended. */
  logits: TensorRef;
  /** Class ids in [0, V), or ignoreIndex. */
  targets: TokenIds;
  ignoreIndex?: number;
  /** 1 float: the mean loss over the rows whose target is not ignored. */
  loss: { buffer: GPUBuffer; offset?: number };
  /** [N]: each row's loss (0 on ignored rows). A scratch buffer when left out. */
  rowLoss?: TensorRef;
  /** [N, 2]: (max, log Σ exp(x − max)) per row, what crossEntropyBackward needs. Scratch when left out. */
  stats?: TensorRef;
  /** Same shape as logits: writes the gradient in the same dispatch (the fused training path). */
  grad?: TensorRef;
  /** Gradient multiplier (the loss weight times the upstream gradient when it is known now). */
  gradScale?: number;
  /** torch's label_smoothing ε in [0, 1]; default 0 (the unsmoothed kernel, unchanged). */
  smoothing?: number;
  label?: string;
}

export interface CrossEntropyBackwardCall {
  logits: TensorRef;
  targets: TokenIds;
  ignoreIndex?: number;
  /** [N, 2] as written by crossEntropy. */
  stats: TensorRef;
  /** Same shape as logits. */
  dlogits: TensorRef;
  /** 1 float on the GPU: the upstream gradient of the mean loss. */
  dloss?: GPUBuffer;
  gradScale?: number;
  /** The ε the forward ran with. */
  smoothing?: number;
  label?: string;
}

interface Checked {
  N: number;
  V: number;
  count: number;
  ignore: number;
  offLogits: number;
}

function check(gpu: Gpu, fn: string, logits: TensorRef, targets: TokenIds, ignoreIndex: number): Checked {
  const ls = logits.shape;
  const ts = targets.shape;
  const lead = ls.slice(0, -1);
  if (ls.length < 2 || lead.length !== ts.length || lead.some((d, i) => d !== ts[i])) {
    throw new ShapeError(`${fn}: logits [${ls.join(', ')}] do not fit targets [${ts.join(', ')}]; logits should be [${ts.join(', ')}, vocab]`);
  }
  const V = ls[ls.length - 1]!;
  if (!Number.isInteger(V) || V <= 0) throw new ShapeError(`${fn}: logits [${ls.join(', ')}] have no vocabulary`);
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) throw new ShapeError(`${fn}: ignoreIndex ${ignoreIndex} is not a 32-bit integer`);
  const offLogits = checkTensor(gpu, fn, 'logits', logits, ls).offset;
  checkIdsInRange(fn, 'targets', targets, V, ignoreIndex);
  let count = 0;
  for (const t of targets.host) if (t !== ignoreIndex) count++;
  return { N: targets.host.length, V, count, ignore: ignoreIndex >>> 0, offLogits };
}

function params(c: Checked, flags: number, offGrad: number, gradScale: number, offLoss: number, smoothing = 0): Uint32Array {
  const u = new Uint32Array(12);
  const f = new Float32Array(u.buffer);
  u.set([c.N, c.V, c.ignore, flags, c.offLogits, offGrad]);
  f[6] = gradScale;
  f[7] = c.count ? 1 / c.count : 0;
  u[8] = offLoss;
  f[9] = smoothing;
  return u;
}

/** ε checked; the defines that build the smoothed kernel when ε > 0 (ε = 0 keeps today's pipeline). */
function smoothingDefines(fn: string, smoothing: number | undefined): { smoothing: number; defines: { SMOOTH?: boolean } } {
  const e = smoothing ?? 0;
  if (!(e >= 0 && e <= 1)) throw new ShapeError(`${fn}: label smoothing ${e} must lie in [0, 1]`);
  return { smoothing: e, defines: e > 0 ? { SMOOTH: true } : {} };
}

// Real GPUs want more invocations per row than software adapters, where one workgroup is one
// SIMD loop on one core and a wider tree is only more barriers.
const wgSize = (gpu: Gpu) => (gpu.software ? 64 : 256);

/**
 * Records the mean cross-entropy of logits against targets into `loss` (and per-row losses,
 * the saved stats, and with `grad` the gradient of `gradScale`·loss). Returns the number of rows
 * that count.
 */
export function crossEntropy(gpu: Gpu, call: CrossEntropyCall): { count: number } {
  const fn = call.label ?? 'cross_entropy';
  const c = check(gpu, fn, call.logits, call.targets, call.ignoreIndex ?? IGNORE_INDEX);
  const lead = call.targets.shape;
  const scratch: GPUBuffer[] = [];
  const orScratch = (t: TensorRef | undefined, shape: number[], what: string): TensorRef => {
    if (t) return t;
    const b = gpu.alloc(shape.reduce((a, x) => a * x, 1), `${fn}:${what}`);
    scratch.push(b);
    return { buffer: b, shape };
  };
  const rowLoss = orScratch(call.rowLoss, [...lead], 'rowLoss');
  const stats = orScratch(call.stats, [c.N, 2], 'stats');
  const offRow = checkTensor(gpu, fn, 'rowLoss', rowLoss, lead).offset;
  const offStats = checkTensor(gpu, fn, 'stats', stats, [c.N, 2]).offset;
  if (offStats !== 0) throw new ShapeError(`${fn}: stats must start at offset 0 of its buffer (got ${offStats})`);
  const offLoss = checkTensor(gpu, fn, 'loss', { ...call.loss, shape: [1] }, [1]).offset;
  const offGrad = call.grad ? checkTensor(gpu, fn, 'grad', call.grad, call.logits.shape).offset : 0;
  if (call.grad?.buffer === call.logits.buffer) throw new ShapeError(`${fn}: grad must not share a buffer with logits (write the gradient elsewhere)`);
  const outs = [rowLoss.buffer, stats.buffer, call.loss.buffer, call.grad?.buffer];
  if (new Set(outs.filter(Boolean)).size !== outs.filter(Boolean).length) throw new ShapeError(`${fn}: loss, rowLoss, stats and grad need buffers of their own`);
  const grad = call.grad?.buffer ?? orScratch(undefined, [1], 'nograd').buffer;

  const WG = wgSize(gpu);
  const sm = smoothingDefines(fn, call.smoothing);
  const fwd = gpu.kernel({ file: 'crossentropy', entry: 'ce_fwd', defines: { WG, ...sm.defines }, bindings: ['read', 'read', 'read', 'rw', 'rw', 'rw'] });
  const u = params(c, call.grad ? 1 : 0, offGrad, call.gradScale ?? 1, offRow, sm.smoothing);
  gpu.dispatch(fwd, u, [call.logits.buffer, call.targets.buffer, gpu.unused, rowLoss.buffer, stats.buffer, grad], grid2d(gpu, c.N), `${fn}(${c.N}x${c.V})`);
  const mean = gpu.kernel({ file: 'crossentropy', entry: 'ce_mean', defines: { WG }, bindings: ['read', 'rw'] });
  gpu.dispatch(mean, params(c, 0, offLoss, 1, offRow), [rowLoss.buffer, call.loss.buffer], [1], `${fn}:mean(${c.N})`);
  // Safe to recycle at once: any later write to a pooled buffer is queued after these dispatches.
  for (const b of scratch) gpu.release(b);
  return { count: c.count };
}

/** Records dlogits = (softmax(logits) − target)·gradScale·dloss/count from saved stats (target: onehot, smoothed by ε). */
export function crossEntropyBackward(gpu: Gpu, call: CrossEntropyBackwardCall): void {
  const fn = call.label ?? 'cross_entropy_backward';
  const c = check(gpu, fn, call.logits, call.targets, call.ignoreIndex ?? IGNORE_INDEX);
  const offStats = checkTensor(gpu, fn, 'stats', call.stats, [c.N, 2]).offset;
  if (offStats !== 0) throw new ShapeError(`${fn}: stats must start at offset 0 of its buffer (got ${offStats})`);
  const offGrad = checkTensor(gpu, fn, 'dlogits', call.dlogits, call.logits.shape).offset;
  if (call.dlogits.buffer === call.logits.buffer || call.dlogits.buffer === call.stats.buffer) {
    throw new ShapeError(`${fn}: dlogits must not share a buffer with logits or stats`);
  }
  if (call.dloss && call.dloss.size < 4) throw new ShapeError(`${fn}: dloss buffer "${call.dloss.label}" holds no float`);
  const WG = wgSize(gpu);
  const sm = smoothingDefines(fn, call.smoothing);
  const k = gpu.kernel({ file: 'crossentropy', entry: 'ce_bwd', defines: { WG, ...sm.defines }, bindings: ['read', 'read', 'read', 'read', 'rw'] });
  const u = params(c, call.dloss ? 2 : 0, offGrad, call.gradScale ?? 1, 0, sm.smoothing);
  gpu.dispatch(k, u, [call.logits.buffer, call.targets.buffer, call.dloss ?? gpu.unused, call.stats.buffer, call.dlogits.buffer], grid2d(gpu, c.N), `${fn}(${c.N}x${c.V})`);
}
