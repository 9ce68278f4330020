// Token embedding lookup on the tape (kernels/embedding.ts). Ids come as TokenIds, uploaded once
// per batch with the table's vocabulary so the backward's sorted index travels with them.
import { embedding as embeddingKernel, embeddingBackward, type DeviceTokenIds, type TokenIds } from '../../../kernels/embedding.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { writeGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { addBroadcastRow } from './sequence.ts';

/**
 * table [V, D] gathered at ids [B, T] → [B, T, D], plus `positions` [T, D] (row t added at
 * sequence position t of every row of the batch) when given: in the gather's own pass where
 * nothing needs their gradient (a decoding step's token and position embeddings, one dispatch),
 * else as addBroadcastRow after it. The same bits either way: one f32 add of the same two values.
 */
export function embedding(table: Tensor, ids: TokenIds | DeviceTokenIds, positions?: Tensor): Tensor {
  if (table.shape.length !== 2) throw new ShapeError(`embedding: table ${shapeStr(table.shape)} should be [vocab, dim]`);
  const D = table.shape[1]!;
  if (positions) {
    const T = ids.shape.length === 2 ? ids.shape[1]! : 0;
    if (!T || positions.size !== T * D) throw new ShapeError(`embedding: positions ${shapeStr(positions.shape)} do not fit ids [${ids.shape.join(', ')}] of a table of width ${D}: give ids [B, T] and positions [T, ${D}]`);
    if (needsGrad(table, positions)) return addBroadcastRow(embedding(table, ids), positions);
  }
  if (!ids.host && needsGrad(table)) throw new ShapeError('embedding: ids on the device have no CPU copy to build the backward from; give uploaded ids where the table needs a gradient');
  const gpu = table.gpu;
  const y = Tensor.empty(gpu, [...ids.shape, D], 'embedding');
  const ref = (t: Tensor) => ({ buffer: t.buffer, shape: t.shape, offset: t.offset });
  const pos = positions ? { buffer: positions.buffer, shape: [positions.size / D, D], offset: positions.offset } : undefined;
  embeddingKernel(gpu, { ids, table: ref(table), out: ref(y), pos });
  const tape = needsGrad(table);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'embedding',
      inputs: [table],
      outputs: [y],
      saved: [],
      backward: ([dy]) => writeGrad(table, (g) => embeddingBackward(gpu, { ids: ids as TokenIds, dout: ref(dy!), dTable: ref(g) })),
    });
  }
  return y;
}
