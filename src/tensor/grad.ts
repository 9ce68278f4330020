// Where a backward rule writes an input's gradient: the input's existing .grad (then the kernel
// accumulates into it) or a fresh buffer that becomes .grad. Kernels with an accumulate flag
// (matmul) thereby sum gradients from several uses of one tensor without an extra add.
import { addInPlace, scale } from '../../kernels/pointwise.ts';
import { reduceColumns } from '../../kernels/reduce.ts';
import type { DeferredColumnSums } from './deferred-sums.ts';
import { Tensor } from './tensor.ts';

export interface GradSlot {
  grad: Tensor;
  accumulate: boolean;
}

/**
 * A new, uninitialised gradient tensor for x: a view of x's place in the gradient arena when it
 * has one (a parameter), else a pooled buffer. The first write overwrites it, so nothing zeroes
 * gradients between steps.
 */
export function newGrad(x: Tensor): Tensor {
  const name = `grad(${x.name})`;
  return x.gradHome ? Tensor.wrap(x.gpu, x.gradHome.buffer, x.shape, x.gradHome.offset, name) : Tensor.empty(x.gpu, x.shape, name);
}

/** newGrad filled with zeros (for gradients written piecewise). */
export function newZeroGrad(x: Tensor): Tensor {
  const g = newGrad(x);
  x.gpu.write(g.buffer, new Float32Array(g.size), g.offset * 4);
  return g;
}

/** Whether t's gradient is the whole of its place in the arena. */
export function gradInHome(t: Tensor): boolean {
  return !!t.grad && !!t.gradHome && t.grad.buffer === t.gradHome.buffer && t.grad.offset === t.gradHome.offset;
}

/**
 * Where a gradient of x goes. A view of a parameter (x.gradView) writes into the parameter's
 * gradient in place, which is zeroed (a buffer clear, not a dispatch) when it has none yet so
 * that every use, of this view or another, accumulates: correct whichever views get a gradient
 * and in whatever order. Elsewhere the first write overwrites.
 */
export function gradSlot(x: Tensor): GradSlot {
  if (x.grad) return { grad: x.grad, accumulate: true };
  const view = x.gradView;
  if (view?.parent.gradHome) {
    const p = view.parent;
    if (!p.grad) {
      p.grad = newGrad(p);
      p.gpu.clear(p.grad.buffer, p.size * 4, p.grad.offset * 4);
    }
    if (gradInHome(p)) {
      x.grad = Tensor.wrap(x.gpu, p.grad.buffer, x.shape, p.grad.offset + view.at, `grad(${x.name})`);
      return { grad: x.grad, accumulate: true };
    }
  }
  x.grad = newGrad(x);
  return { grad: x.grad, accumulate: false };
}

/** Whether dy, a gradient of a view at `at` in x, already lies in x's gradient (gradSlot put it there). */
export function gradAlreadyIn(x: Tensor, dy: Tensor, at: number): boolean {
  return gradInHome(x) && dy.buffer === x.grad!.buffer && dy.offset === x.grad!.offset + at;
}

/** The buffer x's gradient is (or will be) written to by gradSlot, when that is a parameter arena. */
export function gradBuffer(x: Tensor): GPUBuffer | undefined {
  if (x.grad) return x.grad.buffer;
  if (x.gradHome) return x.gradHome.buffer;
  const p = x.gradView?.parent;
  return p?.gradHome && (!p.grad || gradInHome(p)) ? p.gradHome.buffer : undefined;
}

/** x.grad += alpha·dy (or x.grad = alpha·dy when x has none yet). */
export function accumulateGrad(x: Tensor, dy: Tensor, alpha = 1): void {
  const gpu = x.gpu;
  const r = (t: Tensor) => ({ buffer: t.buffer, shape: x.shape, offset: t.offset });
  if (x.grad) addInPlace(gpu, r(x.grad), r(dy), 1, alpha);
  else {
    x.grad = newGrad(x);
    // A plain copy is a buffer copy, not a kernel: no dispatch, and a memcpy on a software adapter.
    // (WebGPU copies only between two different buffers.)
    if (alpha === 1 && dy.buffer !== x.grad.buffer) gpu.copy(dy.buffer, x.grad.buffer, x.size * 4, dy.offset * 4, x.grad.offset * 4);
    else scale(gpu, r(dy), r(x.grad), alpha);
  }
}

/**
 * x.grad[at : at+cols] += column sums of src [rows, cols] (the backward of a broadcast over rows:
 * a bias, a position table shared by the batch). Deterministic: a fixed-order reduction.
 * `rowStride` (default cols): src's rows are that far apart (a block of a wider gradient).
 * With `sums` (the tape's, TapeOptions.deferColumnSums) the sums of a whole parameter — or of a
 * view of all of one — are queued there instead, src's block copied into its scratch by a buffer
 * copy, and folded with the others' at the end of the backward pass: the same bits, no dispatch.
 */
export function addColumnSums(x: Tensor, src: { buffer: GPUBuffer; offset: number }, rows: number, cols: number, at = 0, rowStride?: number, sums?: DeferredColumnSums | null): void {
  const gpu = x.gpu;
  const whole = x.gradView && x.gradView.at === 0 && x.gradView.parent.size === x.size && !x.grad ? x.gradView.parent : x;
  if (sums && at === 0 && cols === whole.size) {
    sums.foldIfQueued([whole]);
    if (sums.canQueue([whole])) {
      const stride = rowStride ?? cols;
      const floats = (rows - 1) * stride + cols;
      sums.queue([whole], rows, cols, (dst) => gpu.copy(src.buffer, dst.buffer, floats * 4, src.offset * 4, dst.offset * 4), stride);
      return;
    }
  }
  const s = { buffer: src.buffer, shape: [rows, cols], offset: src.offset };
  if (!x.grad && at === 0 && cols === x.size) {
    x.grad = newGrad(x);
    reduceColumns(gpu, 'sum', s, { buffer: x.grad.buffer, shape: [cols], offset: x.grad.offset }, rowStride);
    return;
  }
  x.grad ??= newZeroGrad(x);
  const tmp = Tensor.empty(gpu, [cols], 'column_sums');
  reduceColumns(gpu, 'sum', s, { buffer: tmp.buffer, shape: [cols], offset: tmp.offset }, rowStride);
  addInPlace(gpu, { buffer: x.grad.buffer, shape: [cols], offset: x.grad.offset + at }, { buffer: tmp.buffer, shape: [cols], offset: tmp.offset });
  tmp.release();
}

/**
 * For kernels that overwrite their output: runs `write(target)` so that x.grad ends up holding
 * its previous value plus what `write` produced — written straight into x.grad when x has none
 * yet, else into scratch that is then added.
 */
export function writeGrad(x: Tensor, write: (target: Tensor) => void): void {
  if (!x.grad) {
    x.grad = newGrad(x);
    write(x.grad);
    return;
  }
  const scratch = Tensor.empty(x.gpu, x.shape, `grad(${x.name}).part`);
  write(scratch);
  accumulateGrad(x, scratch);
  scratch.release();
}
