// What the variant heuristics pick for a list of shapes on the adapter at hand (`coca info
// --kernels`): the matmul variant (chooseMatmulVariant) and the attention path
// (chooseAttentionPath), each through the function the kernels themselves call, so the table is
// what a run would do, COCA_MATMUL / COCA_ATTENTION overrides included.
import type { Gpu } from '../src/gpu/gpu.ts';
import { chooseAttentionPath } from './attention.ts';
import { chooseMatmulVariant } from './matmul.ts';
import { chooseMatmulF16Kernel } from './matmul-f16.ts';

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  /** Where the shape comes from (a preset's layer, a benchmark size). */
  where: string;
}

export interface AttentionShape {
  /** Batch × heads. */
  BH: number;
  Lq: number;
  Lk: number;
  D: number;
  where: string;
}

export interface KernelChoice {
  op: 'matmul' | 'attention';
  shape: string;
  where: string;
  choice: string;
}

export function kernelChoices(gpu: Gpu, matmuls: MatmulShape[], attentions: AttentionShape[]): KernelChoice[] {
  return [
    ...matmuls.map((s) => ({ op: 'matmul' as const, shape: `${s.M}x${s.N}x${s.K}`, where: s.where, choice: chooseMatmulVariant(gpu, s.M, s.N, s.K) })),
    ...attentions.map((s) => ({ op: 'attention' as const, shape: `${s.BH}x${s.Lq}x${s.Lk}x${s.D}`, where: s.where, choice: chooseAttentionPath(gpu, s.Lq, s.Lk, s.D, false, s.BH) })),
  ];
}

/** The kernel of `coca train --precision f16`'s products on this adapter, or why there is none. */
export function mixedPrecisionChoice(gpu: Gpu): string {
  return gpu.has('shader-f16') ? chooseMatmulF16Kernel(gpu) : 'unavailable (no shader-f16)';
}
