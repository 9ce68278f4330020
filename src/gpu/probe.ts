// What an adapter offers beyond what coca's device asks for: every feature it lists, the
// experimental ones included, and the subgroup-matrix configurations (Dawn's
// `chromium-experimental-subgroup-matrix`: tensor cores on NVIDIA, simdgroup matrices on Apple)
// that `GPUAdapterInfo.subgroupMatrixConfigs` reports. Dawn lists experimental features only on an
// instance made with the `allow_unsafe_apis` toggle, so the probe opens one of its own; the
// device coca computes on is untouched by it.
import { create } from 'webgpu';
import { SUBGROUP_MATRIX_FEATURE, type BackendName } from './backend.ts';
import { withDawnWarningsHidden } from './quiet-native.ts';

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface AdapterProbe {
  /** Every feature the adapter lists with unsafe APIs allowed, sorted. */
  features: string[];
  /** Null where the adapter lacks chromium-experimental-subgroup-matrix. */
  subgroupMatrixConfigs: SubgroupMatrixConfig[] | null;
}

export { SUBGROUP_MATRIX_FEATURE };

// Kept for the life of the process, as backend.ts does with its instances (a collected Dawn
// instance crashes the process: ../shared/research/webgpu-node.md).
const pinned: GPU[] = [];

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

export async function probeAdapter(backend: BackendName): Promise<AdapterProbe | null> {
  const gpu = create([`backend=${backend}`, 'enable-dawn-features=allow_unsafe_apis']);
  pinned.push(gpu);
  const adapter = await withDawnWarningsHidden(() => gpu.requestAdapter({ powerPreference: 'high-performance', ...(backend === 'opengl' ? { featureLevel: 'compatibility' } : {}) })).catch(() => null);
  if (!adapter) return null;
  const features = [...adapter.features].map(String).sort();
  return {
    features,
    subgroupMatrixConfigs: features.includes(SUBGROUP_MATRIX_FEATURE) ? readSubgroupMatrixConfigs(adapter.info) : null,
  };
}

/**
 * The configuration coca's f16 matmul uses: f16 inputs accumulated in f32, the largest tile of
 * those whose M, N and K divide the 32x32x32 block each subgroup computes; null if none.
 */
export function pickSubgroupMatrixConfig(configs: readonly SubgroupMatrixConfig[]): SubgroupMatrixConfig | null {
  const fits = configs.filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && 32 % c.M === 0 && 32 % c.N === 0 && 32 % c.K === 0);
  return [...fits].sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K)[0] ?? null;
}
