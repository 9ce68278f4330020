// Host side of shaders/mlp_rows.wgsl: a pre-norm MLP, y = GELU(LN(x)·W1ᵀ + b1)·W2ᵀ + b2
// (+ residual), for a few rows in one dispatch, with the bits of the two matmuls it replaces
// (skinny with a layernorm prologue and GELU epilogue, then skinny onto the residual).
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkExtent, MAX_ROW, ROW_WG, rowLayout, rowsWithin } from './common.ts';
import { LAYERNORM_EPS } from './layernorm.ts';

type At = { buffer: GPUBuffer; offset?: number };

export interface MlpRowsCall {
  /** Rows, x's row length, c_fc's outputs (hidden), c_proj's outputs. */
  M: number;
  K: number;
  hidden: number;
  N: number;
  /** x [M, K], normalised with γ, β [K] before c_fc. */
  x: At;
  gamma: At;
  beta: At;
  eps?: number;
  /** c_fc: W1 [hidden, K] and b1 [hidden]; c_proj: W2 [N, hidden] and b2 [N] (PyTorch's layout). */
  w1: At;
  b1: At;
  w2: At;
  b2: At;
  /** Added to the output, [M, N]. */
  residual?: At;
  /** The output [M, N]. */
  y: At;
  label?: string;
}

/** Invocations a workgroup: each takes hidden/64 and N/64 columns (8 and 2 at tiny's 512 and 128). */
const WGS = 64;
/**
 * Rows up to which a decoding step's MLP runs here rather than as two skinny products
 * (mlpRowsPay). One workgroup a row runs on one core of a software adapter and reads the weights
 * once per row, where skinny spreads a product over the cores and reads them once per 8 rows; the
 * dispatch saved pays for that at one row only. `npx tsx scripts/ab-decode.ts COCA_MLP_ROWS=0,4
 * [batch]` (tiny, 30 tokens, lavapipe, per-round ratios of 30 rounds at batch 1, 14 at the others):
 * batch 1 0.83 (quartiles 0.69–0.96), batch 2 1.03, batch 4 1.08, batch 16 (COCA_MLP_ROWS=16) 1.23.
 */
export const MLP_ROWS_MAX = 1;

/** Whether an MLP of M rows should take mlpRows (COCA_MLP_ROWS sets the most rows; 0: never). */
export function mlpRowsPay(gpu: Gpu, M: number): boolean {
  return rowsWithin(gpu, 'COCA_MLP_ROWS', M, MLP_ROWS_MAX);
}

/**
 * Whether mlpRows can take this MLP: K and hidden multiples of 4 with the weights on 16-byte
 * boundaries (vec4 loads), K within a layernorm row, and the normalised and hidden rows within the
 * workgroup memory (with the statistics' partials).
 */
export function mlpRowsFits(gpu: Gpu, K: number, hidden: number, w1Offset: number, w2Offset: number): boolean {
  const shared = (K + hidden) * 4 + 2 * ROW_WG * 8;
  return K % 4 === 0 && hidden % 4 === 0 && w1Offset % 4 === 0 && w2Offset % 4 === 0 && K <= MAX_ROW && shared <= gpu.limits.maxComputeWorkgroupStorageSize;
}

export function mlpRows(gpu: Gpu, c: MlpRowsCall): void {
  const { M, K, hidden, N } = c;
  const name = c.label ?? `mlp_rows(${M}x${K}→${hidden}→${N})`;
  for (const [k, v] of [['M', M], ['K', K], ['hidden', hidden], ['N', N]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${name}: ${k} = ${v}; every dimension must be a positive integer`);
  }
  const off = (a?: At) => a?.offset ?? 0;
  if (!mlpRowsFits(gpu, K, hidden, off(c.w1), off(c.w2))) throw new ShapeError(`${name}: needs K and hidden multiples of 4 with the weights 16-byte aligned, K ≤ ${MAX_ROW}, and K + hidden floats of workgroup memory (see mlpRowsFits)`);
  if (M > gpu.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`${name}: ${M} rows, one workgroup each, past the adapter's ${gpu.limits.maxComputeWorkgroupsPerDimension} a dimension`);
  const parts: [string, At, number][] = [['x', c.x, M * K], ['γ', c.gamma, K], ['β', c.beta, K], ['W1', c.w1, hidden * K], ['b1', c.b1, hidden], ['W2', c.w2, N * hidden], ['b2', c.b2, N], ['y', c.y, M * N], ...(c.residual ? [['residual', c.residual, M * N] as [string, At, number]] : [])];
  for (const [what, at, n] of parts) checkExtent(gpu, name, what, at.buffer, off(at), n);
  checkDistinct(name, ['y', c.y], ...parts.filter(([w]) => w !== 'y').map(([w, at]) => [w, at] as const));

  const u = new Uint32Array(12);
  u.set([M, c.residual ? 1 : 0, 0, off(c.x), off(c.w1), off(c.b1), off(c.w2), off(c.b2), off(c.gamma), off(c.beta), off(c.residual), off(c.y)]);
  new Float32Array(u.buffer)[2] = c.eps ?? LAYERNORM_EPS;
  // The statistics' register row is layernorm's own (rowLayout), so both sum in the same order.
  const vpt = rowLayout(gpu, 'matmul', [1, K]).vpt;
  const kernel = gpu.kernelBy(`mlp_rows:${K}:${hidden}:${N}:${vpt}`, () => ({
    file: 'mlp_rows',
    entry: 'mlp_rows',
    defines: { WGS, K, HID: hidden, N, WG: ROW_WG, VPT: vpt },
    bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw'],
  }));
  gpu.dispatch(kernel, u, [c.x.buffer, c.w1.buffer, c.b1.buffer, c.w2.buffer, c.b2.buffer, c.gamma.buffer, c.beta.buffer, c.residual?.buffer ?? gpu.unused, c.y.buffer], [M], name);
}
