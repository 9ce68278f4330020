// Captions in a tab from a fetched checkpoint (src/model/checkpoint-web.ts), pictures decoded by
// the browser (src/data/image-web.ts), the tokenizer of src/data/tokenizer-core.ts: what
// caption.browser.ts compares with `coca caption`'s path in Node.
import { pictureToModelInput } from '../../src/data/image-web.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { configureBrowserHost } from '../../src/gpu/host-browser.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { loadCheckpointFromUrl } from '../../src/model/checkpoint-web.ts';
import { preprocessOf } from '../../src/model/config-schema.ts';

export interface TabCaption {
  text: string;
  tokens: number[];
  score: number;
}

export async function captionInTab(checkpoint: string, pictures: string[], beams: number, query: string): Promise<{ captions: TabCaption[]; queryIds: number[] }> {
  configureBrowserHost({ shaders: new URL('./shaders/', import.meta.url).href });
  const gpu = await Gpu.open();
  try {
    const { model, config, tokenizer } = await loadCheckpointFromUrl(gpu, checkpoint);
    if (!tokenizer) throw new Error('the checkpoint has no tokenizer.json');
    const pre = preprocessOf(config);
    if (!pre) throw new Error('the checkpoint records no preprocessing');
    const S = pre.size;
    const images = new Float32Array(pictures.length * 3 * S * S);
    for (const [i, url] of pictures.entries()) await pictureToModelInput(await (await fetch(url)).blob(), pre, images, i * 3 * S * S);
    const caps = await captionImages(model, images, pictures.length, { beams, maxLen: config.text_cfg.context_length, ...tokenizer.searchIds() });
    model.params.release();
    return { captions: caps.map((c) => ({ text: tokenizer.decode(c.tokens), tokens: c.tokens, score: c.score })), queryIds: tokenizer.encode(query, config.text_cfg.context_length) };
  } finally {
    gpu.destroy();
  }
}

(globalThis as { cocaCaption?: unknown }).cocaCaption = captionInTab;
