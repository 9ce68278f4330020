// Concatenation along the last axis on the tape: rows [N, C₁], [N, C₂], … → [N, ΣCᵢ] (an LSTM
// cell's input [word embedding | attended context], as torch.cat(dim=1)). Block copies both ways.
import { copyRows } from '../../../kernels/copy.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { newGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

/** Parts [N, Cᵢ] (any leading shape flattened into N, equal for all) side by side. */
export function concatCols(parts: Tensor[]): Tensor {
  if (parts.length === 0) throw new ShapeError('concatCols: no parts');
  const cols = parts.map((p) => p.shape[p.shape.length - 1]!);
  const N = parts[0]!.size / cols[0]!;
  for (const [i, p] of parts.entries()) {
    if (p.size / cols[i]! !== N) throw new ShapeError(`concatCols: parts ${parts.map((q) => shapeStr(q.shape)).join(', ')} differ in rows (part ${i})`);
  }
  const C = cols.reduce((a, b) => a + b, 0);
  const gpu = parts[0]!.gpu;
  const lead = parts[0]!.shape.slice(0, -1);
  const y = Tensor.empty(gpu, [...lead, C], 'concat_cols');
  const at: number[] = [];
  let col = 0;
  for (const [i, p] of parts.entries()) {
    at.push(col);
    const Ci = cols[i]!;
    copyRows(gpu, { src: p.buffer, dst: y.buffer, B: 1, R: N, C: Ci, srcLayout: { offset: p.offset, batchStride: 0, rowStride: Ci }, dstLayout: { offset: y.offset + col, batchStride: 0, rowStride: C }, label: 'concat_cols' });
    col += Ci;
  }
  const tape = needsGrad(...parts);
  if (!tape) return y;
  y.requiresGrad = true;
  tape.record({
    op: 'concatCols',
    inputs: parts,
    outputs: [y],
    saved: [],
    backward: ([dy]) => {
      for (const [i, p] of parts.entries()) {
        if (!p.requiresGrad) continue;
        const Ci = cols[i]!;
        const accumulate = p.grad !== null;
        p.grad ??= newGrad(p);
        copyRows(gpu, { src: dy!.buffer, dst: p.grad.buffer, B: 1, R: N, C: Ci, srcLayout: { offset: dy!.offset + at[i]!, batchStride: 0, rowStride: C }, dstLayout: { offset: p.grad.offset, batchStride: 0, rowStride: Ci }, accumulate, label: 'concat_cols.grad' });
      }
    },
  });
  return y;
}
