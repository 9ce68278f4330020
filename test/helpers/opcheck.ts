// Checks an op on the tape end to end: its GPU forward against a float64 reference function, and
// the gradients its backward rule produces (with a random upstream gradient) against central
// finite differences of that same reference. A wrong backward rule, a dropped accumulation or a
// transposed index fails here even when each kernel passes its own tests.
import type { Gpu } from '../../src/gpu/gpu.ts';
import { Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import type { Rng } from '../../src/util/prng.ts';
import { expectClose } from './close.ts';
import { numericGrad } from './finite-diff.ts';

export interface OpCheck {
  name: string;
  /** Input shapes; values are drawn uniform in [-1, 1). */
  shapes: number[][];
  /** Which inputs get gradients (default all). */
  grads?: boolean[];
  gpu: (inputs: Tensor[]) => Tensor;
  ref: (inputs: Float64Array[]) => Float64Array;
  tol?: { atol: number; rtol: number };
  /**
   * Inputs whose gradients live in one shared buffer, each at a 64-float boundary with NaN
   * between (Tensor.gradHome), as a parameter arena holds them: kernels that write two
   * gradients into one buffer (a bias beside its weight) run as in training.
   */
  arena?: number[];
  /**
   * Draws the inputs instead (one array per shape), for ops whose check needs inputs away from a
   * kink: max pool's windows free of near-ties (test/helpers/pool-gap.ts).
   */
  draw?: (rng: Rng) => Float32Array[];
}

export async function checkOp(gpu: Gpu, rng: Rng, c: OpCheck): Promise<void> {
  const data = c.draw ? c.draw(rng) : c.shapes.map((s) => rng.floats(s.reduce((a, b) => a * b, 1)));
  data.forEach((d, i) => {
    if (d.length !== c.shapes[i]!.reduce((a, b) => a * b, 1)) throw new Error(`${c.name}: drawn input ${i} has ${d.length} values, its shape [${c.shapes[i]}] holds ${c.shapes[i]!.reduce((a, b) => a * b, 1)}`);
  });
  const inputs = data.map((d, i) => Tensor.fromArray(gpu, d, c.shapes[i]!, `in${i}`, c.grads?.[i] ?? true));
  let arena: GPUBuffer | null = null;
  if (c.arena) {
    const at: number[] = [];
    let floats = 0;
    for (const i of c.arena) {
      at.push(floats);
      floats += Math.ceil((inputs[i]!.size + 1) / 64) * 64;
    }
    arena = gpu.upload(new Float32Array(floats).fill(NaN), 'grad-arena');
    c.arena.forEach((i, k) => (inputs[i]!.gradHome = { buffer: arena!, offset: at[k]! }));
  }
  const tape = new Tape();
  const y = withTape(tape, () => c.gpu(inputs));
  tape.keep(y);
  const want = c.ref(data.map((d) => Float64Array.from(d)));
  const tol = c.tol ?? { atol: 1e-5, rtol: 1e-4 };
  expectClose(await y.toArray(), want, tol, `${c.name} forward`);
  const dy = rng.floats(y.size);
  tape.backward(y, Tensor.fromArray(gpu, dy, y.shape, 'dy'));
  const dy64 = Float64Array.from(dy);
  for (const [i, x] of inputs.entries()) {
    if (!x.requiresGrad) continue;
    const xs = data.map((d) => Float64Array.from(d));
    const num = numericGrad((xi) => c.ref(xs.map((d, j) => (j === i ? xi : d))), xs[i]!, dy64, 1e-6);
    // Finite differences of a float64 function are good to ~1e-9; the GPU side is float32.
    expectClose(await x.grad!.toArray(), num, { atol: Math.max(tol.atol, 1e-5), rtol: Math.max(tol.rtol, 1e-4) }, `${c.name} grad of input ${i}`);
  }
  tape.dispose();
  y.release();
  for (const x of inputs) {
    x.grad?.release();
    x.release();
  }
  if (arena) gpu.release(arena);
}
