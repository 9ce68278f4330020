// Token embedding lookup on the tape (kernels/embedding.ts). Ids come as TokenIds, uploaded once
// per batch with the table's vocabulary so the backward's sorted index travels with them.
import { embedding as embeddingKernel, embeddingBackward, type TokenIds } from '../../../kernels/embedding.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { writeGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

/** table [V, D] gathered at ids [B, T] → [B, T, D]. */
export function embedding(table: Tensor, ids: TokenIds): Tensor {
  if (table.shape.length !== 2) throw new ShapeError(`embedding: table ${shapeStr(table.shape)} should be [vocab, dim]`);
  const D = table.shape[1]!;
  const gpu = table.gpu;
  const y = Tensor.empty(gpu, [...ids.shape, D], 'embedding');
  const ref = (t: Tensor) => ({ buffer: t.buffer, shape: t.shape, offset: t.offset });
  embeddingKernel(gpu, { ids, table: ref(table), out: ref(y) });
  const tape = needsGrad(table);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'embedding',
      inputs: [table],
      outputs: [y],
      saved: [],
      backward: ([dy]) => writeGrad(table, (g) => embeddingBackward(gpu, { ids, dout: ref(dy!), dTable: ref(g) })),
    });
  }
  return y;
}
