// The browser bundle's entry (`npm run build:web` → dist/web/coca.js + dist/web/shaders/): the
// same device, tape, model, training step and caption search as in Node, on navigator.gpu. The
// host is chosen when the bundle is built (`#gpu-host` → src/gpu/host-browser.ts), so nothing
// below knows it runs in a tab.
import { configureBrowserHost, missingWebGpuReason, type BrowserHostOptions } from '../gpu/host-browser.ts';
import { Gpu, type GpuOptions } from '../gpu/gpu.ts';

export { configureBrowserHost, missingWebGpuReason, type BrowserHostOptions };
export { Gpu, isSoftware, type AdapterSummary } from '../gpu/gpu.ts';
export { CocaError } from '../util/errors.ts';
export { DeviceLostError, GpuRuntimeError, NoAdapterError, ShaderError, ShapeError } from '../gpu/errors.ts';
export { CocaModel } from '../model/coca.ts';
export { loadCheckpointFromUrl, type FetchedCheckpoint } from '../model/checkpoint-web.ts';
export { parseConfig, preprocessOf, type CocaConfig } from '../model/config-schema.ts';
export { TokenizerCore } from '../data/tokenizer-core.ts';
export { trainStep, syntheticBatch } from '../train/step.ts';
export { AdamW } from '../train/adamw.ts';
export { captionImages } from '../infer/caption.ts';
export { Rng } from '../util/prng.ts';
export { startFailure, startOn, type StartState, type StatusElement } from './status.ts';
export { decodePictureInBrowser, pictureToModelInput } from '../data/image-web.ts';
export { defaultPreprocess, type ImagePreprocess } from '../data/preprocess.ts';

/** Opens the tab's GPU device: shaders from `options.shaders` (default: beside this module). */
export async function openGpu(options: BrowserHostOptions & Pick<GpuOptions, 'wait'> = {}): Promise<Gpu> {
  configureBrowserHost(options);
  return Gpu.open({ wait: options.wait });
}
