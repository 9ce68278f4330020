// The page `coca export web` writes: the model under model/ (config.json, model.safetensors,
// tokenizer.json) fetched once, and a picture picked or dropped on the page captioned on the
// visitor's GPU. #status says whether the device opened (status.ts); #caption holds the caption,
// with data-state "working", "done" or "error" (one sentence, never a stack trace).
import { pictureToModelInput } from '../data/image-web.ts';
import type { TokenizerCore } from '../data/tokenizer-core.ts';
import { Gpu } from '../gpu/gpu.ts';
import { configureBrowserHost } from '../gpu/host-browser.ts';
import { captionImages } from '../infer/caption.ts';
import { loadCheckpointFromUrl } from '../model/checkpoint-web.ts';
import type { CocaModel } from '../model/coca.ts';
import { preprocessOf } from '../model/config-schema.ts';
import type { ImagePreprocess } from '../data/preprocess.ts';
import { CocaError } from '../util/errors.ts';
import { startOn, type StatusElement } from './status.ts';

/** The bits of the DOM the page uses (the project compiles without the DOM's types). */
interface El extends StatusElement {
  addEventListener(type: string, f: (e: PageEvent) => void): void;
  files?: ArrayLike<unknown> | null;
}
interface PageEvent {
  preventDefault(): void;
  dataTransfer?: { files: ArrayLike<unknown> } | null;
}

/** Beam search as `coca caption` does it by default, up to the model's context length. */
const BEAMS = 3;

export async function startSite(doc: { getElementById(id: string): El | null }): Promise<void> {
  const el = (id: string): El => {
    const e = doc.getElementById(id);
    if (!e) throw new Error(`the page has no #${id}`);
    return e;
  };
  const status = el('status');
  const caption = el('caption');
  configureBrowserHost({ shaders: new URL('./shaders/', import.meta.url).href });
  let model: CocaModel | null = null;
  let tokenizer: TokenizerCore | null = null;
  let pre: ImagePreprocess | null = null;
  const gpu = await startOn(status, async () => {
    const g = await Gpu.open();
    const ck = await loadCheckpointFromUrl(g, new URL('./model/', import.meta.url));
    if (!ck.tokenizer) throw new CocaError('the site has no model/tokenizer.json; export it again with coca export web');
    pre = preprocessOf(ck.config);
    if (!pre) throw new CocaError('the model records no image preprocessing; export a checkpoint written by coca train');
    [model, tokenizer] = [ck.model, ck.tokenizer];
    return g;
  });
  if (!gpu || !model || !tokenizer || !pre) return;
  const [m, t, p] = [model as CocaModel, tokenizer as TokenizerCore, pre as ImagePreprocess];
  let busy = false;
  const run = async (file: unknown) => {
    if (busy || !file) return;
    busy = true;
    caption.setAttribute('data-state', 'working');
    caption.textContent = 'Captioning…';
    try {
      const S = p.size;
      const images = new Float32Array(3 * S * S);
      await pictureToModelInput(file, p, images);
      const [c] = await captionImages(m, images, 1, { beams: BEAMS, maxLen: m.config.text_cfg.context_length, ...t.searchIds() });
      caption.textContent = t.decode(c!.tokens);
      caption.setAttribute('data-state', 'done');
    } catch (e) {
      caption.textContent = e instanceof CocaError ? e.message : `could not caption this picture (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
      caption.setAttribute('data-state', 'error');
    } finally {
      busy = false;
    }
  };
  const input = el('file');
  input.addEventListener('change', () => void run(input.files?.[0]));
  const drop = el('drop');
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    void run(e.dataTransfer?.files[0]);
  });
}
