// Subgroup matrices (Dawn's `chromium-experimental-subgroup-matrix`: tensor cores on NVIDIA,
// simdgroup matrices on Apple) as the adapter reports them in `GPUAdapterInfo.subgroupMatrixConfigs`,
// and the one configuration coca's f16 matmul uses. Plain data, no host: the kernels and the
// device read it in Node and in a browser alike (probe.ts, which asks Dawn, is Node's only).
export { SUBGROUP_MATRIX_FEATURE } from './host.ts';

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** The adapter's configurations as plain objects (Dawn returns them as host objects). */
export function readSubgroupMatrixConfigs(info: unknown): SubgroupMatrixConfig[] {
  const raw = (info as { subgroupMatrixConfigs?: Iterable<Record<string, unknown>> } | null)?.subgroupMatrixConfigs;
  if (!raw) return [];
  return [...raw].map((c) => ({
    componentType: String(c.componentType),
    resultComponentType: String(c.resultComponentType),
    M: Number(c.M),
    N: Number(c.N),
    K: Number(c.K),
  }));
}

/**
 * The configuration coca's f16 matmul uses: f16 inputs accumulated in f32, the largest tile of
 * those whose M, N and K divide the 32x32x32 block each subgroup computes; null if none.
 */
export function pickSubgroupMatrixConfig(configs: readonly SubgroupMatrixConfig[]): SubgroupMatrixConfig | null {
  const fits = configs.filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && 32 % c.M === 0 && 32 % c.N === 0 && 32 % c.K === 0);
  return [...fits].sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K)[0] ?? null;
}
