// The LSTM family against its float64 reference: the fused cell and its backward at batch and
// hidden sizes of 1, primes and past one workgroup, with pre-activations far into saturation
// (±100: tanh must not turn NaN), each optional input present and absent, h' written into
// strided rows and dh read from them with NaN around; then a whole sequence run as a step would
// (one gates matmul into [x | h], the cell writing h' into the next step's [x | h]) and its
// backward through time (cell backward reading the next step's d[x | h], one d[x | h] matmul per
// step, dW and db once over the sequence), against the float64 sequence and its BPTT.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { lstmCell, lstmCellBackward, lstmGates, lstmGatesBackward } from '../../kernels/lstm.ts';
import { lstmCellBackwardRef, lstmCellRef, lstmSequenceBackwardRef, lstmSequenceRef, lstmTolerance } from '../../kernels/lstm.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

/** Rows b of width H at `off + b·stride` in `all`. */
const rowsOf = (all: Float32Array, B: number, H: number, off: number, stride: number) => {
  const out = new Float32Array(B * H);
  for (let b = 0; b < B; b++) out.set(all.subarray(off + b * stride, off + b * stride + H), b * H);
  return out;
};

interface CellCase {
  B: number;
  H: number;
  off?: number;
  /** Which optional inputs are given. */
  c?: boolean;
  dh?: boolean;
  into?: boolean;
  dc?: boolean;
}

async function runCell(k: CellCase, salt: number): Promise<void> {
  const rng = testRng(salt);
  const { B, H } = k;
  const what = `lstm cell [${B}, ${H}] offset ${k.off ?? 0} c ${!!k.c} dh ${!!k.dh} into ${!!k.into} dc ${!!k.dc}`;
  const pre = rng.floats(B * 4 * H, -4, 4);
  // A few saturated units: σ and tanh at ±100.
  for (let i = 0; i < pre.length; i += 7) pre[i] = (i % 2 ? 100 : -100) * (0.5 + rng.uniform(0, 0.5));
  const c = rng.floats(B * H, -2, 2);
  const dh = rng.floats(B * H);
  const dc = rng.floats(B * H);
  const o = (j: number) => (k.off ? k.off + j : 0);
  const t = (buffer: GPUBuffer, shape: number[], j: number) => ({ buffer, shape, offset: o(j) });
  // Strided rows: H floats every H + 3, NaN between.
  const stride = H + 3;
  const intoFloats = o(5) + (B - 1) * stride + H + 3;
  const G = placed(gpu, pre, o(0), 'gates');
  const C = placed(gpu, c, o(1), 'c');
  const CO = poisoned(gpu, o(2) + B * H, 'c_out');
  const Hh = poisoned(gpu, o(3) + B * H, 'h');
  const INTO = poisoned(gpu, intoFloats, 'h_into');
  lstmCell(gpu, { gates: t(G, [B, 4 * H], 0), c: k.c ? t(C, [B, H], 1) : undefined, cOut: t(CO, [B, H], 2), h: t(Hh, [B, H], 3), hInto: k.into ? { buffer: INTO, offset: o(5), rowStride: stride } : undefined });
  const ref = lstmCellRef(pre, k.c ? c : null, B, H);
  const tol = lstmTolerance(1);
  const acts = await gpu.read(G, B * 4 * H, o(0));
  expectClose(acts, ref.acts, tol, `${what}: activations`);
  expectClose(await gpu.read(CO, B * H, o(2)), ref.c, tol, `${what}: c'`);
  expectClose(await gpu.read(Hh, B * H, o(3)), ref.h, tol, `${what}: h'`);
  const into = await gpu.read(INTO, intoFloats);
  if (k.into) {
    expectClose(rowsOf(into, B, H, o(5), stride), ref.h, tol, `${what}: h' in strided rows`);
    expect(Number.isNaN(into[o(5) + H]!), `${what}: the gap after row 0 is left alone`).toBe(true);
  } else expect(into.every(Number.isNaN), `${what}: no hInto, nothing written`).toBe(true);

  // Backward, from the kernel's own activations; dh split between a dense and a strided share.
  const dhInto = rng.floats(B * H);
  const intoAll = new Float32Array(intoFloats).fill(NaN);
  for (let b = 0; b < B; b++) intoAll.set(dhInto.subarray(b * H, (b + 1) * H), o(5) + b * stride);
  const DH = placed(gpu, dh, o(6), 'dh');
  const DHI = gpu.upload(intoAll, 'dh_into');
  const DC = placed(gpu, dc, o(7), 'dc');
  const DG = poisoned(gpu, o(8) + B * 4 * H, 'dgates');
  const DCP = poisoned(gpu, o(9) + B * H, 'dc_prev');
  lstmCellBackward(gpu, {
    acts: t(G, [B, 4 * H], 0),
    c: k.c ? t(C, [B, H], 1) : undefined,
    dh: k.dh ? t(DH, [B, H], 6) : undefined,
    dhInto: k.into ? { buffer: DHI, offset: o(5), rowStride: stride } : undefined,
    dc: k.dc ? t(DC, [B, H], 7) : undefined,
    dgates: t(DG, [B, 4 * H], 8),
    dcPrev: t(DCP, [B, H], 9),
  });
  const dhSum = Float64Array.from({ length: B * H }, (_, e) => (k.dh ? dh[e]! : 0) + (k.into ? dhInto[e]! : 0));
  const bref = lstmCellBackwardRef(acts, k.c ? c : null, dhSum, k.dc ? dc : null, B, H);
  expectClose(await gpu.read(DG, B * 4 * H, o(8)), bref.dgates, tol, `${what}: dgates`);
  expectClose(await gpu.read(DCP, B * H, o(9)), bref.dcPrev, tol, `${what}: dc_prev`);
  for (const b of [G, C, CO, Hh, INTO, DH, DHI, DC, DG, DCP]) gpu.release(b);
}

async function runSequence(T: number, B: number, I: number, H: number, salt: number): Promise<void> {
  const rng = testRng(salt);
  const K = I + H;
  const what = `lstm sequence T ${T} B ${B} I ${I} H ${H}`;
  const d = { T, B, I, H };
  const x = rng.floats(T * B * I);
  const h0 = rng.floats(B * H);
  const c0 = rng.floats(B * H);
  const ws = 1 / Math.sqrt(K);
  const w = rng.floats(4 * H * K, -ws, ws);
  const bias = rng.floats(4 * H, -ws, ws);
  const dhs = rng.floats(T * B * H);
  const dcT = rng.floats(B * H);
  // [x_t | h_{t-1}] for every step in one buffer: x halves uploaded, h_0 in step 0's, the cell
  // writes the rest.
  const xhAll = new Float32Array(T * B * K).fill(NaN);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) xhAll.set(x.subarray((t * B + b) * I, (t * B + b + 1) * I), (t * B + b) * K);
  for (let b = 0; b < B; b++) xhAll.set(h0.subarray(b * H, (b + 1) * H), b * K + I);
  const XH = gpu.upload(xhAll, 'xh');
  const W = gpu.upload(w, 'w');
  const BI = gpu.upload(bias, 'bias');
  const GA = poisoned(gpu, T * B * 4 * H, 'gates');
  const HS = poisoned(gpu, T * B * H, 'hs');
  const CS = [gpu.upload(c0, 'c0'), ...Array.from({ length: T }, (_, t) => poisoned(gpu, B * H, `c${t + 1}`))];
  const at = (buffer: GPUBuffer, shape: number[], offset: number) => ({ buffer, shape, offset });
  for (let t = 0; t < T; t++) {
    lstmGates(gpu, { xh: at(XH, [B, K], t * B * K), w: at(W, [4 * H, K], 0), bias: at(BI, [4 * H], 0), gates: at(GA, [B, 4 * H], t * B * 4 * H) });
    lstmCell(gpu, {
      gates: at(GA, [B, 4 * H], t * B * 4 * H),
      c: at(CS[t]!, [B, H], 0),
      cOut: at(CS[t + 1]!, [B, H], 0),
      h: at(HS, [B, H], t * B * H),
      hInto: t + 1 < T ? { buffer: XH, offset: (t + 1) * B * K + I, rowStride: K } : undefined,
    });
  }
  const ref = lstmSequenceRef(x, h0, c0, w, bias, d);
  const tol = lstmTolerance(K, T);
  expectClose(await gpu.read(HS, T * B * H), ref.hs, tol, `${what}: hs`);
  expectClose(await gpu.read(CS[T]!, B * H), ref.cT, tol, `${what}: c_T`);

  const DHS = gpu.upload(dhs, 'dhs');
  const DCT = gpu.upload(dcT, 'dcT');
  const DG = poisoned(gpu, T * B * 4 * H, 'dgates');
  const DXH = poisoned(gpu, T * B * K, 'dxh');
  const DCS = Array.from({ length: T }, (_, t) => poisoned(gpu, B * H, `dc${t}`));
  for (let t = T - 1; t >= 0; t--) {
    lstmCellBackward(gpu, {
      acts: at(GA, [B, 4 * H], t * B * 4 * H),
      c: at(CS[t]!, [B, H], 0),
      dh: at(DHS, [B, H], t * B * H),
      dhInto: t + 1 < T ? { buffer: DXH, offset: (t + 1) * B * K + I, rowStride: K } : undefined,
      dc: t + 1 < T ? at(DCS[t + 1]!, [B, H], 0) : at(DCT, [B, H], 0),
      dgates: at(DG, [B, 4 * H], t * B * 4 * H),
      dcPrev: at(DCS[t]!, [B, H], 0),
    });
    lstmGatesBackward(gpu, { dgates: at(DG, [B, 4 * H], t * B * 4 * H), xh: at(XH, [B, K], t * B * K), w: at(W, [4 * H, K], 0), dxh: at(DXH, [B, K], t * B * K) });
  }
  // dW and db once over every step: [T·B, 4H]ᵀ·[T·B, I + H].
  const DW = poisoned(gpu, 4 * H * K, 'dw');
  const DB = poisoned(gpu, 4 * H, 'db');
  lstmGatesBackward(gpu, { dgates: at(DG, [T * B, 4 * H], 0), xh: at(XH, [T * B, K], 0), w: at(W, [4 * H, K], 0), dw: at(DW, [4 * H, K], 0), dbias: at(DB, [4 * H], 0) });
  const bref = lstmSequenceBackwardRef(x, h0, c0, w, bias, dhs, dcT, d);
  const dxh = await gpu.read(DXH, T * B * K);
  expectClose(rowsOf(dxh, T * B, I, 0, K), bref.dx, tol, `${what}: dx`);
  expectClose(rowsOf(dxh, B, H, I, K), bref.dh0, tol, `${what}: dh0`);
  expectClose(await gpu.read(DCS[0]!, B * H), bref.dc0, tol, `${what}: dc0`);
  expectClose(await gpu.read(DW, 4 * H * K), bref.dw, lstmTolerance(K, T * B), `${what}: dW`);
  expectClose(await gpu.read(DB, 4 * H), bref.db, lstmTolerance(K, T * B), `${what}: db`);
  for (const b of [XH, W, BI, GA, HS, ...CS, DHS, DCT, DG, DXH, ...DCS, DW, DB]) gpu.release(b);
}

describe('lstm cell', () => {
  it('matches float64 forward and backward at awkward sizes, saturated gates included', async () => {
    const all = { c: true, dh: true, into: true, dc: true };
    const cases: CellCase[] = [
      { B: 1, H: 1, ...all },
      { B: 3, H: 5, off: 3, ...all },
      { B: 7, H: 67, ...all },
      { B: 2, H: 131, off: 1, ...all },
    ];
    let salt = 0;
    for (const c of cases) await runCell(c, salt++);
  });

  it('treats absent c, dh, strided rows and dc as zeros', async () => {
    await runCell({ B: 3, H: 5, off: 2 }, 10);
    await runCell({ B: 3, H: 5, c: true, dc: true }, 11);
    await runCell({ B: 2, H: 7, dh: true, into: true }, 12);
  });
});

describe('lstm sequence', () => {
  it('runs steps through one gates matmul and the cell, and back through time, as float64', async () => {
    await runSequence(1, 1, 1, 1, 20);
    await runSequence(3, 3, 5, 7, 21);
    await runSequence(4, 2, 13, 17, 22);
  });
});

describe('lstm bad input', () => {
  it('names what does not fit', () => {
    const b = Array.from({ length: 5 }, (_, i) => gpu.alloc(256, `b${i}`));
    const t = (i: number, shape: number[]) => ({ buffer: b[i]!, shape });
    expect(() => lstmCell(gpu, { gates: t(0, [2, 10]), cOut: t(1, [2, 2]), h: t(2, [2, 2]) })).toThrow(/gates \[2, 10\] must be \[batch, 4·hidden\]/);
    expect(() => lstmCell(gpu, { gates: t(0, [2, 8]), cOut: t(1, [2, 3]), h: t(2, [2, 2]) })).toThrow(/cOut \[2, 3\] should be \[2, 2\]/);
    expect(() => lstmCell(gpu, { gates: t(0, [2, 8]), cOut: t(1, [2, 2]), h: t(2, [2, 2]), hInto: { buffer: b[3]!, rowStride: 1 } })).toThrow(/hInto has row stride 1; rows of 2 need at least 2/);
    expect(() => lstmCell(gpu, { gates: t(0, [2, 8]), c: t(1, [2, 2]), cOut: t(1, [2, 2]), h: t(2, [2, 2]) })).toThrow(/cOut must not share a buffer with c/);
    expect(() => lstmGates(gpu, { xh: t(0, [2, 5]), w: t(1, [8, 6]), gates: t(2, [2, 8]) })).toThrow(/w \[8, 6\] should be \[8, 5\]/);
    for (const x of b) gpu.release(x);
  });
});
