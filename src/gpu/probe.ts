// What an adapter offers beyond what coca's device asks for: every feature it lists, the
// experimental ones included, and the subgroup-matrix configurations (Dawn's
// `chromium-experimental-subgroup-matrix`: tensor cores on NVIDIA, simdgroup matrices on Apple)
// that `GPUAdapterInfo.subgroupMatrixConfigs` reports. Dawn lists experimental features only on an
// instance made with the `allow_unsafe_apis` toggle, so the probe opens one of its own; the
// device coca computes on is untouched by it.
import { create } from 'webgpu';
import type { BackendName } from './host.ts';
import { withDawnWarningsHidden } from './quiet-native.ts';
import { readSubgroupMatrixConfigs, SUBGROUP_MATRIX_FEATURE, type SubgroupMatrixConfig } from './subgroup-matrix.ts';

export { pickSubgroupMatrixConfig, readSubgroupMatrixConfigs, SUBGROUP_MATRIX_FEATURE, type SubgroupMatrixConfig } from './subgroup-matrix.ts';

export interface AdapterProbe {
  /** Every feature the adapter lists with unsafe APIs allowed, sorted. */
  features: string[];
  /** Null where the adapter lacks chromium-experimental-subgroup-matrix. */
  subgroupMatrixConfigs: SubgroupMatrixConfig[] | null;
}

// Kept for the life of the process, as backend.ts does with its instances (a collected Dawn
// instance crashes the process: ../shared/research/webgpu-node.md).
const pinned: GPU[] = [];

export async function probeAdapter(backend: BackendName): Promise<AdapterProbe | null> {
  if (backend === 'browser') return null;
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
