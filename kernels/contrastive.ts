// Host side of the contrastive family (shaders/contrastive.wgsl): CoCa's symmetric InfoNCE with a
// clamped learned temperature, forward and (optionally) backward in five dispatches, nothing read
// back: the loss and the clamped log-scale land in a GPU stats buffer that the training step
// reads once, with everything else it logs. Reference: kernels/contrastive.ref.ts.
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
  label?: string;
}

/** Floats of scratch one call needs for batch B and width E. */
export function contrastiveScratch(B: number, E: number): number {
  return 2 * B * E + 2 * B + B * B + 2 * B;
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
  const scratchBytes = contrastiveScratch(B, E) * 4;
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

  const work = gpu.alloc(contrastiveScratch(B, E), `${fn}:work`);
  // Forward only: the gradient bindings still need buffers, and writable bindings may not alias.
  const spare = g ? [] : [0, 1, 2].map((i) => gpu.alloc(1, `${fn}:unused${i}`));
  const buffers = [call.image.buffer, call.text.buffer, call.logScale.buffer, work, g?.image.buffer ?? spare[0]!, g?.text.buffer ?? spare[1]!, call.out.buffer, g?.logScale.buffer ?? spare[2]!];
  const bindings = ['read', 'read', 'rw', 'rw', 'rw', 'rw', 'rw', 'rw'] as const;
  const k = (entry: string) => gpu.kernel({ file: 'contrastive', entry, bindings: [...bindings] });
  const groups = (n: number) => grid2d(gpu, Math.ceil(n / WG));
  gpu.dispatch(k('con_normalize'), u, buffers, grid2d(gpu, 2 * B), `${fn}:normalize(${B}x${E})`);
  gpu.dispatch(k('con_logits'), u, buffers, groups(B * B), `${fn}:logits(${B}x${B})`);
  gpu.dispatch(k('con_lse'), u, buffers, groups(2 * B), `${fn}:lse(${B})`);
  gpu.dispatch(k('con_finish'), u, buffers, [1], `${fn}:finish`);
  if (g) gpu.dispatch(k('con_backward'), u, buffers, grid2d(gpu, 2 * B), `${fn}:backward(${B}x${E})`);
  // Safe to recycle at once: any later write to a pooled buffer is queued after these dispatches.
  gpu.release(work);
  for (const b of spare) gpu.release(b);
}
