// Moving sequences around on the tape: slices along the sequence axis (x[:, 1:], x[:, :-1]),
// concatenation with batch broadcasting (prepending a learned CLS token), and adding one row to
// every batch element (position embeddings). All are block copies or broadcast adds; their
// backward sums over the batch where the forward broadcast.
import { copyRows } from '../../../kernels/copy.ts';
import { addBias } from '../../../kernels/pointwise.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { needsGrad } from '../tape.ts';
import { accumulateGrad, addColumnSums } from '../grad.ts';
import { Tensor, shapeStr } from '../tensor.ts';

/**
 * [B, L, C] of a 3-D tensor, [1, L, C] of a 2-D one and [1, 1, C] of a 1-D one (both broadcast
 * over the batch: a CLS token is taken as the parameter itself, not a reshaped view, so its
 * gradient can be deferred into the parameter's place: grad.ts addColumnSums).
 */
function blc(t: Tensor, op: string): [number, number, number] {
  if (t.shape.length === 3) return t.shape as [number, number, number];
  if (t.shape.length === 2) return [1, t.shape[0]!, t.shape[1]!];
  if (t.shape.length === 1) return [1, 1, t.shape[0]!];
  throw new ShapeError(`${op}: ${t.name} ${shapeStr(t.shape)} should be [B, L, C], [L, C] or [C]`);
}

/** x.grad, created as zeros when absent: backward rules below write only parts of it. */
function zeroedGrad(x: Tensor): Tensor {
  x.grad ??= Tensor.zeros(x.gpu, x.shape, `grad(${x.name})`);
  return x.grad;
}

/** x[:, start : start+count] of x [B, L, C]. */
export function sliceSeq(x: Tensor, start: number, count: number): Tensor {
  const [B, L, C] = blc(x, 'sliceSeq');
  if (x.shape.length !== 3) throw new ShapeError(`sliceSeq: ${x.name} ${shapeStr(x.shape)} should be [B, L, C]`);
  if (start < 0 || count <= 0 || start + count > L) throw new ShapeError(`sliceSeq: rows ${start}..${start + count} of ${x.name} ${shapeStr(x.shape)} are out of range`);
  const gpu = x.gpu;
  const y = Tensor.empty(gpu, [B, count, C], 'slice');
  const src = { offset: x.offset + start * C, batchStride: L * C, rowStride: C };
  const dst = { offset: y.offset, batchStride: count * C, rowStride: C };
  copyRows(gpu, { src: x.buffer, dst: y.buffer, B, R: count, C, srcLayout: src, dstLayout: dst, label: 'slice_seq' });
  const tape = needsGrad(x);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'sliceSeq',
      inputs: [x],
      outputs: [y],
      saved: [],
      backward: ([dy]) => {
        const g = zeroedGrad(x);
        copyRows(gpu, {
          src: dy!.buffer,
          dst: g.buffer,
          B,
          R: count,
          C,
          srcLayout: { ...dst, offset: dy!.offset },
          dstLayout: { ...src, offset: g.offset + start * C },
          accumulate: true,
          label: 'slice_seq.grad',
        });
      },
    });
  }
  return y;
}

/**
 * Concatenation along the sequence axis; a part of batch 1 (or 2-D, or 1-D) is broadcast over the
 * batch (`batch`, default the largest part's). With `positions` ([L, C] or any shape of L·C
 * elements, L the concatenation's length) that table is added to every batch element in the same
 * copies — concatSeq then addBroadcastRow, in one pass per part and the same bits.
 */
export function concatSeq(parts: Tensor[], batch?: number, positions?: Tensor): Tensor {
  const dims = parts.map((p) => blc(p, 'concatSeq'));
  const B = batch ?? Math.max(...dims.map((d) => d[0]));
  const C = dims[0]![2];
  for (const [i, d] of dims.entries()) {
    if (d[2] !== C || (d[0] !== 1 && d[0] !== B)) throw new ShapeError(`concatSeq: parts ${parts.map((p) => shapeStr(p.shape)).join(', ')} do not line up (part ${i})`);
  }
  const L = dims.reduce((s, d) => s + d[1], 0);
  if (positions && positions.size !== L * C) throw new ShapeError(`concatSeq: positions ${shapeStr(positions.shape)} do not match one element [${L}, ${C}] of the concatenation`);
  const gpu = parts[0]!.gpu;
  const y = Tensor.empty(gpu, [B, L, C], 'concat');
  const at: number[] = [];
  let row = 0;
  for (const [i, p] of parts.entries()) {
    const [bp, lp] = dims[i]!;
    at.push(row);
    copyRows(gpu, {
      src: p.buffer,
      dst: y.buffer,
      B,
      R: lp,
      C,
      srcLayout: { offset: p.offset, batchStride: bp === 1 ? 0 : lp * C, rowStride: C },
      dstLayout: { offset: y.offset + row * C, batchStride: L * C, rowStride: C },
      add: positions ? { buffer: positions.buffer, layout: { offset: positions.offset + row * C, batchStride: 0, rowStride: C } } : undefined,
      label: 'concat_seq',
    });
    row += lp;
  }
  const tape = needsGrad(...parts, positions);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'concatSeq',
      inputs: positions ? [...parts, positions] : parts,
      outputs: [y],
      saved: [],
      backward: ([dy]) => {
        if (positions?.requiresGrad) addColumnSums(positions, dy!, B, L * C, 0, undefined, tape.columnSums(gpu));
        for (const [i, p] of parts.entries()) {
          if (!p.requiresGrad) continue;
          const [bp, lp] = dims[i]!;
          const srcLayout = { offset: dy!.offset + at[i]! * C, batchStride: L * C, rowStride: C };
          if (bp === B) {
            const g = zeroedGrad(p);
            copyRows(gpu, { src: dy!.buffer, dst: g.buffer, B, R: lp, C, srcLayout, dstLayout: { offset: g.offset, batchStride: lp * C, rowStride: C }, accumulate: true, label: 'concat_seq.grad' });
          } else {
            // Broadcast part: its block of dy summed over the batch where it lies (rows L·C apart).
            addColumnSums(p, { buffer: dy!.buffer, offset: srcLayout.offset }, B, lp * C, 0, L * C, tape.columnSums(gpu));
          }
        }
      },
    });
  }
  return y;
}

/** x [B, ...rest] + row (rest flattened; row has Π rest elements): position embeddings. */
export function addBroadcastRow(x: Tensor, row: Tensor): Tensor {
  const B = x.shape[0]!;
  const N = x.size / B;
  if (row.size !== N) throw new ShapeError(`addBroadcastRow: ${row.name} ${shapeStr(row.shape)} does not match one element of ${x.name} ${shapeStr(x.shape)}`);
  const gpu = x.gpu;
  const y = Tensor.empty(gpu, x.shape, 'add_row');
  addBias(gpu, { buffer: x.buffer, shape: [B, N], offset: x.offset }, { buffer: row.buffer, shape: [N], offset: row.offset }, { buffer: y.buffer, shape: [B, N], offset: y.offset });
  const tape = needsGrad(x, row);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'addBroadcastRow',
      inputs: [x, row],
      outputs: [y],
      saved: [],
      backward: ([dy]) => {
        if (x.requiresGrad) accumulateGrad(x, dy!);
        if (row.requiresGrad) addColumnSums(row, dy!, B, N, 0, undefined, tape.columnSums(gpu));
      },
    });
  }
  return y;
}
