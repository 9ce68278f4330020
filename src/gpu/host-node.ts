// The Node host (host.ts): adapters from Dawn (backend.ts), shaders read from shaders/ on disk,
// settings from the environment. `#gpu-host` resolves here everywhere but the browser bundle.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuHost } from './host.ts';

export const SHADER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shaders');

export const host: GpuHost = {
  kind: 'node',
  pollsWhileWaiting: true,
  async openAdapter(choice) {
    // Loaded on first use, not at import: code that only specialises shaders (unit tests, the
    // layer check) should not load dawn.node.
    const { openAdapter } = await import('./backend.ts');
    return openAdapter(choice);
  },
  shaderText(file) {
    return readFileSync(join(SHADER_DIR, `${file}.wgsl`), 'utf8');
  },
  setting(name) {
    return process.env[name];
  },
};
