// The model run of model-run.ts in a browser tab, on navigator.gpu (model.browser.ts drives it).
import { Gpu } from '../../src/gpu/gpu.ts';
import { configureBrowserHost } from '../../src/gpu/host-browser.ts';
import { runModel, type ModelRun, type ModelRunOptions } from './model-run.ts';

export async function runModelInTab(o: ModelRunOptions): Promise<ModelRun & { adapter: string }> {
  configureBrowserHost({ shaders: new URL('./shaders/', import.meta.url).href });
  const gpu = await Gpu.open();
  try {
    const run = await runModel(gpu, o);
    return { ...run, adapter: `${gpu.adapter.vendor} ${gpu.adapter.architecture}` };
  } finally {
    gpu.destroy();
  }
}

(globalThis as { cocaModelRun?: unknown }).cocaModelRun = runModelInTab;
