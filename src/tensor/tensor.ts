// Tensor: a shape over float32 storage in a pooled GPU buffer, with an optional gradient.
//
// Storage is shared by views (reshape, slices along the first axis) and reference-counted:
// the buffer goes back to the pool when the last tensor using it is released. Ops never free
// their inputs; the tape releases what it created once no backward rule needs it.
import type { Gpu } from '../gpu/gpu.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { TapeEntry } from './tape.ts';

class Storage {
  refs = 1;
  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    /** Pooled storage returns to the pool; external storage (a caller's buffer) is left alone. */
    readonly pooled: boolean,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0 && this.pooled) this.gpu.release(this.buffer);
  }
}

// Tensors made while a tidy() scope is open, innermost scope last.
const scopes: Set<Tensor>[] = [];

/**
 * Runs `fn` and then releases every tensor made inside it except those in its result (a tensor,
 * or an array or plain object of them, one level deep). Inference code runs in tidy(): with no
 * tape recording, nothing else would free the intermediates.
 */
export function tidy<T>(fn: () => T): T {
  const made = new Set<Tensor>();
  scopes.push(made);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keep = new Set<Tensor>();
  const visit = (v: unknown) => {
    if (v instanceof Tensor) keep.add(v);
  };
  if (Array.isArray(result)) result.forEach(visit);
  else if (result instanceof Tensor) visit(result);
  else if (result && typeof result === 'object') Object.values(result).forEach(visit);
  for (const t of made) {
    if (keep.has(t)) scopes.at(-1)?.add(t); // an outer scope now owns it
    else t.release();
  }
  return result;
}

/** Exempts a long-lived tensor (a cache) from the tidy() scopes open while it was made. */
export function persist(t: Tensor): Tensor {
  for (const s of scopes) s.delete(t);
  return t;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Where a tensor's data starts: its buffer and offset (floats), as the kernel launchers take an operand. */
export const bufferAt = (t: Tensor): { buffer: GPUBuffer; offset: number } => ({ buffer: t.buffer, offset: t.offset });

export class Tensor {
  readonly size: number;
  grad: Tensor | null = null;
  /**
   * Where this tensor's gradient is written when it gets a fresh one (a parameter's place in the
   * flat gradient arena the optimiser reads in one pass); null: a pooled buffer of its own.
   */
  gradHome: { buffer: GPUBuffer; offset: number } | null = null;
  /**
   * For a view of a parameter (narrowRows, reshape): the parameter and the view's first element
   * in it. A product writing the view's gradient then accumulates it straight into the
   * parameter's place in the arena (gradSlot), so routing it there costs no copy dispatch, and a
   * bias that is such a view can ride in dW's pass.
   */
  gradView: { parent: Tensor; at: number } | null = null;
  requiresGrad: boolean;
  /** The tape entry that produced this tensor, if any (null for leaves). */
  creator: TapeEntry | null = null;
  name: string;
  private released = false;

  private constructor(
    private readonly storage: Storage,
    readonly shape: readonly number[],
    /** Offset of the first element in the buffer, in floats. */
    readonly offset: number,
    opts: { requiresGrad?: boolean; name?: string },
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d <= 0) throw new ShapeError(`tensor ${opts.name ?? ''} ${shapeStr(shape)}: every dimension must be a positive integer`);
    }
    this.size = numel(shape);
    this.requiresGrad = opts.requiresGrad ?? false;
    this.name = opts.name ?? 'tensor';
    scopes.at(-1)?.add(this);
  }

  get gpu(): Gpu {
    return this.storage.gpu;
  }

  get buffer(): GPUBuffer {
    if (this.released) throw new Error(`tensor "${this.name}" ${shapeStr(this.shape)} used after release`);
    return this.storage.buffer;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** An uninitialised tensor in a pooled buffer. */
  static empty(gpu: Gpu, shape: readonly number[], name = 'tensor', requiresGrad = false): Tensor {
    const buffer = gpu.alloc(numel(shape), name);
    return new Tensor(new Storage(gpu, buffer, true), shape, 0, { name, requiresGrad });
  }

  static zeros(gpu: Gpu, shape: readonly number[], name = 'zeros', requiresGrad = false): Tensor {
    const t = Tensor.empty(gpu, shape, name, requiresGrad);
    gpu.write(t.buffer, new Float32Array(t.size));
    return t;
  }

  static fromArray(gpu: Gpu, data: ArrayLike<number>, shape: readonly number[], name = 'tensor', requiresGrad = false): Tensor {
    if (data.length !== numel(shape)) throw new ShapeError(`tensor "${name}": ${data.length} values do not fill shape ${shapeStr(shape)}`);
    const t = Tensor.empty(gpu, shape, name, requiresGrad);
    gpu.write(t.buffer, data instanceof Float32Array ? data : Float32Array.from(data));
    return t;
  }

  /** Takes ownership of a buffer from the pool (a kernel's saved state); released to the pool. */
  static adopt(gpu: Gpu, buffer: GPUBuffer, shape: readonly number[], name: string): Tensor {
    return new Tensor(new Storage(gpu, buffer, true), shape, 0, { name });
  }

  /** Wraps a caller-owned buffer; releasing the tensor leaves the buffer alone. */
  static wrap(gpu: Gpu, buffer: GPUBuffer, shape: readonly number[], offset = 0, name = 'wrapped'): Tensor {
    if ((offset + numel(shape)) * 4 > buffer.size) throw new ShapeError(`tensor "${name}" ${shapeStr(shape)} at offset ${offset} does not fit its buffer of ${buffer.size} bytes`);
    return new Tensor(new Storage(gpu, buffer, false), shape, offset, { name });
  }

  /** Same storage, another shape of the same size (no copy). */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveShape(shape, this.size, this.shape);
    this.storage.retain();
    return new Tensor(this.storage, resolved, this.offset, { name: this.name });
  }

  /** Rows [start, start+count) along the first axis (contiguous, so no copy). */
  narrow(start: number, count: number): Tensor {
    const rows = this.shape[0]!;
    if (start < 0 || count <= 0 || start + count > rows) throw new ShapeError(`narrow(${start}, ${count}) of ${shapeStr(this.shape)} is out of range`);
    const inner = this.size / rows;
    this.storage.retain();
    return new Tensor(this.storage, [count, ...this.shape.slice(1)], this.offset + start * inner, { name: this.name });
  }

  async toArray(): Promise<Float32Array> {
    return this.gpu.read(this.buffer, this.size, this.offset);
  }

  /** Gives the storage back (to the pool, when no other view holds it). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.storage.release();
  }

  toString(): string {
    return `Tensor("${this.name}", ${shapeStr(this.shape)})`;
  }
}

function resolveShape(shape: readonly number[], size: number, from: readonly number[]): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const known = numel(out.filter((_, i) => i !== free));
    out[free] = size / known;
  }
  if (numel(out) !== size || out.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new ShapeError(`cannot reshape ${shapeStr(from)} (${size} elements) to ${shapeStr(shape)}`);
  }
  return out;
}
