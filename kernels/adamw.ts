// Host side of the AdamW family (shaders/adamw.wgsl): the optimizer step over flat buffers with a
// weight-decay flag per tensor, the global gradient norm with clipping, and a finite check that the
// trainer reads with a 4-byte readback.
//
// The usual layout is one flat buffer each for parameters, gradients, m and v, with tensors at
// fixed offsets; `segments` says which ranges decay. Adjacent segments with the same flag are
// merged and each run is one dispatch, so a trainer that places every decayed tensor first pays
// two dispatches per step. adamwList takes tensors in buffers of their own (one dispatch each).
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkExtent, grid2d } from './common.ts';

export interface AdamWHyper {
  lr: number;
  /** Defaults as torch.optim.AdamW: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** A tensor inside the flat buffers: elements [offset, offset + length), and whether it decays. */
export interface AdamWSegment {
  offset: number;
  length: number;
  decay: boolean;
}

export interface AdamWCall {
  params: GPUBuffer;
  grads: GPUBuffer;
  /** First and second moments, zero before step 1. */
  m: GPUBuffer;
  v: GPUBuffer;
  segments: readonly AdamWSegment[];
  /** 1 on the first update, as torch's state['step'] after its increment. */
  step: number;
  hyper: AdamWHyper;
  /** Stats written by gradNorm: the gradients are multiplied by its clip scale on the fly. */
  clip?: GPUBuffer;
  /** Leave everything unchanged when the `clip` stats say a gradient (or a checked loss) is NaN/Inf. */
  skipNonFinite?: boolean;
  label?: string;
}

/** Part of a flat gradient buffer. */
export interface GradSlice {
  buffer: GPUBuffer;
  offset?: number;
  length: number;
}

/** stats layout (4 floats): the norm, the clip scale, 1 if any gradient is NaN/Inf, 0. */
export const STATS_FLOATS = 4;
export const STATS_NONFINITE = 2;

const WG = 64; // as shaders/adamw.wgsl WG
const PARAMS_WORDS = 20; // shaders/adamw.wgsl Params
const CHUNK = WG * 64; // elements per sumsq_partial workgroup

function checkRange(gpu: Gpu, fn: string, what: string, buffer: GPUBuffer, offset: number, length: number): void {
  if (!Number.isInteger(length) || length <= 0) throw new ShapeError(`${fn}: ${what} range [${offset}, ${offset} + ${length}) needs a positive integer length`);
  checkExtent(gpu, fn, () => `${what} range [${offset}, ${offset + length})`, buffer, offset, length);
}

/** Sorted, non-overlapping runs of equal decay flag. */
export function mergeSegments(fn: string, segments: readonly AdamWSegment[]): AdamWSegment[] {
  const sorted = [...segments].sort((a, b) => a.offset - b.offset);
  const runs: AdamWSegment[] = [];
  for (const s of sorted) {
    const last = runs[runs.length - 1];
    if (last && s.offset < last.offset + last.length) {
      throw new ShapeError(`${fn}: segment [${s.offset}, ${s.offset + s.length}) overlaps [${last.offset}, ${last.offset + last.length})`);
    }
    if (last && last.decay === s.decay && last.offset + last.length === s.offset) last.length += s.length;
    else runs.push({ ...s });
  }
  return runs;
}

interface Resolved {
  beta1: number;
  beta2: number;
  eps: number;
  wd: number;
}

function hyperOf(fn: string, h: AdamWHyper, step: number): Resolved {
  const r = { beta1: h.beta1 ?? 0.9, beta2: h.beta2 ?? 0.999, eps: h.eps ?? 1e-8, wd: h.weightDecay ?? 0.01 };
  if (!Number.isInteger(step) || step < 1 || step >= 2 ** 32) throw new ShapeError(`${fn}: step ${step} must be an integer ≥ 1 (torch counts from 1)`);
  if (!(h.lr >= 0) || !(r.eps >= 0) || !(r.wd >= 0)) throw new ShapeError(`${fn}: lr ${h.lr}, eps ${r.eps} and weightDecay ${r.wd} must be ≥ 0`);
  for (const [k, b] of [['beta1', r.beta1], ['beta2', r.beta2]] as const) if (!(b >= 0 && b < 1)) throw new ShapeError(`${fn}: ${k} ${b} must be in [0, 1)`);
  return r;
}

/** Records one AdamW update of every segment. */
export function adamw(gpu: Gpu, call: AdamWCall): void {
  const fn = call.label ?? 'adamw';
  const h = hyperOf(fn, call.hyper, call.step);
  const bufs = { params: call.params, grads: call.grads, m: call.m, v: call.v };
  if (new Set(Object.values(bufs)).size !== 4) throw new ShapeError(`${fn}: params, grads, m and v need four different buffers`);
  if (call.clip && call.clip.size < STATS_FLOATS * 4) throw new ShapeError(`${fn}: clip stats buffer "${call.clip.label}" holds fewer than ${STATS_FLOATS} floats`);
  if (call.skipNonFinite && !call.clip) throw new ShapeError(`${fn}: skipNonFinite needs the clip stats buffer that says whether to skip`);
  const runs = mergeSegments(fn, call.segments);
  if (!runs.length) throw new ShapeError(`${fn}: no segments to update`);
  for (const r of runs) for (const [name, b] of Object.entries(bufs)) checkRange(gpu, fn, name, b, r.offset, r.length);

  // Float64 on the host, then f32 into the uniforms: see the shader header.
  const lr = call.hyper.lr;
  const bc1 = 1 - h.beta1 ** call.step;
  const bc2 = 1 - h.beta2 ** call.step;
  // Segments on 16-byte boundaries take the vec4 entry point (the same bits: adamw.wgsl);
  // COCA_ADAMW_VEC4=0 turns it off.
  const vec4 = gpu.setting('COCA_ADAMW_VEC4') !== '0';
  for (const r of runs) {
    const k = gpu.kernel({ file: 'adamw', entry: vec4 && r.offset % 4 === 0 && r.length % 4 === 0 ? 'adamw_step4' : 'adamw_step', bindings: ['rw', 'read', 'rw', 'rw', 'read'] });
    const u = new Uint32Array(PARAMS_WORDS);
    const f = new Float32Array(u.buffer);
    u.set([r.length, r.offset, (call.clip ? 1 : 0) | (call.skipNonFinite ? 2 : 0), call.step]);
    f.set([r.decay ? 1 - lr * h.wd : 1, h.beta1, h.beta2, h.eps, 1 - h.beta1, 1 - h.beta2, lr / bc1, 1 / Math.sqrt(bc2)], 4);
    gpu.dispatch(k, u, [call.params, call.grads, call.m, call.v, call.clip ?? gpu.unused], grid2d(gpu, Math.ceil(r.length / (4 * WG))), `${fn}(${r.length}${r.decay ? '' : ', no decay'})`);
  }
}

export interface AdamWTensor {
  params: GPUBuffer;
  grads: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  length: number;
  decay: boolean;
}

/** One AdamW update of tensors that each have buffers of their own. */
export function adamwList(gpu: Gpu, tensors: readonly AdamWTensor[], step: number, hyper: AdamWHyper, clip?: GPUBuffer, skipNonFinite = false): void {
  tensors.forEach((t, i) => adamw(gpu, { ...t, segments: [{ offset: 0, length: t.length, decay: t.decay }], step, hyper, clip, skipNonFinite, label: `adamw[${i}]` }));
}

/**
 * Records stats = [‖g‖₂ over every slice, min(1, maxNorm/(‖g‖ + 1e-6)), any NaN/Inf, 0] into
 * `stats` (STATS_FLOATS floats). Deterministic: fixed chunks, fixed order, no atomics. With
 * `alsoCheck`, stats[from .. from + count) being NaN/Inf also sets the flag (the step's losses).
 * `lossScale` S: the slices hold S·g (a scaled loss's gradients); the norm is then ‖g‖ and the
 * clip scale min(1, maxNorm/(‖g‖ + 1e-6))/S, so an update applying it divides S out (a power of
 * two: exactly).
 */
export function gradNorm(gpu: Gpu, grads: readonly GradSlice[], stats: GPUBuffer, maxNorm = 3.0e38, alsoCheck?: { from: number; count: number }, lossScale = 1): void {
  const fn = 'grad_norm';
  if (!grads.length) throw new ShapeError(`${fn}: no gradients given`);
  if (stats.size < STATS_FLOATS * 4) throw new ShapeError(`${fn}: stats buffer "${stats.label}" holds fewer than ${STATS_FLOATS} floats`);
  if (!(maxNorm > 0) || maxNorm > 3.0e38) throw new ShapeError(`${fn}: maxNorm ${maxNorm} must be positive and finite in float32`);
  if (!(lossScale >= 2 ** -24 && lossScale <= 2 ** 64)) throw new ShapeError(`${fn}: loss scale ${lossScale} must lie in [2^-24, 2^64]`);
  if (alsoCheck && (alsoCheck.from < STATS_FLOATS || !Number.isInteger(alsoCheck.from) || !Number.isInteger(alsoCheck.count) || alsoCheck.count < 0)) {
    throw new ShapeError(`${fn}: the extra floats to check must lie after the ${STATS_FLOATS} stats floats`);
  }
  if (alsoCheck) checkExtent(gpu, fn, 'checked floats', stats, alsoCheck.from, alsoCheck.count);
  for (const g of grads) {
    checkRange(gpu, fn, 'gradient', g.buffer, g.offset ?? 0, g.length);
    if (g.buffer === stats) throw new ShapeError(`${fn}: stats must not share a buffer with the gradients`);
  }
  const parts = grads.map((g) => Math.ceil(g.length / CHUNK));
  const total = parts.reduce((a, b) => a + b, 0);
  const partials = gpu.alloc(2 * total, `${fn}:partials`);
  const kp = gpu.kernel({ file: 'adamw', entry: 'sumsq_partial', bindings: ['read', 'rw'] });
  let base = 0;
  grads.forEach((g, i) => {
    const u = new Uint32Array(PARAMS_WORDS);
    u.set([g.length, g.offset ?? 0]);
    u.set([CHUNK, base], 12);
    gpu.dispatch(kp, u, [g.buffer, partials], grid2d(gpu, parts[i]!), `${fn}:partial(${g.length})`);
    base += parts[i]!;
  });
  const u = new Uint32Array(PARAMS_WORDS);
  u[14] = total;
  new Float32Array(u.buffer)[15] = maxNorm;
  u.set([alsoCheck?.from ?? 0, alsoCheck?.count ?? 0], 16);
  new Float32Array(u.buffer)[18] = 1 / lossScale;
  gpu.dispatch(gpu.kernel({ file: 'adamw', entry: 'sumsq_final', bindings: ['read', 'rw'] }), u, [partials, stats], [1], `${fn}:final(${total} parts)`);
  // Safe to recycle at once: any later write to a pooled buffer is queued after these dispatches.
  gpu.release(partials);
}

/** torch.nn.utils.clip_grad_norm_: gradNorm, then every slice multiplied by the scale in place. */
export function clipGradNorm(gpu: Gpu, grads: readonly GradSlice[], maxNorm: number, stats: GPUBuffer): void {
  gradNorm(gpu, grads, stats, maxNorm);
  const k = gpu.kernel({ file: 'adamw', entry: 'scale_inplace', bindings: ['read', 'rw'] });
  for (const g of grads) {
    const u = new Uint32Array(PARAMS_WORDS);
    u.set([g.length, g.offset ?? 0]);
    gpu.dispatch(k, u, [stats, g.buffer], grid2d(gpu, Math.ceil(g.length / (4 * WG))), `clip_grad_norm:scale(${g.length})`);
  }
}

/** Whether the last gradNorm into `stats` met a NaN or Inf: a 4-byte readback. */
export async function readNonFinite(gpu: Gpu, stats: GPUBuffer): Promise<boolean> {
  const bytes = await gpu.readBytes(stats, 4, STATS_NONFINITE * 4, 'finite-check');
  return new Float32Array(bytes)[0] !== 0;
}
