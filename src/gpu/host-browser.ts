// The browser host (host.ts): the adapter from navigator.gpu, the WGSL sources fetched once from
// the folder beside the bundle (shaders/index.json lists them; `npm run build:web` writes both),
// settings from configureBrowserHost(). `#gpu-host` resolves here in the esbuild bundle only.
// Nothing here may import a Node module: scripts/check-layers.ts checks the bundle's graph.
import { NoAdapterError } from './errors.ts';
import type { GpuHost } from './host.ts';

export interface BrowserHostOptions {
  /** Folder holding index.json and the .wgsl files; default: shaders/ beside the bundle. */
  shaders?: string | URL;
  /** COCA_* settings (COCA_MATMUL, COCA_ATTENTION, COCA_WAIT…), as the environment gives them in Node. */
  settings?: Record<string, string>;
}

let shaderBase: URL = new URL('./shaders/', import.meta.url);
const settings = new Map<string, string>();
const sources = new Map<string, string>();
let loading: Promise<void> | null = null;

/** Sets where shaders come from and the settings; call before the device is opened. */
export function configureBrowserHost(options: BrowserHostOptions): void {
  if (options.shaders !== undefined) {
    const s = String(options.shaders);
    shaderBase = new URL(s.endsWith('/') ? s : `${s}/`, (globalThis as { location?: { href: string } }).location?.href ?? import.meta.url);
    sources.clear();
    loading = null;
  }
  if (options.settings) for (const [k, v] of Object.entries(options.settings)) settings.set(k, v);
}

async function fetchText(url: URL): Promise<string> {
  const r = await fetch(url);
  if (!r.ok) throw new NoAdapterError(`could not load ${url} (HTTP ${r.status}); the page must be served with the shaders/ folder that npm run build:web writes beside coca.js`);
  return r.text();
}

// Kernels are built synchronously while ops are recorded, so every source is here before the
// device opens: some 20 small files, fetched in parallel.
function loadShaders(): Promise<void> {
  loading ??= (async () => {
    const names = JSON.parse(await fetchText(new URL('index.json', shaderBase))) as string[];
    const texts = await Promise.all(names.map((n) => fetchText(new URL(`${n}.wgsl`, shaderBase))));
    names.forEach((n, i) => sources.set(n, texts[i]!));
  })().catch((e: unknown) => {
    loading = null;
    throw e;
  });
  return loading;
}

/** Why there is no WebGPU here, in one sentence a visitor can act on. */
export function missingWebGpuReason(): string | null {
  const g = globalThis as { navigator?: Partial<NavigatorGPU>; isSecureContext?: boolean };
  if (g.navigator?.gpu) return null;
  if (g.isSecureContext === false) {
    return 'WebGPU is available only on secure pages: open this page over https:// or from localhost.';
  }
  return 'This browser has no WebGPU: use a current Chrome, Edge or Safari, or turn WebGPU on in its settings (chrome://flags/#enable-unsafe-webgpu).';
}

export const host: GpuHost = {
  kind: 'browser',
  pollsWhileWaiting: false,
  async openAdapter() {
    const missing = missingWebGpuReason();
    if (missing) throw new NoAdapterError(missing);
    const gpu = (globalThis as unknown as { navigator: NavigatorGPU }).navigator.gpu;
    const [adapter] = await Promise.all([gpu.requestAdapter({ powerPreference: 'high-performance' }), loadShaders()]);
    if (!adapter) {
      throw new NoAdapterError('WebGPU is present but gave no adapter (the GPU is blocked or unavailable): update the graphics driver or allow it at chrome://flags/#enable-unsafe-webgpu.');
    }
    return { backend: 'browser', adapter };
  },
  shaderText(file) {
    const text = sources.get(file);
    if (text === undefined) throw new Error(`shaders/${file}.wgsl is not among the shaders loaded from ${shaderBase} (open the device first; rebuild with npm run build:web)`);
    return text;
  },
  setting(name) {
    return settings.get(name);
  },
};
