// Column sums of parameter gradients folded once per backward pass instead of once per op: each
// layernorm's backward leaves its dγ | dβ partials in a shared scratch buffer, the broadcast
// parameters (position tables, CLS tokens, poolers' queries: grad.ts addColumnSums) a buffer copy
// of their block of the upstream gradient, and the tape folds all of them into the gradient arena
// with one dispatch when the pass ends (kernels/reduce.ts, reduceColumnSegments, which sums in
// reduceColumns' order: the same bits as folding each at once).
//
// Whether a folded gradient overwrites or adds is settled when it is folded, not when it was
// queued: another use of the same parameter may have written its gradient in between (then the
// sum adds to it). A layernorm whose parameters are already queued first folds what is queued
// (foldIfQueued), so their sums add up in the order the ops ran: the same bits as without deferral.
import type { Gpu } from '../gpu/gpu.ts';
import { reduceColumnSegments, type ColumnSegment } from '../../kernels/reduce.ts';
import { gradInHome, newGrad } from './grad.ts';
import { Tensor } from './tensor.ts';

interface Queued {
  /** Parameters whose gradients lie side by side in one arena, in this order (γ then β). */
  params: Tensor[];
  srcOffset: number;
  rows: number;
  cols: number;
  rowStride: number;
}

interface Chunk {
  buffer: GPUBuffer;
  floats: number;
  used: number;
  queued: Queued[];
}

/** The scratch a device's largest backward pass needed, so the next one takes one chunk. */
const lastTotal = new WeakMap<Gpu, number>();
/** The first chunk of a device's first pass (floats); each further one doubles. */
const FIRST_CHUNK = 16384;

export class DeferredColumnSums {
  private chunk: Chunk | null = null;
  private lastChunk = FIRST_CHUNK / 2;
  private total = 0;
  private readonly pending = new Set<Tensor>();

  constructor(private readonly gpu: Gpu) {}

  /**
   * Whether `params` (all needing a gradient, none already queued) lie side by side in one
   * gradient arena: then their column sums can be queued.
   */
  canQueue(params: readonly Tensor[]): boolean {
    let next: { buffer: GPUBuffer; offset: number } | null = null;
    for (const p of params) {
      const home = p.gradHome;
      if (!p.requiresGrad || !home || this.pending.has(p)) return false;
      if (next && (home.buffer !== next.buffer || home.offset !== next.offset)) return false;
      next = { buffer: home.buffer, offset: home.offset + p.size };
    }
    return params.length > 0;
  }

  /**
   * Room for `rows` × `cols` partials whose column sums become the gradients of `params` (their
   * sizes adding up to cols), rows `rowStride` floats apart (default cols): `write` fills it
   * (buffer, offset in floats) now; the sums are folded at flush().
   */
  queue(params: readonly Tensor[], rows: number, cols: number, write: (at: { buffer: GPUBuffer; offset: number }) => void, rowStride = cols): void {
    if (!this.canQueue(params) || params.reduce((s, p) => s + p.size, 0) !== cols) throw new Error(`DeferredColumnSums: ${params.map((p) => p.name).join(', ')} cannot be queued for ${cols} columns`);
    if (rowStride < cols) throw new Error(`DeferredColumnSums: rows of ${cols} cannot lie ${rowStride} apart`);
    const floats = (rows - 1) * rowStride + cols;
    if (this.chunk && this.chunk.used + floats > this.chunk.floats) this.fold();
    if (!this.chunk) {
      const size = Math.max(floats, (lastTotal.get(this.gpu) ?? 0) - this.total, 2 * this.lastChunk);
      this.lastChunk = size;
      this.chunk = { buffer: this.gpu.alloc(size, 'deferred-column-sums'), floats: size, used: 0, queued: [] };
    }
    const c = this.chunk;
    write({ buffer: c.buffer, offset: c.used });
    c.queued.push({ params: [...params], srcOffset: c.used, rows, cols, rowStride });
    c.used += floats;
    this.total += floats;
    for (const p of params) this.pending.add(p);
  }

  /** Folds what is queued now if any of `params` is among it (before another use of them adds to their gradients). */
  foldIfQueued(params: readonly Tensor[]): void {
    if (params.some((p) => this.pending.has(p))) this.fold();
  }

  /** Folds everything queued into the gradients (the end of a backward pass). */
  flush(): void {
    this.fold();
    if (this.total > 0) lastTotal.set(this.gpu, Math.max(this.total, lastTotal.get(this.gpu) ?? 0));
    this.total = 0;
  }

  private fold(): void {
    const c = this.chunk;
    if (!c) return;
    this.chunk = null;
    const byArena = new Map<GPUBuffer, ColumnSegment[]>();
    for (const q of c.queued) {
      const accumulate = this.claim(q.params);
      const home = q.params[0]!.gradHome!;
      const segs = byArena.get(home.buffer) ?? [];
      segs.push({ srcOffset: q.srcOffset, rows: q.rows, cols: q.cols, rowStride: q.rowStride, dstOffset: home.offset, accumulate });
      byArena.set(home.buffer, segs);
    }
    for (const [arena, segs] of byArena) reduceColumnSegments(this.gpu, c.buffer, arena, segs, 'deferredColumnSums');
    // Safe to hand back now: work recorded later runs after these dispatches.
    this.gpu.release(c.buffer);
  }

  /**
   * Gives each parameter its gradient in its arena place; returns whether the sums add to it
   * (some already had one: those that had none are zeroed then, by a buffer clear).
   */
  private claim(params: Tensor[]): boolean {
    const had = params.map((p) => p.grad !== null);
    for (const p of params) {
      this.pending.delete(p);
      if (p.grad && !gradInHome(p)) {
        // Written elsewhere meanwhile (an op that aliased another tensor's): move it home.
        const home = p.gradHome!;
        this.gpu.copy(p.grad.buffer, home.buffer, p.size * 4, p.grad.offset * 4, home.offset * 4);
        p.grad.release();
        p.grad = Tensor.wrap(this.gpu, home.buffer, p.shape, home.offset, `grad(${p.name})`);
      }
      p.grad ??= newGrad(p);
    }
    if (!had.some(Boolean)) return false;
    params.forEach((p, i) => {
      if (!had[i]) this.gpu.clear(p.grad!.buffer, p.size * 4, p.grad!.offset * 4);
    });
    return true;
  }
}
