// The page `coca export web` writes: the model under model/ (config.json, model.safetensors,
// tokenizer.json) fetched once, and a picture picked or dropped on the page captioned on the
// visitor's GPU. #status says whether the device opened (status.ts); #caption holds the caption,
// with data-state "working", "done" or "error" (one sentence, never a stack trace); #words holds
// it word by word, and pointing at a word lays where the model looked for it (word-maps.ts) over
// the picture (#heat, class "on"). With an index (index/, `coca export web --index`), a text typed
// in #query ranks its pictures (#results, data-state "done" or "error"). Labels typed in #labels
// (comma separated) classify the picture zero-shot (#classes, data-state "done" or "error").
import { pictureToModelInput } from '../data/image-web.ts';
import { DEFAULT_LANGUAGE, detectLanguage, LANGUAGE_NAMES } from '../data/lang.ts';
import type { TokenizerCore } from '../data/tokenizer-core.ts';
import { Gpu } from '../gpu/gpu.ts';
import { configureBrowserHost } from '../gpu/host-browser.ts';
import { captionImages } from '../infer/caption.ts';
import { embedImages, embedTexts, topK, type Hit } from '../infer/embed.ts';
import { classEmbeddings, classify, DEFAULT_TEMPLATES, logitScale } from '../infer/zeroshot-scores.ts';
import { poolerPatchWeights, ramp, wordMap } from '../infer/word-maps.ts';
import { parseSafetensors } from '../model/safetensors-format.ts';
import { loadCheckpointFromUrl } from '../model/checkpoint-web.ts';
import type { CocaModel } from '../model/coca.ts';
import { preprocessOf } from '../model/config-schema.ts';
import type { ImagePreprocess } from '../data/preprocess.ts';
import { CocaError } from '../util/errors.ts';
import { startOn, type StatusElement } from './status.ts';

/** The bits of the DOM the page uses (the project compiles without the DOM's types). */
interface El extends StatusElement {
  addEventListener(type: string, f: (e: PageEvent) => void): void;
  value?: string;
  hidden: boolean;
  title: string;
  files?: ArrayLike<unknown> | null;
  className: string;
  src: string;
  width: number;
  height: number;
  style: Record<string, string>;
  replaceChildren(...nodes: El[]): void;
  getContext(kind: '2d'): { putImageData(data: unknown, x: number, y: number): void } | null;
}
interface Doc {
  getElementById(id: string): El | null;
  createElement(tag: string): El;
}
interface BrowserGlobals {
  URL: { createObjectURL(blob: unknown): string; revokeObjectURL(url: string): void };
  ImageData: new (data: Uint8ClampedArray, width: number, height: number) => unknown;
}

/** The last picture's word maps ([P] per generated word) and the last search's hits, for tests. */
const shown: { maps: Float32Array[]; words: string[]; hits: Hit[]; classes: { label: string; p: number }[] } = { maps: [], words: [], hits: [], classes: [] };

/** Pictures shown for a query. */
const HITS = 8;

/** The exported index (export.node.ts's SiteIndex and its embeddings), or null when the site has none. */
async function fetchIndex(): Promise<{ items: { name: string; thumb: string; caption?: string }[]; embeddings: Float32Array } | null> {
  const r = await fetch(new URL('./index/index.json', import.meta.url));
  if (r.status === 404) return null;
  if (!r.ok) throw new CocaError(`the site's index/index.json answered HTTP ${r.status}; export the site again`);
  const meta = (await r.json()) as { E: number; items: { name: string; thumb: string; caption?: string }[] };
  const e = await fetch(new URL('./index/embeddings.safetensors', import.meta.url));
  if (!e.ok) throw new CocaError(`the site's index/embeddings.safetensors answered HTTP ${e.status}; export the site again`);
  const t = parseSafetensors(new Uint8Array(await e.arrayBuffer()), 'index/embeddings.safetensors').tensors.get('image_embeddings');
  if (!t || !(t.data instanceof Float32Array) || t.shape[0] !== meta.items.length || t.shape[1] !== meta.E) {
    throw new CocaError("the site's index does not hold one embedding per picture; export the site again");
  }
  return { items: meta.items, embeddings: t.data };
}
(globalThis as { cocaSite?: unknown }).cocaSite = shown;

/** The G×G map as an RGBA image in the heat ramp, stretched to its min..max (attention-map.ts's colours). */
function heatImage(map: Float32Array, G: number): Uint8ClampedArray {
  const lo = Math.min(...map);
  const span = Math.max(...map) - lo || 1;
  const out = new Uint8ClampedArray(G * G * 4);
  for (let i = 0; i < G * G; i++) {
    const [r, g, b] = ramp((map[i]! - lo) / span);
    out.set([r, g, b, 255], i * 4);
  }
  return out;
}
interface PageEvent {
  key?: string;
  preventDefault(): void;
  dataTransfer?: { files: ArrayLike<unknown> } | null;
}

/** Beam search as `coca caption` does it by default, up to the model's context length. */
const BEAMS = 3;

export async function startSite(doc: Doc): Promise<void> {
  const web = globalThis as unknown as BrowserGlobals;
  const el = (id: string): El => {
    const e = doc.getElementById(id);
    if (!e) throw new Error(`the page has no #${id}`);
    return e;
  };
  const status = el('status');
  const caption = el('caption');
  const words = el('words');
  const picture = el('picture');
  const heat = el('heat');
  configureBrowserHost({ shaders: new URL('./shaders/', import.meta.url).href });
  let model: CocaModel | null = null;
  let tokenizer: TokenizerCore | null = null;
  let pre: ImagePreprocess | null = null;
  let index: Awaited<ReturnType<typeof fetchIndex>> = null;
  const gpu = await startOn(status, async () => {
    const g = await Gpu.open();
    const ck = await loadCheckpointFromUrl(g, new URL('./model/', import.meta.url));
    if (!ck.tokenizer) throw new CocaError('the site has no model/tokenizer.json; export it again with coca export web');
    pre = preprocessOf(ck.config);
    if (!pre) throw new CocaError('the model records no image preprocessing; export a checkpoint written by coca train');
    [model, tokenizer] = [ck.model, ck.tokenizer];
    index = await fetchIndex();
    return g;
  });
  if (!gpu || !model || !tokenizer || !pre) return;
  const [m, t, p] = [model as CocaModel, tokenizer as TokenizerCore, pre as ImagePreprocess];
  let busy = false;
  const G = m.config.vision_cfg.image_size / m.config.vision_cfg.patch_size;
  const P = G * G;
  picture.style.objectFit = p.resizeMode === 'shortest' ? 'cover' : p.resizeMode === 'longest' ? 'contain' : 'fill';
  const showHeat = (map: Float32Array | null) => {
    heat.className = map ? 'on' : '';
    if (!map) return;
    heat.width = G;
    heat.height = G;
    heat.getContext('2d')?.putImageData(new web.ImageData(heatImage(map, G), G, G), 0, 0);
  };
  /** The last picture as the model's input, for classifying it. */
  let current: Float32Array | null = null;
  const classes = el('classes');
  const labelsInput = el('labels');
  const classifyNow = async () => {
    const labels = [...new Set((labelsInput.value ?? '').split(',').map((l) => l.trim()).filter(Boolean))];
    if (busy || !current) return;
    if (labels.length === 0) {
      classes.textContent = 'Type the labels to choose between, separated by commas.';
      classes.setAttribute('data-state', 'error');
      return;
    }
    busy = true;
    classes.setAttribute('data-state', 'working');
    try {
      const E = m.config.embed_dim;
      const img = await embedImages(m, current, 1);
      const probs = classify(img, await classEmbeddings(m, t, labels, DEFAULT_TEMPLATES), E, await logitScale(m));
      shown.classes = labels.map((label, i) => ({ label, p: probs[i]! })).sort((a, b) => b.p - a.p);
      classes.replaceChildren(
        ...shown.classes.map((c) => {
          const row = doc.createElement('div');
          row.textContent = `${c.label} · ${(100 * c.p).toFixed(1)}%`;
          return row;
        }),
      );
      classes.setAttribute('data-state', 'done');
    } catch (e) {
      classes.replaceChildren();
      classes.textContent = e instanceof CocaError ? e.message : `could not classify (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
      classes.setAttribute('data-state', 'error');
    } finally {
      busy = false;
    }
  };
  el('classify').addEventListener('click', () => void classifyNow());
  labelsInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') void classifyNow();
  });
  // A multilingual model's caption language (its token follows [SOT]); no picker for an English-only one.
  const langPick = doc.getElementById('lang-pick');
  const langSelect = doc.getElementById('lang');
  if (langPick && langSelect && t.languages.length > 1) {
    langSelect.replaceChildren(
      ...t.languages.map((l) => {
        const o = doc.createElement('option');
        o.value = l;
        o.textContent = LANGUAGE_NAMES[l] ?? l;
        return o;
      }),
    );
    langPick.hidden = false;
  }
  const captionLanguage = () => (langSelect && t.languages.length > 1 ? langSelect.value || undefined : undefined);
  let lastFile: unknown = null;
  const run = async (file: unknown) => {
    if (busy || !file) return;
    lastFile = file;
    busy = true;
    caption.setAttribute('data-state', 'working');
    caption.textContent = 'Captioning…';
    words.replaceChildren();
    showHeat(null);
    if (picture.src) web.URL.revokeObjectURL(picture.src);
    picture.src = web.URL.createObjectURL(file);
    try {
      const S = p.size;
      const images = new Float32Array(3 * S * S);
      await pictureToModelInput(file, p, images);
      current = images;
      const pool = await poolerPatchWeights(m, images, 1);
      const [c] = await captionImages(m, images, 1, { beams: BEAMS, maxLen: m.config.text_cfg.context_length, recordAttention: true, ...t.searchIds(captionLanguage()) });
      const nImg = pool.length / P;
      const ids = c!.tokens.slice(1);
      shown.maps = ids.map((_, k) => (c!.attention?.[k] ? wordMap(c!.attention[k]!, pool, nImg, P) : new Float32Array(P)));
      shown.words = ids.map((id) => (id === t.eosId ? '' : t.decode([id])));
      words.replaceChildren(
        ...ids.flatMap((id, k) => {
          if (id === t.eosId) return [];
          const w = doc.createElement('span');
          w.className = 'tok';
          w.textContent = shown.words[k]!;
          w.addEventListener('mouseenter', () => showHeat(shown.maps[k]!));
          w.addEventListener('mouseleave', () => showHeat(null));
          return [w];
        }),
      );
      caption.textContent = t.decode(c!.tokens);
      caption.setAttribute('data-state', 'done');
      busy = false;
      if ((labelsInput.value ?? '').trim()) await classifyNow();
    } catch (e) {
      caption.textContent = e instanceof CocaError ? e.message : `could not caption this picture (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
      caption.setAttribute('data-state', 'error');
    } finally {
      busy = false;
    }
  };
  const ix = index as Awaited<ReturnType<typeof fetchIndex>>;
  const search = el('search');
  search.hidden = !ix;
  if (ix) {
    const query = el('query');
    const results = el('results');
    const find = async () => {
      const q = (query.value ?? '').trim();
      if (!q || busy) return;
      busy = true;
      results.setAttribute('data-state', 'working');
      try {
        // A multilingual model reads the query in its script's language, as coca serve and coca retrieve do.
        const seen = detectLanguage(q);
        const lang = t.languages.length === 0 ? undefined : seen !== undefined && t.languages.includes(seen) ? seen : DEFAULT_LANGUAGE;
        const qv = await embedTexts(m, t, [q], 1, lang);
        shown.hits = topK(ix.embeddings, qv, Math.min(HITS, ix.items.length));
        results.replaceChildren(
          ...shown.hits.map((h) => {
            const cell = doc.createElement('figure');
            const img = doc.createElement('img');
            img.src = ix.items[h.index]!.thumb;
            img.title = ix.items[h.index]!.name;
            // What the picture shows, when the index kept captions; its file id only as a small note.
            const label = doc.createElement('figcaption');
            const said = ix.items[h.index]!.caption;
            const note = doc.createElement('small');
            note.textContent = `${ix.items[h.index]!.name} · ${h.score.toFixed(3)}`;
            if (said) {
              const b = doc.createElement('b');
              b.textContent = said;
              label.replaceChildren(b, doc.createElement('br'), note);
            } else label.replaceChildren(note);
            cell.replaceChildren(img, label);
            return cell;
          }),
        );
        results.setAttribute('data-state', 'done');
      } catch (e) {
        results.replaceChildren();
        results.textContent = e instanceof CocaError ? e.message : `could not search (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
        results.setAttribute('data-state', 'error');
      } finally {
        busy = false;
      }
    };
    el('find').addEventListener('click', () => void find());
    query.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') void find();
    });
  }
  langSelect?.addEventListener('change', () => void run(lastFile));
  const input = el('file');
  input.addEventListener('change', () => void run(input.files?.[0]));
  const drop = el('drop');
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    void run(e.dataTransfer?.files[0]);
  });
}
