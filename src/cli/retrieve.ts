// `coca retrieve --text "..."`: pictures of an index ranked by cosine similarity to the text;
// `coca retrieve --image q.png`: captions (of the index's dataset, a dataset or a text list)
// ranked by similarity to the picture.
import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { loadDataset } from '../data/index.ts';
import { Gpu } from '../gpu/gpu.ts';
import { embedImages, embedTexts, topK } from '../infer/embed.ts';
import { imageQueryPage, textQueryPage } from '../infer/html.ts';
import { builtinTestIndex } from '../infer/builtin-index.ts';
import { InferError, loadImageFiles, openCheckpoint, resolveCheckpointDir, type OpenCheckpoint } from '../infer/load.ts';
import { loadIndex, type RetrievalIndex } from '../infer/retrieval.ts';
import { isBuiltinModelDir } from '../model/builtin.ts';
import { createProgress, type Progress } from '../util/progress.ts';
import { explainQueryLanguage, queryLanguage, type LanguageSource } from '../infer/language.ts';
import { checkOutputFile } from '../util/outdir.ts';

/** Why a query was read in its language, as `coca retrieve` says it. */
const LANGUAGE_SOURCE: Record<LanguageSource, string> = { picked: '--lang', script: 'detected from its script', default: 'the default for Latin script; --lang ms for Malay' };

interface RetrieveArgs {
  text?: string;
  image?: string;
  index?: string;
  texts?: string;
  data?: string;
  split: string;
  checkpoint?: string;
  k: number;
  json: boolean;
  html?: string;
  lang?: string;
}

/** Candidate captions for an image query: --texts, --data (its captions in --lang, if given), or the captions the index kept. */
async function candidateTexts(a: RetrieveArgs, ix: RetrievalIndex | null): Promise<string[]> {
  if (a.texts) {
    if (!fs.existsSync(a.texts)) throw new InferError(`--texts ${a.texts}: no such file`);
    const t = fs.readFileSync(a.texts, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    if (t.length === 0) throw new InferError(`--texts ${a.texts} holds no lines`);
    return [...new Set(t)];
  }
  if (a.data) {
    const ds = await loadDataset(a.data, { split: a.split });
    const t = new Set<string>();
    for (let i = 0; i < ds.length; i++) for (const c of a.lang && ds.captionsIn ? ds.captionsIn(i, a.lang) : ds.captions(i)) t.add(c);
    ds.close();
    return [...t];
  }
  if (ix) {
    const t = new Set(ix.items.flatMap((it) => it.captions ?? []));
    if (t.size > 0) return [...t];
  }
  throw new InferError('--image ranks captions: give --texts FILE (one per line) or --data PATH, or an --index built from a dataset');
}

/** The built-in test pictures' index for the built-in model (cached; built with a progress bar on first use). */
export async function builtinIndexOf(ck: OpenCheckpoint): Promise<RetrievalIndex> {
  let bar: Progress | null = null;
  const progress = (done: number, total: number) => (bar ??= createProgress({ label: 'index', total, fields: [] })).update(done, {});
  try {
    return await builtinTestIndex(ck, { log: (line) => console.error(line), progress });
  } finally {
    (bar as Progress | null)?.stop();
  }
}

export const retrieveCommand = {
  command: 'retrieve',
  describe: 'Rank indexed images by a text (--text), or captions by an image (--image)',
  builder: (y: Argv) =>
    y
      .option('text', { type: 'string', describe: 'find the pictures that fit this text' })
      .option('image', { type: 'string', describe: 'find the captions that fit this picture' })
      .option('index', { type: 'string', describe: "index folder made by 'coca index build'. Without one (and no ./index), the built-in model searches the built-in data's test pictures, embedded on first use and cached under the data cache [default: ./index]" })
      .option('texts', { type: 'string', describe: 'with --image: candidate captions, one per line' })
      .option('data', { type: 'string', describe: "with --image: rank this dataset's captions" })
      .option('split', { type: 'string', default: 'test', describe: 'the split of --data' })
      .option('checkpoint', { type: 'string', describe: "checkpoint or run folder [default: the index's own, else the newest under runs/, else the built-in model (models/builtin)]" })
      .option('k', { alias: 'top', type: 'number', default: 10, describe: 'results shown' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('html', { type: 'string', describe: 'also write an HTML page with thumbnails' })
      .option('lang', { type: 'string', describe: "language of the text(s) for a multilingual model (en, ru, zh, ms). Without it each text's script decides: Cyrillic → ru, Han → zh, else en (Malay needs --lang ms); a model without language tokens reads every text as it always did [default: from the script]" })
      .example('$0 retrieve --text "dog on surfboard"', 'the 10 best pictures of ./index (with the built-in model and no index: of the built-in test pictures)')
      .example('$0 retrieve --text "собака"', 'a Russian query (a multilingual model; the Cyrillic script picks ru)')
      .example('$0 retrieve --image q.png --data builtin-small --split test-concept -k 5', "the dataset's 5 best captions"),
  handler: async (a: RetrieveArgs) => {
    if (!a.text === !a.image) throw new InferError('give --text "..." (find pictures) or --image FILE (find captions), one of them');
    if (a.text !== undefined && a.text.trim() === '') throw new InferError('--text is empty; say what to look for');
    if (!Number.isInteger(a.k) || a.k < 1) throw new InferError(`-k must be a positive integer, got ${a.k}`);
    const indexDir = a.index ?? 'index';
    if (a.html) checkOutputFile(a.html, { option: '--html', inputs: [a.image, a.texts, indexDir, a.checkpoint] });
    const needsIndex = a.text !== undefined || !(a.texts || a.data);
    // No index named and none here: the built-in model searches the built-in test pictures; any
    // other model still needs one (told before the GPU is opened).
    const indexHere = a.index !== undefined || fs.existsSync(path.join(indexDir, 'items.json'));
    let ckArg = a.checkpoint;
    const indexMeta = needsIndex && (indexHere || (a.text !== undefined && !isBuiltinModelDir(resolveCheckpointDir(ckArg)))) ? loadIndex(indexDir) : null;
    // Without --checkpoint, the index is read with the weights that built it.
    if (!ckArg && indexMeta && fs.existsSync(indexMeta.checkpoint.dir)) ckArg = indexMeta.checkpoint.dir;
    const gpu = await Gpu.open();
    const ck = openCheckpoint(gpu, ckArg);
    try {
      let ix: RetrievalIndex | null = null;
      // An image query only takes the index's captions, which do not depend on the weights.
      if (indexMeta) ix = a.text !== undefined ? loadIndex(indexDir, ck.id) : indexMeta;
      else if (needsIndex && isBuiltinModelDir(ck.dir)) ix = await builtinIndexOf(ck);
      if (a.text !== undefined) {
        const tix = ix!;
        const { lang, from } = explainQueryLanguage(ck.tokenizer, a.text, a.lang);
        // A multilingual model: say which language the query was read in and why (Latin script cannot tell en from ms).
        if (lang && !a.json) console.error(`query read as ${lang} (${LANGUAGE_SOURCE[from!]})`);
        const q = await embedTexts(ck.model, ck.tokenizer, [a.text], 1, lang);
        const hits = topK(tix.embeddings, q, a.k);
        const rows = hits.map((h) => ({ ...h, ...tix.items[h.index]! }));
        if (a.json) console.log(JSON.stringify({ query: a.text, ...(lang ? { lang, langFrom: from } : {}), index: tix.dir, checkpoint: ck.dir, results: rows }, null, 2));
        else for (const [r, h] of rows.entries()) console.log(`${String(r + 1).padStart(3)}. ${h.score.toFixed(4)}  ${h.path ?? `${h.data}:${h.split}#${h.index}`}${h.captions?.[0] ? `  (${h.captions[0]})` : ''}`);
        if (a.html) await textQueryPage(a.html, a.text, tix.items, hits);
      } else {
        const texts = await candidateTexts(a, ix);
        const img = await embedImages(ck.model, await loadImageFiles([a.image!], ck.pre), 1);
        const hits = topK(await embedTexts(ck.model, ck.tokenizer, texts, 64, texts.map((t) => queryLanguage(ck.tokenizer, t, a.lang))), img, a.k);
        if (a.json) console.log(JSON.stringify({ query: a.image, checkpoint: ck.dir, candidates: texts.length, results: hits.map((h) => ({ ...h, text: texts[h.index] })) }, null, 2));
        else for (const [r, h] of hits.entries()) console.log(`${String(r + 1).padStart(3)}. ${h.score.toFixed(4)}  ${texts[h.index]}`);
        if (a.html) await imageQueryPage(a.html, a.image!, texts, hits);
      }
      if (a.html && !a.json) console.log(`html: ${a.html}`);
    } finally {
      ck.release();
      gpu.destroy();
    }
  },
};
