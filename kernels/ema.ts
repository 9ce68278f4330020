// Host side of the moving average of the weights (shaders/ema.wgsl): ema ← ema + (1 − decay)·
// (src − ema) over a range of two flat buffers (the trainer keeps one EMA buffer per arena chunk
// of the parameters, laid out as it is).
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkExtent, grid2d } from './common.ts';

const WG = 64; // as shaders/ema.wgsl WG

export interface EmaCall {
  /** The average, updated in place. */
  ema: GPUBuffer;
  /** What it moves towards (the weights just updated). */
  src: GPUBuffer;
  /** First element and count, the same in both buffers. */
  offset?: number;
  length: number;
  /** In [0, 1): the share of the old average kept. */
  decay: number;
  label?: string;
}

/** Records one update of the average. */
export function emaUpdate(gpu: Gpu, c: EmaCall): void {
  const fn = c.label ?? 'ema_update';
  const offset = c.offset ?? 0;
  if (c.ema === c.src) throw new ShapeError(`${fn}: the average and its source must be different buffers`);
  if (!Number.isInteger(c.length) || c.length <= 0) throw new ShapeError(`${fn}: length ${c.length} must be a positive integer`);
  if (!(c.decay >= 0 && c.decay < 1)) throw new ShapeError(`${fn}: decay ${c.decay} must lie in [0, 1)`);
  checkExtent(gpu, fn, 'the average', c.ema, offset, c.length);
  checkExtent(gpu, fn, 'the source', c.src, offset, c.length);
  const u = new Uint32Array(4);
  u.set([c.length, offset]);
  // 1 − decay in float64, then rounded once to f32: decay 0.9999 keeps its 1e-4 to 7 digits.
  new Float32Array(u.buffer)[2] = 1 - c.decay;
  const k = gpu.kernel({ file: 'ema', entry: 'ema_update', bindings: ['rw', 'read'] });
  gpu.dispatch(k, u, [c.ema, c.src], grid2d(gpu, Math.ceil(c.length / (4 * WG))), `${fn}(${c.length})`);
}
