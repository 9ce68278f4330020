// Row moves for incremental decoding, off the tape: writing a block of rows into a tensor kept
// between steps (a KV cache), gathering whole batch rows by index (beam search reordering its
// caches), repeating each batch element (an image for each of its beams). Decoding never
// differentiates, so none of these record a backward; each refuses an input that wants one.
import { copyRows } from '../../../kernels/copy.ts';
import { embedding as embeddingKernel, releaseTokenIds, uploadTokenIds } from '../../../kernels/embedding.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

function offTape(op: string, ...xs: Tensor[]): void {
  if (needsGrad(...xs)) throw new ShapeError(`${op}: decoding-only op called on a tensor the tape differentiates (${xs.map((x) => x.name).join(', ')}); run it under noGrad()`);
}

function blc(t: Tensor, op: string): [number, number, number] {
  if (t.shape.length !== 3) throw new ShapeError(`${op}: ${t.name} ${shapeStr(t.shape)} should be [B, L, C]`);
  return t.shape as [number, number, number];
}

/**
 * dst[:, row + r, dstCol + c] = src[:, r, srcCol + c] for every row r of src and c < width, in
 * place: src [B, R, Cs], dst [B, L, Cd].
 */
export function writeRows(dst: Tensor, row: number, dstCol: number, src: Tensor, srcCol: number, width: number, label = 'write_rows'): void {
  offTape(label, src);
  const [B, R, Cs] = blc(src, label);
  const [Bd, L, Cd] = blc(dst, label);
  if (Bd !== B) throw new ShapeError(`${label}: ${src.name} ${shapeStr(src.shape)} and ${dst.name} ${shapeStr(dst.shape)} differ in batch`);
  if (row < 0 || row + R > L) throw new ShapeError(`${label}: rows ${row}..${row + R} are outside ${dst.name} ${shapeStr(dst.shape)}`);
  if (srcCol < 0 || srcCol + width > Cs || dstCol < 0 || dstCol + width > Cd) throw new ShapeError(`${label}: ${width} columns from ${srcCol} of ${shapeStr(src.shape)} into ${dstCol} of ${shapeStr(dst.shape)} do not fit`);
  copyRows(src.gpu, {
    src: src.buffer,
    dst: dst.buffer,
    B,
    R,
    C: width,
    srcLayout: { offset: src.offset + srcCol, batchStride: R * Cs, rowStride: Cs },
    dstLayout: { offset: dst.offset + row * Cd + dstCol, batchStride: L * Cd, rowStride: Cd },
    label,
  });
}

/**
 * For each x of xs [N, ...]: a new tensor whose row n is x's row index[n]. One upload of the
 * index serves them all; the row gather is an embedding lookup with x as the table.
 */
export function gatherRows(xs: readonly Tensor[], index: Int32Array, label = 'gather_rows'): Tensor[] {
  offTape(label, ...xs);
  if (xs.length === 0) return [];
  const gpu = xs[0]!.gpu;
  const ids = uploadTokenIds(gpu, index, { label: `${label}.index` });
  try {
    return xs.map((x) => {
      const N = x.shape[0]!;
      if (index.length !== N) throw new ShapeError(`${label}: ${index.length} indices for ${x.name} ${shapeStr(x.shape)}`);
      const bad = index.findIndex((i) => !Number.isInteger(i) || i < 0 || i >= N);
      if (bad >= 0) throw new ShapeError(`${label}: index[${bad}] = ${index[bad]} is outside the ${N} rows of ${x.name}`);
      const width = x.size / N;
      const y = Tensor.empty(gpu, x.shape, x.name);
      embeddingKernel(gpu, { ids, table: { buffer: x.buffer, shape: [N, width], offset: x.offset }, out: { buffer: y.buffer, shape: [N, width], offset: y.offset }, label });
      return y;
    });
  } finally {
    releaseTokenIds(gpu, ids);
  }
}

/** x [B, R, C] → [B·times, R, C], each batch element repeated `times` times in a row. */
export function repeatBatch(x: Tensor, times: number, label = 'repeat_batch'): Tensor {
  offTape(label, x);
  if (!Number.isInteger(times) || times < 1) throw new ShapeError(`${label}: times = ${times}; it must be a positive integer`);
  if (times === 1) return x.reshape(x.shape);
  const [B, R, C] = blc(x, label);
  const y = Tensor.empty(x.gpu, [B * times, R, C], x.name);
  for (let b = 0; b < B; b++) {
    copyRows(x.gpu, {
      src: x.buffer,
      dst: y.buffer,
      B: times,
      R,
      C,
      srcLayout: { offset: x.offset + b * R * C, batchStride: 0, rowStride: C },
      dstLayout: { offset: y.offset + b * times * R * C, batchStride: R * C, rowStride: C },
      label,
    });
  }
  return y;
}
