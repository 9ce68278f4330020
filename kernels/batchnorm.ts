// Host side of the batch norm family (shaders/batchnorm.wgsl): statistics per channel of a
// channel-major tensor [B, C, spatial...] (NCHW; [B, C] for a batch norm over features), in
// training (batch statistics, running averages updated) or inference (running statistics);
// the backward gives dx, dγ, dβ in either mode. Shape checks, uniforms, dispatch.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, grid2d, sameShape, type TensorRef } from './common.ts';

/** PyTorch's defaults. */
export const BATCHNORM_EPS = 1e-5;
export const BATCHNORM_MOMENTUM = 0.1;

const WG = 64;
/** Elements per invocation of the elementwise passes over planes (shaders/batchnorm.wgsl's EPT). */
const EPT = 16;

export interface BatchnormCall {
  /** [B, C, ...]: normalised per channel over the batch and every axis after C. */
  x: TensorRef;
  gamma: TensorRef;
  beta: TensorRef;
  /** Shaped as x. */
  y: TensorRef;
  /** [C] each, written in both modes (the batch's statistics, or the running ones): the backward reads them. */
  mean: TensorRef;
  rstd: TensorRef;
  /** Batch statistics (training) or the running ones (inference). */
  training: boolean;
  /** [C] each; updated in place when training (optional then), read in inference (required). */
  runningMean?: TensorRef;
  runningVar?: TensorRef;
  momentum?: number;
  eps?: number;
  label?: string;
}

export interface BatchnormBackwardCall {
  x: TensorRef;
  gamma: TensorRef;
  /** The forward's saved statistics. */
  mean: TensorRef;
  rstd: TensorRef;
  dy: TensorRef;
  /** Whether the forward used the batch statistics (then dx flows through them too). */
  training: boolean;
  /** Skipped when absent. */
  dx?: TensorRef;
  /** dx += the gradient instead of dx = it. */
  accumulateDx?: boolean;
  /** [C] each, overwritten; skipped when absent. */
  dgamma?: TensorRef;
  dbeta?: TensorRef;
  label?: string;
}

interface Dims {
  C: number;
  /** Elements per (batch, channel): the product of the axes after C. */
  S: number;
  /** Elements per channel: B·S. */
  n: number;
  total: number;
}

function dims(op: string, x: readonly number[]): Dims {
  if (x.length < 2) throw new ShapeError(`${op}: x ${describeShape(x)} must be [batch, channels, ...]`);
  const [B, C] = x as [number, number];
  const S = x.slice(2).reduce((a, b) => a * b, 1);
  return { C, S, n: B * S, total: B * C * S };
}

function uniforms(d: Dims, flags: number, off: Partial<Record<'x' | 'g' | 'b' | 'y' | 'mean' | 'rstd' | 'rm' | 'rv' | 'dy', number>>, eps = BATCHNORM_EPS, momentum = BATCHNORM_MOMENTUM): ArrayBuffer {
  const u = new ArrayBuffer(64);
  new Uint32Array(u).set([d.C, d.S, d.n, d.total, flags, off.x ?? 0, off.g ?? 0, off.b ?? 0, off.y ?? 0, off.mean ?? 0, off.rstd ?? 0, off.rm ?? 0, off.rv ?? 0, off.dy ?? 0]);
  new Float32Array(u).set([eps, momentum], 14);
  return u;
}

const UPDATE_RUNNING = 1;
const TRAINING = 2;
const ACCUMULATE = 4;
const PLANES = 8;

/** The elementwise passes' grid and flag: (b, c) planes of ≥ 64 along y and z, else a flat range. */
function elementwise(gpu: Gpu, d: Dims): { flag: number; grid: [number, number, number] } {
  const B = d.n / d.S;
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (d.S >= WG && d.C <= max && B <= max) return { flag: PLANES, grid: [Math.ceil(d.S / (WG * EPT)), d.C, B] };
  const [x, y] = grid2d(gpu, Math.ceil(d.total / WG));
  return { flag: 0, grid: [x, y, 1] };
}

/** Records y = (x − mean)·rstd·γ + β per channel, with the batch's or the running statistics. */
export function batchnorm(gpu: Gpu, call: BatchnormCall): void {
  const name = call.label ?? 'batchnorm';
  const d = dims(name, call.x.shape);
  const c = (k: string, t: TensorRef, shape?: readonly number[]) => checkTensor(gpu, name, k, t, shape);
  const cx = c('x', call.x);
  const cy = c('y', call.y, call.x.shape);
  const [cg, cb, cm, cr] = [c('gamma', call.gamma, [d.C]), c('beta', call.beta, [d.C]), c('mean', call.mean, [d.C]), c('rstd', call.rstd, [d.C])];
  const rm = call.runningMean;
  const rv = call.runningVar;
  if (!!rm !== !!rv) throw new ShapeError(`${name}: give runningMean and runningVar together`);
  if (!call.training && !rm) throw new ShapeError(`${name}: inference needs runningMean and runningVar`);
  if (call.training && d.n < 2) throw new ShapeError(`${name}: x ${describeShape(call.x.shape)} has ${d.n} value per channel; training statistics need more than 1`);
  const crm = rm ? c('runningMean', rm, [d.C]) : null;
  const crv = rv ? c('runningVar', rv, [d.C]) : null;
  if (call.mean.buffer === call.rstd.buffer) throw new ShapeError(`${name}: mean and rstd need a buffer each`);
  const eps = call.eps ?? BATCHNORM_EPS;
  const off = { x: cx.offset, g: cg.offset, b: cb.offset, y: cy.offset, mean: cm.offset, rstd: cr.offset, rm: crm?.offset, rv: crv?.offset };
  if (call.training) {
    const outs: [string, TensorRef | undefined][] = [['mean', call.mean], ['rstd', call.rstd], ['runningMean', rm], ['runningVar', rv]];
    for (const o of outs) checkDistinct(name, o, ['x', call.x]);
    if (rm && (rm.buffer === rv!.buffer || [call.mean.buffer, call.rstd.buffer].includes(rm.buffer) || [call.mean.buffer, call.rstd.buffer].includes(rv!.buffer))) {
      throw new ShapeError(`${name}: mean, rstd, runningMean and runningVar need a buffer each`);
    }
    const k = gpu.kernel({ file: 'batchnorm', entry: 'bn_stats', bindings: ['read', 'rw', 'rw', 'rw', 'rw'] });
    const u = uniforms(d, rm ? UPDATE_RUNNING : 0, off, eps, call.momentum ?? BATCHNORM_MOMENTUM);
    // Two writable bindings may not share a buffer, not even the unused one: a stand-in each.
    const spare = rm ? [] : [gpu.alloc(1, `${name}:no-running-mean`), gpu.alloc(1, `${name}:no-running-var`)];
    gpu.dispatch(k, new Uint32Array(u), [call.x.buffer, call.mean.buffer, call.rstd.buffer, rm?.buffer ?? spare[0]!, rv?.buffer ?? spare[1]!], grid2d(gpu, d.C), `${name}.stats${describeShape(call.x.shape)}`);
    for (const b of spare) gpu.release(b);
  } else {
    for (const o of [['mean', call.mean], ['rstd', call.rstd]] as const) checkDistinct(name, o, ['runningMean', rm], ['runningVar', rv]);
    const k = gpu.kernel({ file: 'batchnorm', entry: 'bn_eval_stats', bindings: ['read', 'read', 'rw', 'rw'] });
    gpu.dispatch(k, new Uint32Array(uniforms(d, 0, off, eps)), [rm!.buffer, rv!.buffer, call.mean.buffer, call.rstd.buffer], grid2d(gpu, Math.ceil(d.C / WG)), `${name}.evalstats[${d.C}]`);
  }
  checkDistinct(name, ['y', call.y], ['x', call.x], ['mean', call.mean], ['rstd', call.rstd], ['gamma', call.gamma], ['beta', call.beta]);
  const k = gpu.kernel({ file: 'batchnorm', entry: 'bn_apply', bindings: ['read', 'read', 'read', 'read', 'read', 'rw'] });
  const ew = elementwise(gpu, d);
  gpu.dispatch(k, new Uint32Array(uniforms(d, ew.flag, off, eps)), [call.x.buffer, call.mean.buffer, call.rstd.buffer, call.gamma.buffer, call.beta.buffer, call.y.buffer], ew.grid, `${name}${describeShape(call.x.shape)}`);
}

/**
 * Records dx, dγ = Σ dy·x̂ and dβ = Σ dy per channel. Each channel's sums are folded by one
 * workgroup in a fixed order: the same bits on every run.
 */
export function batchnormBackward(gpu: Gpu, call: BatchnormBackwardCall): void {
  const name = call.label ?? 'batchnormBackward';
  const d = dims(name, call.x.shape);
  const c = (k: string, t: TensorRef, shape?: readonly number[]) => checkTensor(gpu, name, k, t, shape);
  const cx = c('x', call.x);
  const cdy = c('dy', call.dy, call.x.shape);
  const [cg, cm, cr] = [c('gamma', call.gamma, [d.C]), c('mean', call.mean, [d.C]), c('rstd', call.rstd, [d.C])];
  const cdg = call.dgamma ? c('dgamma', call.dgamma, [d.C]) : null;
  const cdb = call.dbeta ? c('dbeta', call.dbeta, [d.C]) : null;
  if (call.dx && !sameShape(call.dx.shape, call.x.shape)) throw new ShapeError(`${name}: dx ${describeShape(call.dx.shape)} should be ${describeShape(call.x.shape)}`);
  const cdx = call.dx ? c('dx', call.dx) : null;
  const off = { x: cx.offset, g: cg.offset, y: cdx?.offset, mean: cm.offset, rstd: cr.offset, dy: cdy.offset };
  // Σ dy·x̂ then Σ dy: dγ and dβ themselves, and what dx needs of them in training.
  const needSums = !!cdg || !!cdb || (call.training && !!cdx);
  const sums = needSums ? gpu.alloc(2 * d.C, `${name}:sums`) : gpu.unused;
  if (needSums) {
    const k = gpu.kernel({ file: 'batchnorm', entry: 'bn_bwd_sums', bindings: ['read', 'read', 'read', 'read', 'rw'] });
    gpu.dispatch(k, new Uint32Array(uniforms(d, 0, off)), [call.x.buffer, call.dy.buffer, call.mean.buffer, call.rstd.buffer, sums], grid2d(gpu, d.C), `${name}.sums${describeShape(call.x.shape)}`);
  }
  if (cdx) {
    checkDistinct(name, ['dx', call.dx], ['x', call.x], ['dy', call.dy], ['mean', call.mean], ['rstd', call.rstd], ['gamma', call.gamma]);
    const ew = elementwise(gpu, d);
    const flags = (call.training ? TRAINING : 0) | (call.accumulateDx ? ACCUMULATE : 0) | ew.flag;
    const k = gpu.kernel({ file: 'batchnorm', entry: 'bn_bwd_dx', bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'rw'] });
    gpu.dispatch(k, new Uint32Array(uniforms(d, flags, off)), [call.x.buffer, call.dy.buffer, call.mean.buffer, call.rstd.buffer, call.gamma.buffer, sums, call.dx!.buffer], ew.grid, `${name}.dx${describeShape(call.x.shape)}`);
  }
  if (cdg) gpu.copy(sums, call.dgamma!.buffer, d.C * 4, 0, cdg.offset * 4);
  if (cdb) gpu.copy(sums, call.dbeta!.buffer, d.C * 4, d.C * 4, cdb.offset * 4);
  if (needSums) gpu.release(sums);
}

/** Bytes of one call (napkin math): training forward reads x twice (statistics) and once more to write y; the backward reads x and dy twice, writes dx. */
export function batchnormBytes(total: number, pass: 'train' | 'eval' | 'bwd'): number {
  return 4 * total * (pass === 'train' ? 4 : pass === 'eval' ? 2 : 5);
}
