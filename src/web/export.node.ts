// `coca export web CHECKPOINT --out SITE`: a static site that captions pictures on the visitor's
// GPU: index.html and site.js (the bundle of src/web/site.ts), shaders/, and the checkpoint's
// config.json, model.safetensors and tokenizer.json under model/ (its weights in half precision
// by default: half the download, widened to float32 when the page loads them, the test
// pictures' captions unchanged (test/infer/export-half.test.ts); `weights: 'f32'` as trained); with
// --index, a retrieval index made with those weights (`coca index build`) under index/: its
// embeddings and a 160-pixel thumbnail of each picture, searched by text on the page. Any static
// file server will do; the page needs https or localhost for WebGPU.
import fs from 'node:fs';
import path from 'node:path';
import { thumbnails } from '../infer/html.ts';
import { checkpointId } from '../infer/load.ts';
import { loadIndex } from '../infer/retrieval.ts';
import { toHalves } from '../model/half.ts';
import { readSafetensors, writeSafetensors } from '../model/safetensors.ts';
import type { TensorIn } from '../model/safetensors-format.ts';
import { checkOutputFolder, OUTPUT_MARKER, OutputError } from '../util/outdir.ts';
import { buildWeb, ROOT } from './bundle.node.ts';

export const EXPORT_WEB_COMMAND = 'coca export web';
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json'];

export interface WebExport {
  /** Bytes: the bundle, the shaders, the model's files, all of the site. */
  bundle: number;
  shaders: number;
  model: number;
  /** The index's embeddings and thumbnails (0 without --index). */
  index: number;
  total: number;
  /** With weights 'f16': the tensors stored as halves and those kept float32; null with 'f32'. */
  tensors: { f16: number; f32: number } | null;
}

/** How the site stores the weights: halves (the default: half the download) or float32 as trained. */
export type WebWeights = 'f16' | 'f32';
export const WEB_WEIGHTS: readonly WebWeights[] = ['f16', 'f32'];

/** model.safetensors with every tensor that fits a half stored as one; the others (none in practice) stay float32. */
function writeHalfWeights(from: string, to: string): { f16: number; f32: number } {
  const src = readSafetensors(from);
  const out = new Map<string, TensorIn>();
  let f16 = 0;
  for (const [name, t] of src.tensors) {
    const h = t.data instanceof Float32Array ? toHalves(t.data) : null;
    if (h || t.dtype === 'F16') f16++;
    // A tensor already in half precision (the built-in model's) is kept as it is, with its dtype.
    out.set(name, h ? { dtype: 'F16', shape: t.shape, data: h } : { dtype: t.dtype, shape: t.shape, data: t.data });
  }
  writeSafetensors(to, out, { ...src.metadata, weights: 'f16' });
  return { f16, f32: src.tensors.size - f16 };
}

/** What the page reads of an index: index/index.json (this) and index/embeddings.safetensors. */
export interface SiteIndex {
  E: number;
  /** caption: the picture's first caption, when the index kept captions (a dataset split's). */
  items: { name: string; thumb: string; caption?: string }[];
}

/** Writes the site for the checkpoint folder `dir` into `out` (new, empty, or an earlier export). */
export async function exportWeb(dir: string, out: string, indexDir?: string, weights: WebWeights = 'f16'): Promise<WebExport> {
  for (const f of MODEL_FILES) {
    if (!fs.existsSync(path.join(dir, f))) throw new OutputError(`${dir} has no ${f}; export a checkpoint folder written by coca train (it needs its tokenizer to caption)`);
  }
  // Read (and refused when made with other weights) before anything is written.
  const ix = indexDir === undefined ? null : loadIndex(indexDir, checkpointId(dir));
  const site = checkOutputFolder(out, EXPORT_WEB_COMMAND, { inputs: [dir, indexDir] });
  fs.mkdirSync(path.join(site, 'model'), { recursive: true });
  const b = await buildWeb({ entries: ['src/web/site.ts'], outdir: site });
  fs.copyFileSync(path.join(ROOT, 'src', 'web', 'site.html'), path.join(site, 'index.html'));
  let model = 0;
  let tensors: WebExport['tensors'] = null;
  for (const f of MODEL_FILES) {
    if (f === 'model.safetensors' && weights === 'f16') tensors = writeHalfWeights(path.join(dir, f), path.join(site, 'model', f));
    else fs.copyFileSync(path.join(dir, f), path.join(site, 'model', f));
    model += fs.statSync(path.join(site, 'model', f)).size;
  }
  let index = 0;
  fs.rmSync(path.join(site, 'index'), { recursive: true, force: true });
  if (ix) {
    fs.mkdirSync(path.join(site, 'index'));
    const thumbs = await thumbnails(ix.items);
    const names = ix.items.map((it) => (it.path ? path.basename(it.path) : `${it.data}:${it.split}:${it.index}`));
    const meta: SiteIndex = { E: ix.E, items: names.map((name, i) => ({ name, thumb: thumbs[i]!, ...(ix.items[i]!.captions?.[0] ? { caption: ix.items[i]!.captions![0] } : {}) })) };
    writeSafetensors(path.join(site, 'index', 'embeddings.safetensors'), { image_embeddings: { shape: [ix.items.length, ix.E], data: ix.embeddings } });
    fs.writeFileSync(path.join(site, 'index', 'index.json'), JSON.stringify(meta));
    for (const f of ['index.json', 'embeddings.safetensors']) index += fs.statSync(path.join(site, 'index', f)).size;
  }
  fs.writeFileSync(path.join(site, OUTPUT_MARKER), JSON.stringify({ command: EXPORT_WEB_COMMAND, from: path.resolve(dir), at: new Date().toISOString() }) + '\n');
  const bundle = Object.values(b.modules).reduce((a, n) => a + n, 0);
  const html = fs.statSync(path.join(site, 'index.html')).size;
  return { bundle, shaders: b.shaderBytes, model, index, total: bundle + b.shaderBytes + model + index + html, tensors };
}
