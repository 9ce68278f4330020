// What the device layer needs from the place it runs in, and nothing more: an adapter, the WGSL
// sources (synchronously: kernels are built while ops are recorded) and the COCA_* settings. Two
// hosts implement it: Node with Dawn (host-node.ts) and a browser's navigator.gpu
// (host-browser.ts). Which one a program gets is chosen when its modules are resolved: gpu.ts
// imports `#gpu-host`, which package.json's "imports" maps to host-browser.ts under the "browser"
// condition (the esbuild bundle) and to host-node.ts everywhere else. So nothing above src/gpu
// knows which host it runs on, and the browser bundle never sees dawn.node or node:fs.

/** The WebGPU implementation an adapter came from: Dawn's Vulkan or OpenGL backend, or a browser's. */
export type BackendName = 'vulkan' | 'opengl' | 'browser';
/** What a caller may ask for; a browser has one WebGPU and ignores it. */
export type BackendChoice = 'vulkan' | 'opengl' | 'auto';

export interface OpenedAdapter {
  backend: BackendName;
  adapter: GPUAdapter;
}

export interface GpuHost {
  readonly kind: 'node' | 'browser';
  /** Opens an adapter or throws NoAdapterError with one line saying what is missing and what to do. */
  openAdapter(choice?: BackendChoice): Promise<OpenedAdapter>;
  /** The text of shaders/<file>.wgsl; throws if the host has no such file. */
  shaderText(file: string): string;
  /** A COCA_* setting: the environment in Node, what the page configured in a browser. */
  setting(name: string): string | undefined;
  /**
   * Whether a pending GPU promise keeps the JS thread busy: dawn.node polls Dawn in a loop while
   * one is pending, so on a software adapter the device sleeps through waits instead (wait.ts); a
   * browser resolves them from its GPU process and the tab's thread stays idle.
   */
  readonly pollsWhileWaiting: boolean;
}

export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';
