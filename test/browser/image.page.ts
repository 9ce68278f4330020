// The browser's picture path (src/data/image-web.ts) in a tab: image.browser.ts asks for files it
// serves and compares with the sharp path in Node.
import { pictureToModelInput } from '../../src/data/image-web.ts';
import type { ImagePreprocess } from '../../src/data/preprocess.ts';

export async function prepareInTab(url: string, pre: ImagePreprocess): Promise<number[]> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  const out = new Float32Array(3 * pre.size * pre.size);
  await pictureToModelInput(await r.blob(), pre, out);
  return Array.from(out);
}

(globalThis as { cocaPrepare?: unknown }).cocaPrepare = prepareInTab;
