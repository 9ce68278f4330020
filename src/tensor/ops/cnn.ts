// Convolutional network ops on the tape, NCHW: conv2d (stride, padding), batch norm (training
// or inference statistics, running statistics updated in training), max pooling and global
// average pooling. Each is one kernel family call forward and one backward.
import { batchnorm as batchnormKernel, batchnormBackward, BATCHNORM_EPS, BATCHNORM_MOMENTUM } from '../../../kernels/batchnorm.ts';
import { conv2d as conv2dKernel, conv2dBackward, conv2dDims, type Conv2dGeometry } from '../../../kernels/conv2d.ts';
import { globalAvgPool as gapKernel, globalAvgPoolBackward, maxPool2d as maxPoolKernel, maxPool2dBackward, maxPool2dDims, type MaxPool2dGeometry } from '../../../kernels/pool.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { accumulateGrad, newGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

const ref = (t: Tensor, shape: readonly number[] = t.shape) => ({ buffer: t.buffer, shape, offset: t.offset });

/**
 * Where a kernel that overwrites its output writes p's gradient: straight into a new p.grad, or
 * into scratch (added to p.grad afterwards by settle) when p already has one or needs none.
 */
function target(p: Tensor, name: string): { t: Tensor; scratch: boolean } {
  if (p.requiresGrad && !p.grad) {
    p.grad = newGrad(p);
    return { t: p.grad, scratch: false };
  }
  return { t: Tensor.empty(p.gpu, p.shape, name), scratch: true };
}

function settle(p: Tensor, g: { t: Tensor; scratch: boolean }): void {
  if (!g.scratch) return;
  if (p.requiresGrad) accumulateGrad(p, g.t);
  g.t.release();
}

/** y = conv2d(x, w) + bias: x [B, Cin, H, W], w [Cout, Cin, KH, KW], bias [Cout] → [B, Cout, OH, OW]. */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null, geometry: Conv2dGeometry = {}): Tensor {
  const gpu = x.gpu;
  const d = conv2dDims('conv2d', x.shape, w.shape, geometry);
  if (bias && bias.size !== d.Cout) throw new ShapeError(`conv2d: bias ${shapeStr(bias.shape)} does not fit ${d.Cout} output channels`);
  const y = Tensor.empty(gpu, [d.B, d.Cout, d.OH, d.OW], 'conv2d');
  conv2dKernel(gpu, { x: ref(x), w: ref(w), bias: bias ? ref(bias, [d.Cout]) : undefined, y: ref(y), ...geometry });
  const tape = needsGrad(x, w, bias);
  if (!tape) return y;
  y.requiresGrad = true;
  tape.record({
    op: 'conv2d',
    inputs: [x, w, ...(bias ? [bias] : [])],
    outputs: [y],
    saved: [x, w],
    backward: ([dy]) => {
      const dx = x.requiresGrad ? (x.grad ? { t: x.grad, accumulate: true } : { t: (x.grad = newGrad(x)), accumulate: false }) : null;
      const wantParams = w.requiresGrad || !!bias?.requiresGrad;
      const dw = wantParams ? target(w, 'conv2d.dw') : null;
      const db = wantParams && bias?.requiresGrad ? target(bias, 'conv2d.dbias') : null;
      conv2dBackward(gpu, {
        x: ref(x),
        w: ref(w),
        dy: ref(dy!),
        dx: dx ? ref(dx.t) : undefined,
        accumulateDx: dx?.accumulate,
        dw: dw ? ref(dw.t) : undefined,
        dbias: db ? ref(db.t, [d.Cout]) : undefined,
        ...geometry,
      });
      if (dw) settle(w, dw);
      if (db) settle(bias!, db);
    },
  });
  return y;
}

export interface BatchNormOptions {
  /** Batch statistics (and the running ones updated) or the running statistics. */
  training: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch norm over the channels of x [B, C, ...] with weight, bias [C]; runningMean and
 * runningVar [C] are read in inference and updated in place in training (no gradient).
 */
export function batchNorm(x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, o: BatchNormOptions): Tensor {
  const gpu = x.gpu;
  const C = x.shape[1] ?? 0;
  for (const [what, t] of [['weight', weight], ['bias', bias], ['running mean', runningMean], ['running var', runningVar]] as const) {
    if (t.size !== C) throw new ShapeError(`batchNorm: ${what} ${shapeStr(t.shape)} does not fit the ${C} channels of x ${shapeStr(x.shape)}`);
  }
  const y = Tensor.empty(gpu, x.shape, 'batchnorm');
  const mean = Tensor.empty(gpu, [C], 'bn.mean');
  const rstd = Tensor.empty(gpu, [C], 'bn.rstd');
  batchnormKernel(gpu, {
    x: ref(x),
    gamma: ref(weight, [C]),
    beta: ref(bias, [C]),
    y: ref(y),
    mean: ref(mean),
    rstd: ref(rstd),
    training: o.training,
    runningMean: ref(runningMean, [C]),
    runningVar: ref(runningVar, [C]),
    momentum: o.momentum ?? BATCHNORM_MOMENTUM,
    eps: o.eps ?? BATCHNORM_EPS,
  });
  const tape = needsGrad(x, weight, bias);
  if (!tape) {
    mean.release();
    rstd.release();
    return y;
  }
  y.requiresGrad = true;
  tape.track(mean);
  tape.track(rstd);
  tape.record({
    op: 'batchNorm',
    inputs: [x, weight, bias],
    outputs: [y],
    saved: [x, weight, mean, rstd],
    backward: ([dy]) => {
      const accumulateDx = x.requiresGrad && x.grad !== null;
      if (x.requiresGrad && !x.grad) x.grad = newGrad(x);
      const dg = weight.requiresGrad ? target(weight, 'bn.dgamma') : null;
      const db = bias.requiresGrad ? target(bias, 'bn.dbeta') : null;
      batchnormBackward(gpu, {
        x: ref(x),
        gamma: ref(weight, [C]),
        mean: ref(mean),
        rstd: ref(rstd),
        dy: ref(dy!),
        training: o.training,
        dx: x.requiresGrad ? ref(x.grad!) : undefined,
        accumulateDx,
        dgamma: dg ? ref(dg.t, [C]) : undefined,
        dbeta: db ? ref(db.t, [C]) : undefined,
      });
      if (dg) settle(weight, dg);
      if (db) settle(bias, db);
    },
  });
  return y;
}

/** Max pooling of x [B, C, H, W] (stride defaults to the window, −∞ padding). */
export function maxPool2d(x: Tensor, geometry: MaxPool2dGeometry): Tensor {
  const gpu = x.gpu;
  const d = maxPool2dDims('maxPool2d', x.shape, geometry);
  const shape = [x.shape[0]!, x.shape[1]!, d.OH, d.OW];
  const y = Tensor.empty(gpu, shape, 'maxpool');
  const idx = Tensor.empty(gpu, shape, 'maxpool.indices');
  maxPoolKernel(gpu, { x: ref(x), y: ref(y), indices: ref(idx), ...geometry });
  const tape = needsGrad(x);
  if (!tape) {
    idx.release();
    return y;
  }
  y.requiresGrad = true;
  tape.track(idx);
  tape.record({
    op: 'maxPool2d',
    inputs: [x],
    outputs: [y],
    saved: [idx],
    backward: ([dy]) => {
      const accumulate = x.grad !== null;
      x.grad ??= newGrad(x);
      maxPool2dBackward(gpu, { dy: ref(dy!), indices: ref(idx), dx: ref(x.grad), accumulate, ...geometry });
    },
  });
  return y;
}

/** The mean of each H x W plane: x [B, C, H, W] → [B, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  const gpu = x.gpu;
  if (x.shape.length !== 4) throw new ShapeError(`globalAvgPool: x ${shapeStr(x.shape)} must be [batch, channels, height, width]`);
  const y = Tensor.empty(gpu, [x.shape[0]!, x.shape[1]!], 'gap');
  gapKernel(gpu, { x: ref(x), y: ref(y) });
  const tape = needsGrad(x);
  if (!tape) return y;
  y.requiresGrad = true;
  tape.record({
    op: 'globalAvgPool',
    inputs: [x],
    outputs: [y],
    saved: [],
    backward: ([dy]) => {
      const accumulate = x.grad !== null;
      x.grad ??= newGrad(x);
      globalAvgPoolBackward(gpu, { dy: ref(dy!), dx: ref(x.grad), accumulate });
    },
  });
  return y;
}
