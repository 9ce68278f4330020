// The mixed-precision products (shaders/matmul_f16.wgsl, kernels/matmul-f16.ts): f16 operands,
// stored as f16 or rounded from f32 on load, accumulated in f32. Against float64 of the
// f16-rounded inputs, which is exact up to the f32 accumulation, so matmul's f32 tolerance holds;
// and against float64 of the unrounded inputs they must differ by more than it, or the kernel did
// not round. Both kernels (tiled for GPUs, regblock for software adapters), every layout, both
// operand storages, at one element, primes and sizes past the 64x64 tile and the 16-deep slice;
// outputs poisoned with NaN. Overflow past f16's range must come out as Inf (loss scaling counts
// on it), the cast as f16Round, and an adapter without shader-f16 gets one line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { castToF16, chooseMatmulF16Kernel, matmulF16, type HalfOrFloatRef } from '../../kernels/matmul-f16.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { sgmatrixConfig } from '../../kernels/matmul.ts';
import { geluBackwardRef, geluRef } from '../../kernels/pointwise.ref.ts';
import { f16Bits, f16FromBits, f16Round, f16RoundAll } from '../../kernels/f16.ref.ts';
import { compareClose } from '../../src/util/allclose.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

/** An f16 buffer of `data` (rounded) from `offset` halves, NaN around it. */
function uploadHalves(data: ArrayLike<number>, offset: number, label: string): GPUBuffer {
  const n = offset + data.length + 3;
  const bits = new Uint16Array(n + (n % 2)).fill(0x7e00);
  for (let i = 0; i < data.length; i++) bits[offset + i] = f16Bits(data[i]!);
  return gpu.upload(new Uint32Array(bits.buffer), label);
}

function operand(data: Float32Array, shape: number[], half: boolean, offset: number, label: string): HalfOrFloatRef {
  if (half) return { buffer: uploadHalves(data, offset, label), shape, offset, half: true };
  const all = new Float32Array(offset + data.length + 3).fill(NaN);
  all.set(data, offset);
  return { buffer: gpu.upload(all, label), shape, offset };
}

// [batch, M, N, K]: one element, K = 1, primes, just past the 64x64 tile and the 16-deep slice.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 7, 13, 1],
  [1, 65, 67, 33],
  [2, 37, 29, 70],
];

const STORAGE = { NN: [true, false], NT: [false, true], TN: [false, false], TT: [true, true] } as const;

describe('matmul_f16 against float64 of the f16-rounded inputs', () => {
  it('chooses regblock on this software adapter (tiled on real GPUs, sgmatrix with subgroup matrices)', () => {
    expect(chooseMatmulF16Kernel(gpu)).toBe(sgmatrixConfig(gpu) ? 'sgmatrix' : gpu.software ? 'regblock' : 'tiled');
  });

  for (const kernel of ['regblock', 'tiled'] as const) {
    for (const layout of ['NN', 'NT', 'TN', 'TT'] as const) {
      it(`${kernel} ${layout}, A ${STORAGE[layout][0] ? 'f16' : 'f32'} B ${STORAGE[layout][1] ? 'f16' : 'f32'}: bias, alpha, accumulation, offsets, a broadcast A`, async () => {
        for (let s = 0; s < SHAPES.length; s++) {
          const [batch, M, N, K] = SHAPES[s]!;
          const rng = testRng(s);
          const transA = layout[0] === 'T';
          const transB = layout[1] === 'T';
          // One storage pair per layout (each pair is a pipeline to build; lavapipe builds slowly):
          // NT is a linear's forward (x·Wᵀ, W's f16 copy), TN its dW (two f32 activations).
          const [aHalf, bHalf] = STORAGE[layout];
          const bA = s === 3 ? 1 : batch; // one A broadcast over the batch
          // Operands of magnitude up to 3, so that rounding to f16 is visible at these K.
          const a = rng.floats(bA * M * K, -3, 3);
          const b = rng.floats(batch * K * N, -3, 3);
          const bias = rng.floats(N);
          const c0 = s % 2 ? rng.floats(batch * M * N) : undefined;
          const A = operand(a, [bA, ...(transA ? [K, M] : [M, K])], aHalf, s, 'A');
          const B = operand(b, [batch, ...(transB ? [N, K] : [K, N])], bHalf, 2 * s + 1, 'B');
          const Bias = gpu.upload(bias, 'bias');
          const C = c0 ? gpu.upload(c0, 'C') : poisoned(gpu, batch * M * N, 'C');
          matmulF16(gpu, { a: A, b: B, c: { buffer: C, shape: [batch, M, N] }, bias: { buffer: Bias }, alpha: 0.5, accumulate: c0 !== undefined, transA, transB, kernel });
          const got = await gpu.read(C, batch * M * N);
          for (const buf of [A.buffer, B.buffer, C, Bias]) gpu.release(buf);
          const dims = { M, N, K, batch, transA, transB, strideA: bA === 1 ? 0 : M * K };
          const want = matmulRef(f16RoundAll(a), f16RoundAll(b), dims, { alpha: 0.5, bias, accumulate: c0 });
          const tol = matmulTolerance(K);
          expectClose(got, want, tol, `${kernel} ${layout} [${SHAPES[s]}] ${aHalf ? 'h' : 'f'}${bHalf ? 'h' : 'f'}`);
          if (K >= 33) {
            // The f16 rounding is there: the unrounded product is further off than the tolerance.
            const exact = matmulRef(a, b, dims, { alpha: 0.5, bias, accumulate: c0 });
            expect(compareClose(got, exact, tol).ok, `${kernel} ${layout} [${SHAPES[s]}] matches the unrounded product: it did not round to f16`).toBe(false);
          }
        }
      });
    }
  }

  for (const kernel of ['regblock', 'tiled'] as const) {
    it(`${kernel}: the GELU epilogue (apply keeps the pre-activation; grad folds GELU' in)`, async () => {
      const rng = testRng(11);
      const [M, N, K] = [37, 67, 19];
      const x = rng.floats(M * K, -2, 2);
      const w = rng.floats(N * K, -2, 2);
      const bias = rng.floats(N);
      const X = gpu.upload(x, 'x');
      const W = uploadHalves(w, 0, 'w');
      const Bias = gpu.upload(bias, 'bias');
      const G = poisoned(gpu, M * N, 'g');
      const H = poisoned(gpu, M * N, 'h');
      matmulF16(gpu, { a: { buffer: X, shape: [M, K] }, b: { buffer: W, shape: [N, K], half: true }, c: { buffer: G, shape: [M, N] }, transB: true, bias: { buffer: Bias }, gelu: { mode: 'apply', preact: { buffer: H } }, kernel });
      const h = matmulRef(f16RoundAll(x), f16RoundAll(w), { M, N, K, batch: 1, transA: false, transB: true }, { bias });
      expectClose(await gpu.read(H, M * N), h, matmulTolerance(K), `${kernel} pre-activation`);
      expectClose(await gpu.read(G, M * N), geluRef(h), matmulTolerance(K), `${kernel} gelu`);
      // grad: C = (dy·W)·GELU'(h) with h as stored.
      const dy = rng.floats(M * K);
      const DY = gpu.upload(dy, 'dy');
      const D = poisoned(gpu, M * N, 'dh');
      const w2 = rng.floats(K * N);
      const W2 = gpu.upload(w2, 'w2');
      matmulF16(gpu, { a: { buffer: DY, shape: [M, K] }, b: { buffer: W2, shape: [K, N] }, c: { buffer: D, shape: [M, N] }, gelu: { mode: 'grad', preact: { buffer: H } }, kernel });
      const hStored = await gpu.read(H, M * N);
      const v = matmulRef(f16RoundAll(dy), f16RoundAll(w2), { M, N, K, batch: 1, transA: false, transB: false });
      expectClose(await gpu.read(D, M * N), geluBackwardRef(hStored, v), matmulTolerance(K), `${kernel} gelu grad`);
      for (const buf of [X, W, Bias, G, H, DY, D, W2]) gpu.release(buf);
    });

    it(`${kernel}: a value past f16's range is Inf in its products, NaN stays NaN, 65519 is still 65504`, async () => {
      const [M, N, K] = [3, 5, 4];
      const a = new Float32Array(M * K).fill(1);
      a[0] = 70000; // row 0 overflows
      a[K + 1] = NaN; // row 1 is NaN
      a[2 * K + 2] = 65519; // row 2 rounds to the largest finite f16
      const b = new Float32Array(K * N).fill(1);
      const A = gpu.upload(a, 'A');
      const B = gpu.upload(b, 'B');
      const C = poisoned(gpu, M * N, 'C');
      matmulF16(gpu, { a: { buffer: A, shape: [M, K] }, b: { buffer: B, shape: [K, N] }, c: { buffer: C, shape: [M, N] }, kernel });
      const got = await gpu.read(C, M * N);
      for (const buf of [A, B, C]) gpu.release(buf);
      for (let n = 0; n < N; n++) {
        expect(got[n], `row 0 col ${n}`).toBe(Infinity);
        expect(got[N + n], `row 1 col ${n}`).toBeNaN();
        expect(got[2 * N + n], `row 2 col ${n}`).toBe(65504 + 3);
      }
    });
  }

  for (const kernel of ['regblock', 'tiled'] as const) {
    it(`${kernel}: an f16 output (an activation the next product reads) holds the f32 result rounded to f16, accumulation included`, async () => {
      const rng = testRng(31);
      const [M, N, K] = [19, 70, 23];
      const [a, b, bias, c0] = [rng.floats(M * K, -3, 3), rng.floats(N * K, -3, 3), rng.floats(N), rng.floats(M * N, -4, 4)];
      const A = gpu.upload(a, 'A');
      const B = uploadHalves(b, 0, 'B');
      const Bias = gpu.upload(bias, 'bias');
      for (const accumulate of [false, true]) {
        // At an odd offset (in halves), NaN before and after.
        const C = uploadHalves(accumulate ? c0 : new Float32Array(M * N).fill(NaN), 3, 'C');
        matmulF16(gpu, { a: { buffer: A, shape: [M, K] }, b: { buffer: B, shape: [N, K], half: true }, c: { buffer: C, shape: [M, N], offset: 3, half: true }, transB: true, bias: { buffer: Bias }, accumulate, kernel });
        const bits = new Uint16Array(await gpu.readBytes(C, C.size));
        gpu.release(C);
        expect([bits[2], bits[3 + M * N]], 'outside the output').toEqual([0x7e00, 0x7e00]);
        const got = Array.from(bits.subarray(3, 3 + M * N), f16FromBits);
        const want = matmulRef(f16RoundAll(a), f16RoundAll(b), { M, N, K, batch: 1, transA: false, transB: true }, { bias, accumulate: accumulate ? f16RoundAll(c0) : undefined });
        const tol = matmulTolerance(K);
        for (let i = 0; i < M * N; i++) {
          // The f32 result rounded once to f16: within half an f16 step of float64 (plus f32's error).
          const halfStep = Math.abs(f16Round(want[i]!) - want[i]!) + (2 ** (Math.floor(Math.log2(Math.abs(want[i]!) || 1)) - 11));
          expect(Math.abs(got[i]! - want[i]!), `${kernel} accumulate=${accumulate} element ${i}: ${got[i]} for ${want[i]}`).toBeLessThanOrEqual(tol.atol + tol.rtol * Math.abs(want[i]!) + halfStep);
        }
      }
      for (const buf of [A, B, Bias]) gpu.release(buf);
    });
  }

  it("the adapter's own choice (sgmatrix on tensor cores, as the run kit meets it) on f32 operands: a linear's forward with bias and a batched product", async () => {
    const rng = testRng(41);
    for (const [batch, M, N, K, transB] of [[1, 67, 65, 33, true], [3, 17, 40, 70, false]] as const) {
      const a = rng.floats(batch * M * K, -3, 3);
      const b = rng.floats(batch * K * N, -3, 3);
      const bias = rng.floats(N);
      const [A, B, Bias] = [gpu.upload(a, 'A'), gpu.upload(b, 'B'), gpu.upload(bias, 'bias')];
      const C = poisoned(gpu, batch * M * N, 'C');
      matmulF16(gpu, { a: { buffer: A, shape: [batch, M, K] }, b: { buffer: B, shape: [batch, ...(transB ? [N, K] : [K, N])] }, c: { buffer: C, shape: [batch, M, N] }, bias: { buffer: Bias }, transB });
      const got = await gpu.read(C, batch * M * N);
      for (const buf of [A, B, Bias, C]) gpu.release(buf);
      const want = matmulRef(f16RoundAll(a), f16RoundAll(b), { M, N, K, batch, transA: false, transB }, { bias });
      expectClose(got, want, matmulTolerance(K), `${chooseMatmulF16Kernel(gpu)} [${batch}, ${M}, ${N}, ${K}]`);
    }
  });

  it('rejects shapes that do not fit, in one line', () => {
    const X = gpu.alloc(64, 'x');
    expect(() => matmulF16(gpu, { a: { buffer: X, shape: [4, 3] }, b: { buffer: X, shape: [4, 2] }, c: { buffer: gpu.unused, shape: [4, 2] } })).toThrow(/^matmul_f16: A \[4, 3\] · B \[4, 2\]: inner dimensions 3 and 4 differ$/);
    const C = gpu.alloc(8, 'c');
    const halves = X.size / 2;
    expect(() => matmulF16(gpu, { a: { buffer: X, shape: [1, halves], half: true }, b: { buffer: X, shape: [halves, 1], half: true }, c: { buffer: C, shape: [1, 1] } })).not.toThrow();
    expect(() => matmulF16(gpu, { a: { buffer: X, shape: [1, halves + 1], half: true }, b: { buffer: X, shape: [halves + 1, 1] }, c: { buffer: C, shape: [1, 1] } })).toThrow(
      new RegExp(`^matmul_f16: A \\[1, ${halves + 1}\\] needs ${halves + 1} halves from offset 0 but its buffer "x" holds ${halves}$`),
    );
    gpu.release(X);
    gpu.release(C);
  });
});

describe('cast_f16', () => {
  it('rounds as f16Round at an odd offset, Inf past the range, NaN kept, nothing else written', async () => {
    const rng = testRng(21);
    const n = 301;
    const x = rng.floats(n, -70000, 70000);
    x.set([65519, 65520, -65520, NaN, 2 ** -25, 3 * 2 ** -25, 1 / 3, -0.1], 0);
    const Src = gpu.upload(x, 'src');
    const bits = new Uint16Array(n + 5).fill(0x7e01);
    const D = gpu.upload(new Uint32Array(bits.buffer, 0, (n + 5 + 1) >> 1), 'dst');
    castToF16(gpu, { buffer: Src }, { buffer: D, offset: 3 }, n);
    const out = new Uint16Array(await gpu.readBytes(D, D.size));
    gpu.release(Src);
    gpu.release(D);
    for (const i of [0, 1, 2]) expect(out[i], `before the range at ${i}`).toBe(0x7e01);
    expect(out[n + 3], 'after the range').toBe(0x7e01);
    const got = Array.from(out.subarray(3, 3 + n), f16FromBits);
    expect(got.slice(0, 8)).toEqual([65504, Infinity, -Infinity, NaN, 0, 2 ** -23, 0.333251953125, -0.0999755859375]);
    for (let i = 0; i < n; i++) expect(Object.is(got[i], f16Round(x[i]!)) || (Number.isNaN(got[i]) && Number.isNaN(x[i])), `element ${i}: ${x[i]} → ${got[i]}`).toBe(true);
  });
});

describe('without shader-f16', () => {
  it('refuses in one line naming the adapter and what to do', () => {
    const fake = { has: () => false, adapter: { description: 'SwiftShader Device (Subzero)', device: '' }, setting: () => undefined } as unknown as Gpu;
    const X = { buffer: {} as GPUBuffer, shape: [2, 2] };
    expect(() => matmulF16(fake, { a: X, b: X, c: X })).toThrow(/^matmul_f16 needs the shader-f16 feature, which SwiftShader Device \(Subzero\) lacks; use f32 \(--precision f32\)$/);
    expect(() => castToF16(fake, X, X, 4)).toThrow(/^cast_f16 needs the shader-f16 feature/);
  });
});
