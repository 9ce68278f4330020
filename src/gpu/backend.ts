// Node's adapter (host-node.ts): chooses the Dawn backend and opens an adapter. Vulkan first (a
// real GPU, or Mesa's lavapipe on machines without one); the OpenGL compatibility backend on
// llvmpipe as a fallback.
import { create, globals } from 'webgpu';
import { NoAdapterError } from './errors.ts';
import { SUBGROUP_MATRIX_FEATURE, type BackendChoice, type BackendName, type OpenedAdapter } from './host.ts';
import { withDawnWarningsHidden } from './quiet-native.ts';

export type { BackendChoice, BackendName, OpenedAdapter } from './host.ts';
/** The backends Dawn is asked for in Node. */
export type DawnBackend = Exclude<BackendName, 'browser'>;

// The object returned by create() must stay strongly referenced while any device made from it
// is in use: if V8 collects it, Dawn crashes inside ProcessEvents (segfault, futex error or a
// hang; ../shared/research/webgpu-node.md). Every instance we make is pinned here for the life
// of the process.
const pinned: GPU[] = [];
(globalThis as { __cocaDawnInstances?: GPU[] }).__cocaDawnInstances = pinned;

let globalsInstalled = false;
function installGlobals(): void {
  // GPUBufferUsage, GPUMapMode, GPUShaderStage... are globals in a browser; dawn.node exports them.
  if (!globalsInstalled) {
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
}

export function backendFromEnv(): BackendChoice {
  const v = (process.env.COCA_BACKEND ?? 'auto').toLowerCase();
  if (v === 'vulkan' || v === 'opengl' || v === 'auto') return v;
  throw new NoAdapterError(`COCA_BACKEND=${v} is not a backend; use vulkan, opengl or auto`);
}

async function tryBackend(backend: DawnBackend, flags: string[] = []): Promise<GPUAdapter | null> {
  installGlobals();
  if (backend === 'opengl') {
    // llvmpipe through EGL without a display; must be set before Dawn loads EGL.
    process.env.EGL_PLATFORM ??= 'surfaceless';
  }
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const gpu = create([`backend=${backend}`, ...flags]);
  pinned.push(gpu);
  const options: GPURequestAdapterOptions = backend === 'opengl' ? { featureLevel: 'compatibility' } : {};
  try {
    return await withDawnWarningsHidden(() => gpu.requestAdapter({ powerPreference: 'high-performance', ...options }));
  } catch {
    return null;
  }
}

export { SUBGROUP_MATRIX_FEATURE };

/**
 * Dawn lists its experimental subgroup matrices (tensor cores) only on an instance that allows
 * unsafe APIs. Only when asked (COCA_SUBGROUP_MATRIX=on, or COCA_MATMUL=sgmatrix) is a hardware
 * Vulkan adapter asked again through such an instance, and that adapter used where it has them:
 * no heuristic picks the sgmatrix kernel yet, and until the run kit has shown it on real drivers
 * every other user keeps the adapter Dawn gives without unsafe APIs. Software adapters (lavapipe)
 * never have them and skip the second instance.
 */
async function withSubgroupMatrix(backend: DawnBackend, plain: GPUAdapter): Promise<GPUAdapter> {
  const info = plain.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const asked = process.env.COCA_SUBGROUP_MATRIX === 'on' || process.env.COCA_MATMUL === 'sgmatrix';
  if (backend !== 'vulkan' || !asked || info.isFallbackAdapter || info.architecture === 'software') return plain;
  const unsafe = await tryBackend(backend, ['enable-dawn-features=allow_unsafe_apis']);
  return unsafe?.features.has(SUBGROUP_MATRIX_FEATURE) ? unsafe : plain;
}

export async function openAdapter(choice: BackendChoice = backendFromEnv()): Promise<OpenedAdapter> {
  const order: DawnBackend[] = choice === 'auto' ? ['vulkan', 'opengl'] : [choice];
  for (const backend of order) {
    const adapter = await tryBackend(backend);
    if (adapter) return { backend, adapter: await withSubgroupMatrix(backend, adapter) };
  }
  const tried = order.join(' and ');
  throw new NoAdapterError(
    `no WebGPU adapter found (tried ${tried}); run scripts/setup.sh to install Mesa's lavapipe (software Vulkan), ` +
      `or set COCA_BACKEND=opengl to use llvmpipe through OpenGL`,
  );
}
