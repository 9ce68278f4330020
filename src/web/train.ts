// The train-in-a-tab page (`npm run build:web` → dist/web/train/, train-site.node.ts): trains
// nano on the visitor's GPU on the subset of the built-in data shipped beside it (data/, a built
// set coca train reads too), with a live loss curve, a progress bar and pause/resume; then
// captions a dropped picture with the model it just trained, and hands that model over as a zip
// of a checkpoint folder `coca caption --checkpoint` reads. The steps are coca train's
// (src/train/session.ts): with the same set, seed and options, the tab's step N is its step N.
// Settings come from the form, or from the address (?steps=&batch=&lr=&seed=&warmup=).
// For scripts and tests: #state's data-state (loading, ready, training, pausing, paused, done, error),
// globalThis.cocaTrain (the step log, the last caption's tokens).
import { pictureToModelInput } from '../data/image-web.ts';
import { MemoryDataset } from '../data/memory-set.ts';
import { TokenizerCore, type TokenizerJson } from '../data/tokenizer-core.ts';
import { Gpu } from '../gpu/gpu.ts';
import { configureBrowserHost } from '../gpu/host-browser.ts';
import { captionImages } from '../infer/caption.ts';
import { parseConfig, preprocessOf, type CocaConfig } from '../model/config-schema.ts';
import { defaultWarmup, TrainingSession, type SessionOptions, type SessionStep } from '../train/session.ts';
import { CocaError } from '../util/errors.ts';
import { zipStored } from '../util/zip-write.ts';
import { startOn, type StatusElement } from './status.ts';

/** The bits of the DOM the page uses (the project compiles without the DOM's types). */
interface El extends StatusElement {
  addEventListener(type: string, f: (e: PageEvent) => void): void;
  value?: string;
  disabled: boolean;
  hidden: boolean;
  files?: ArrayLike<unknown> | null;
  src: string;
  href: string;
  download: string;
  max: number;
  width: number;
  height: number;
  click(): void;
  getContext(kind: '2d'): Canvas2D | null;
}
interface Canvas2D {
  clearRect(x: number, y: number, w: number, h: number): void;
  beginPath(): void;
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
  stroke(): void;
  fillText(text: string, x: number, y: number): void;
  strokeStyle: string;
  fillStyle: string;
  lineWidth: number;
  font: string;
}
interface PageEvent {
  preventDefault(): void;
  dataTransfer?: { files: ArrayLike<unknown> } | null;
}
interface Doc {
  getElementById(id: string): El | null;
}
interface BrowserGlobals {
  URL: { createObjectURL(blob: unknown): string; revokeObjectURL(url: string): void };
  Blob: new (parts: unknown[], o: { type: string }) => unknown;
  crypto: { subtle: { digest(alg: string, data: Uint8Array): Promise<ArrayBuffer> } };
  location: { href: string; search: string };
}

type State = 'loading' | 'ready' | 'training' | 'pausing' | 'paused' | 'done' | 'error';

const shown: { state: State; steps: SessionStep[]; caption: number[] | null; captionText: string | null; logprobs: number[] | null } = { state: 'loading', steps: [], caption: null, captionText: null, logprobs: null };
(globalThis as { cocaTrain?: unknown }).cocaTrain = shown;

/** Beam search as the exported site and `coca caption` do by default. */
const BEAMS = 3;
const FOLDER = 'coca-nano';

async function fetchOk(url: URL): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new CocaError(`${url.pathname} answered HTTP ${r.status}; build the training page again (npm run build:web)`);
  return r;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const web = globalThis as unknown as BrowserGlobals;
  const d = new Uint8Array(await web.crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The loss curve: total, contrastive and caption loss against the step, on one scale. */
function drawCurve(canvas: El, steps: readonly SessionStep[], total: number): void {
  const g = canvas.getContext('2d');
  if (!g) return;
  const [W, H, pad] = [canvas.width, canvas.height, 28];
  g.clearRect(0, 0, W, H);
  if (steps.length === 0) return;
  const ys = steps.flatMap((s) => [s.total, s.contrastive, s.caption]);
  const [lo, hi] = [Math.min(0, ...ys), Math.max(...ys)];
  const x = (step: number) => pad + ((W - 2 * pad) * step) / Math.max(1, total);
  const y = (v: number) => H - pad - ((H - 2 * pad) * (v - lo)) / (hi - lo || 1);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#555';
  g.fillText(hi.toFixed(2), 2, pad - 4);
  g.fillText(lo.toFixed(2), 2, H - pad + 12);
  g.fillText(`step ${total}`, W - pad - 40, H - 6);
  for (const [key, color] of [['total', '#000'], ['contrastive', '#1f77b4'], ['caption', '#d62728']] as const) {
    g.strokeStyle = color;
    g.lineWidth = key === 'total' ? 2 : 1;
    g.beginPath();
    steps.forEach((s, i) => (i === 0 ? g.moveTo(x(s.step), y(s[key])) : g.lineTo(x(s.step), y(s[key]))));
    g.stroke();
  }
}

/** A setting from the address, else the form field, else `fallback`; refused in one line when it is not a number in range. */
function setting(doc: Doc, params: URLSearchParams, name: string, fallback: number, check: (v: number) => boolean, rule: string): number {
  const field = doc.getElementById(name);
  const raw = params.get(name) ?? (field?.value || String(fallback));
  const v = Number(raw);
  if (!Number.isFinite(v) || !check(v)) throw new CocaError(`${name} ${JSON.stringify(raw)} is not ${rule}`);
  if (field) field.value = String(v);
  return v;
}

export async function startTraining(doc: Doc): Promise<void> {
  const web = globalThis as unknown as BrowserGlobals;
  const el = (id: string): El => {
    const e = doc.getElementById(id);
    if (!e) throw new Error(`the page has no #${id}`);
    return e;
  };
  const [status, state, startButton, pauseButton, progress, progressText, curve, caption, picture, download] = ['status', 'state', 'start', 'pause', 'progress', 'progress-text', 'curve', 'caption', 'picture', 'download'].map(el) as El[];
  const setState = (s: State, text?: string) => {
    shown.state = s;
    state!.setAttribute('data-state', s);
    if (text !== undefined) state!.textContent = text;
  };
  const base = new URL('./', import.meta.url);
  configureBrowserHost({ shaders: new URL('./shaders/', base).href });
  let config: CocaConfig | null = null;
  let tokenizer: TokenizerCore | null = null;
  let tokenizerJson = '';
  let dataset: MemoryDataset | null = null;
  const gpu = await startOn(status!, async () => {
    const g = await Gpu.open();
    const text = (f: string) => fetchOk(new URL(f, base)).then((r) => r.text());
    const [c, t, m, items] = await Promise.all(['config.json', 'tokenizer.json', 'data/manifest.json', 'data/train.jsonl'].map(text));
    const side = Math.min(...((JSON.parse(m!) as { imageSizes?: number[] }).imageSizes ?? []));
    const pixels = new Uint8Array(await (await fetchOk(new URL(`data/train.${side}px.u8`, base))).arrayBuffer());
    config = parseConfig(JSON.parse(c!), 'config.json');
    tokenizerJson = t!;
    tokenizer = TokenizerCore.fromJSON(JSON.parse(t!) as TokenizerJson);
    dataset = MemoryDataset.parse(m!, items!, pixels, 'train');
    return g;
  });
  if (!gpu || !config || !tokenizer || !dataset) {
    setState('error');
    return;
  }
  const [cfg, tok, data] = [config as CocaConfig, tokenizer as TokenizerCore, dataset as MemoryDataset];
  const pre = preprocessOf(cfg)!;
  setState('ready', `${data.length} pairs of the built-in data are here; press Train.`);
  startButton!.disabled = false;

  let session: TrainingSession | null = null;
  let paused = false;
  let wake: (() => void) | null = null;
  /** GPU work one piece at a time: a caption waits for the step in flight. */
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(f: () => Promise<T>): Promise<T> => {
    const run = queue.then(f, f);
    queue = run.catch(() => {});
    return run;
  };

  const report = (s: TrainingSession, last: SessionStep | undefined) => {
    progress!.max = s.o.steps;
    progress!.value = String(s.done);
    const rate = last ? ` · ${(1000 / last.ms).toFixed(2)} steps/s` : '';
    progressText!.textContent = `step ${s.done} / ${s.o.steps}${last ? ` · loss ${last.total.toFixed(3)} (contrastive ${last.contrastive.toFixed(3)}, caption ${last.caption.toFixed(3)})` : ''}${rate}`;
    drawCurve(curve!, s.history, s.o.steps);
  };

  const loop = async (s: TrainingSession) => {
    try {
      while (!s.finished) {
        if (paused) {
          setState('paused', `Paused after step ${s.done}; resume whenever you like.`);
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        const step = await exclusive(() => s.next());
        shown.steps.push(step);
        report(s, step);
      }
      setState('done', `Trained ${s.done} steps. Drop a picture to caption it, or download the model.`);
      pauseButton!.disabled = true;
    } catch (e) {
      setState('error', e instanceof CocaError ? e.message : `training stopped (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`);
      pauseButton!.disabled = true;
    }
  };

  startButton!.addEventListener('click', () => {
    if (session) return;
    try {
      const params = new URLSearchParams(web.location.search);
      const steps = setting(doc, params, 'steps', 300, (v) => Number.isInteger(v) && v >= 1, 'a whole number of steps ≥ 1');
      const o: SessionOptions = {
        steps,
        batch: setting(doc, params, 'batch', 32, (v) => Number.isInteger(v) && v >= 2 && v <= data.length, `a whole batch from 2 to ${data.length} (the pairs here)`),
        lr: setting(doc, params, 'lr', 1e-3, (v) => v > 0 && v < 1, 'a learning rate between 0 and 1'),
        seed: setting(doc, params, 'seed', 1, (v) => Number.isInteger(v) && v >= 0, 'a whole seed ≥ 0'),
        warmup: setting(doc, params, 'warmup', defaultWarmup(steps), (v) => Number.isInteger(v) && v >= 0, 'a whole number of warm-up steps ≥ 0'),
      };
      session = new TrainingSession(gpu, cfg, data, tok, o);
    } catch (e) {
      setState('error', e instanceof CocaError ? e.message : String(e));
      return;
    }
    startButton!.disabled = true;
    pauseButton!.disabled = false;
    download!.disabled = false;
    setState('training', 'Training…');
    report(session, undefined);
    void loop(session);
  });

  pauseButton!.addEventListener('click', () => {
    paused = !paused;
    pauseButton!.textContent = paused ? 'Resume' : 'Pause';
    // The step in flight finishes first; the loop says 'paused' once it has.
    if (paused) setState('pausing', 'Pausing after the step in progress…');
    else {
      setState('training', 'Training…');
      wake?.();
      wake = null;
    }
  });

  download!.addEventListener('click', () => {
    const s = session;
    if (!s) return;
    void exclusive(async () => {
      const files = await s.files(tokenizerJson, sha256Hex);
      const zip = zipStored(files.map((f) => ({ name: `${FOLDER}/${f.name}`, bytes: f.bytes })));
      const a = (doc as unknown as { createElement(t: string): El }).createElement('a');
      a.href = web.URL.createObjectURL(new web.Blob([zip], { type: 'application/zip' }));
      a.download = `${FOLDER}-step${s.done}.zip`;
      a.click();
      setTimeout(() => web.URL.revokeObjectURL(a.href), 10_000);
    });
  });

  const captionPicture = async (file: unknown) => {
    if (!file) return;
    const s = session;
    if (!s) {
      caption!.textContent = 'Train first: the model has not learnt anything yet.';
      caption!.setAttribute('data-state', 'error');
      return;
    }
    caption!.setAttribute('data-state', 'working');
    caption!.textContent = 'Captioning…';
    if (picture!.src) web.URL.revokeObjectURL(picture!.src);
    picture!.src = web.URL.createObjectURL(file);
    try {
      const S = pre.size;
      const images = new Float32Array(3 * S * S);
      await pictureToModelInput(file, pre, images);
      const [c] = await exclusive(() => captionImages(s.model, images, 1, { beams: BEAMS, maxLen: cfg.text_cfg.context_length, ...tok.searchIds() }));
      shown.caption = Array.from(c!.tokens);
      shown.captionText = tok.decode(c!.tokens);
      shown.logprobs = c!.logprobs;
      caption!.textContent = shown.captionText ? `${shown.captionText} (after ${s.done} steps)` : `No words yet after ${s.done} steps: train longer.`;
      caption!.setAttribute('data-state', 'done');
    } catch (e) {
      caption!.textContent = e instanceof CocaError ? e.message : `could not caption this picture (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
      caption!.setAttribute('data-state', 'error');
    }
  };
  const input = el('file');
  input.addEventListener('change', () => void captionPicture(input.files?.[0]));
  const drop = el('drop');
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    void captionPicture(e.dataTransfer?.files[0]);
  });
}
