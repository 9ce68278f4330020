// Host side of the contrastive family (shaders/contrastive.wgsl): CoCa's symmetric InfoNCE with a
// clamped learned temperature, forward and (optionally) backward in five dispatches, nothing read
// back: the loss and the clamped log-scale land in a GPU stats buffer that the training step
// reads once, with everything else it logs. With `groups`, rows of one group are positives of
// each other (multi-positive InfoNCE, shaders/contrastive.wgsl GROUPS). Reference:
// kernels/contrastive.ref.ts.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkExtent, checkTensor, grid2d, type TensorRef } from './common.ts';

/** One row of dn is held in workgroup memory (shaders/contrastive.wgsl MAX_E). */
export const CONTRASTIVE_MAX_E = 2048;
const WG = 64;

/** A single float in a buffer. */
export interface ScalarRef {
  buffer: GPUBuffer;
  /** In floats. */
  offset?: number;
}

export interface ContrastiveCall {
  /** Raw (unnormalised) embeddings, [B, E] each. */
  image: TensorRef;
  text: TensorRef;
  /** The stored log-scale parameter; clamped to [0, maxLogScale] as it is read. */
  logScale: ScalarRef;
  maxLogScale: number;
  /** Two floats: the loss, then the clamped log-scale. */
  out: ScalarRef;
  /** d(weight·loss)/d(embeddings), [B, E] each, and d(weight·loss)/d(log-scale): written when given (all three). */
  grads?: { image: TensorRef; text: TensorRef; logScale: ScalarRef; weight: number };
  /** Writes the clamped value back into the parameter (the training step's clamp). */
  clampParam?: boolean;
  /**
   * One integer per row: rows sharing one are positives of each other, the target of a row and
   * of a column uniform over its group (captions of one concept in a batch). Left out: every row
   * its own group, the one-positive loss, computed by the very same lines as before.
   */
  groups?: ArrayLike<number>;
  label?: string;
}

/** Floats of scratch one call needs for batch B and width E (and with groups, their ids and weights). */
export function contrastiveScratch(B: number, E: number, groups = false): number {
  return 2 * B * E + 2 * B + B * B + 2 * B + (groups ? 2 * B : 0);
}

/**
 * The scratch tail of a grouped call: each row's group as a dense id (exact in a float), then
 * 1 / the size of its group. Refuses ids that are not integers or a list of the wrong length.
 */
export function groupTable(fn: string, groups: ArrayLike<number>, B: number): Float32Array {
  if (groups.length !== B) throw new ShapeError(`${fn}: ${groups.length} group ids for a batch of ${B}; give one per row`);
  const dense = new Map<number, number>();
  const size: number[] = [];
  const out = new Float32Array(2 * B);
  for (let i = 0; i < B; i++) {
    const g = groups[i]!;
    if (!Number.isSafeInteger(g)) throw new ShapeError(`${fn}: group id ${g} of row ${i} is not an integer`);
    let d = dense.get(g);
    if (d === undefined) dense.set(g, (d = dense.size));
    out[i] = d;
    size[d] = (size[d] ?? 0) + 1;
  }
  for (let i = 0; i < B; i++) out[B + i] = 1 / size[out[i]!]!;
  return out;
}

/** Records the loss (and gradients) of one batch. */
export function contrastive(gpu: Gpu, call: ContrastiveCall): void {
  const fn = call.label ?? 'contrastive';
  if (call.image.shape.length !== 2) throw new ShapeError(`${fn}: image embeddings [${call.image.shape.join(', ')}] should be [batch, width]`);
  const [B, E] = call.image.shape as [number, number];
  const img = checkTensor(gpu, fn, 'image embeddings', call.image);
  const txt = checkTensor(gpu, fn, 'text embeddings', call.text, [B, E]);
  if (E > CONTRASTIVE_MAX_E) throw new ShapeError(`${fn}: embeddings of width ${E} exceed the ${CONTRASTIVE_MAX_E} this kernel holds per workgroup`);
  // The B×B similarities live in one scratch binding; past the limit the binding would be cut
  // short and the kernel would read and write the wrong floats without a word.
  const table = call.groups ? groupTable(fn, call.groups, B) : null;
  const scratchBytes = contrastiveScratch(B, E, !!table) * 4;
  const limit = gpu.limits.maxStorageBufferBindingSize;
  if (scratchBytes > limit) {
    throw new ShapeError(`${fn}: a batch of ${B} needs ${(scratchBytes / 2 ** 20).toFixed(1)} MiB of scratch (its ${B}×${B} similarities), over the adapter's ${(limit / 2 ** 20).toFixed(0)} MiB storage-binding limit; use a smaller (contrastive) batch`);
  }
  if (!(call.maxLogScale >= 0) || !Number.isFinite(call.maxLogScale)) throw new ShapeError(`${fn}: maxLogScale ${call.maxLogScale} must be finite and ≥ 0`);
  const scalar = (what: string, s: ScalarRef, floats = 1) => {
    checkExtent(gpu, fn, what, s.buffer, s.offset ?? 0, floats);
    return s.offset ?? 0;
  };
  const offScale = scalar('log-scale', call.logScale);
  const at = scalar('out', call.out, 2);
  const g = call.grads;
  let offDImg = 0;
  let offDTxt = 0;
  let offGScale = 0;
  if (g) {
    offDImg = checkTensor(gpu, fn, 'image gradient', g.image, [B, E]).offset;
    offDTxt = checkTensor(gpu, fn, 'text gradient', g.text, [B, E]).offset;
    offGScale = scalar('log-scale gradient', g.logScale);
    if (!Number.isFinite(g.weight)) throw new ShapeError(`${fn}: weight ${g.weight} must be finite`);
    for (const [name, o] of [['image gradient', g.image], ['text gradient', g.text], ['log-scale gradient', g.logScale]] as const) {
      checkDistinct(fn, [name, o], ['image embeddings', call.image], ['text embeddings', call.text], ['log-scale', call.logScale], ['out', call.out]);
    }
    checkDistinct(fn, ['image gradient', g.image], ['text gradient', g.text], ['log-scale gradient', g.logScale]);
    checkDistinct(fn, ['text gradient', g.text], ['log-scale gradient', g.logScale]);
  }
  checkDistinct(fn, ['out', call.out], ['image embeddings', call.image], ['text embeddings', call.text], ['log-scale', call.logScale]);

  const u = new Uint32Array(12);
  const f = new Float32Array(u.buffer);
  u.set([B, E, (g ? 1 : 0) | (call.clampParam ? 2 : 0), at, img.offset, txt.offset, offScale, offGScale, offDImg, offDTxt]);
  f[10] = g?.weight ?? 1;
  f[11] = call.maxLogScale;

  const work = gpu.alloc(contrastiveScratch(B, E, !!table), `${fn}:work`);
  if (table) gpu.write(work, table, contrastiveScratch(B, E) * 4);
  // Forward only: the gradient bindings still need buffers, and writable bindings may not alias.
  const spare = g ? [] : [0, 1, 2].map((i) => gpu.alloc(1, `${fn}:unused${i}`));
  const buffers = [call.image.buffer, call.text.buffer, call.logScale.buffer, work, g?.image.buffer ?? spare[0]!, g?.text.buffer ?? spare[1]!, call.out.buffer, g?.logScale.buffer ?? spare[2]!];
  const bindings = ['read', 'read', 'rw', 'rw', 'rw', 'rw', 'rw', 'rw'] as const;
  const k = (entry: string) => gpu.kernel({ file: 'contrastive', entry, ...(table ? { defines: { GROUPS: true } } : {}), bindings: [...bindings] });
  const groups = (n: number) => grid2d(gpu, Math.ceil(n / WG));
  const grouped = table ? ',grouped' : '';
  gpu.dispatch(k('con_normalize'), u, buffers, grid2d(gpu, 2 * B), `${fn}:normalize(${B}x${E})`);
  gpu.dispatch(k('con_logits'), u, buffers, groups(B * B), `${fn}:logits(${B}x${B})`);
  gpu.dispatch(k('con_lse'), u, buffers, groups(2 * B), `${fn}:lse(${B})`);
  gpu.dispatch(k('con_finish'), u, buffers, [1], `${fn}:finish${grouped ? '(grouped)' : ''}`);
  if (g) gpu.dispatch(k('con_backward'), u, buffers, grid2d(gpu, 2 * B), `${fn}:backward(${B}x${E}${grouped})`);
  // Safe to recycle at once: any later write to a pooled buffer is queued after these dispatches.
  gpu.release(work);
  for (const b of spare) gpu.release(b);
}
