// `coca retrieve --text "..."`: pictures of an index ranked by cosine similarity to the text;
// `coca retrieve --image q.png`: captions (of the index's dataset, a dataset or a text list)
// ranked by similarity to the picture.
import fs from 'node:fs';
import type { Argv } from 'yargs';
import { loadDataset } from '../data/index.ts';
import { Gpu } from '../gpu/gpu.ts';
import { embedImages, embedTexts, topK } from '../infer/embed.ts';
import { imageQueryPage, textQueryPage } from '../infer/html.ts';
import { InferError, loadImageFiles, openCheckpoint } from '../infer/load.ts';
import { loadIndex } from '../infer/retrieval.ts';
import { explainQueryLanguage, queryLanguage, type LanguageSource } from '../infer/language.ts';
import { checkOutputFile } from '../util/outdir.ts';

/** Why a query was read in its language, as `coca retrieve` says it. */
const LANGUAGE_SOURCE: Record<LanguageSource, string> = { picked: '--lang', script: 'detected from its script', default: 'the default for Latin script; --lang ms for Malay' };

interface RetrieveArgs {
  text?: string;
  image?: string;
  index: string;
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
async function candidateTexts(a: RetrieveArgs): Promise<string[]> {
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
  if (fs.existsSync(`${a.index}/items.json`)) {
    const t = new Set(loadIndex(a.index).items.flatMap((it) => it.captions ?? []));
    if (t.size > 0) return [...t];
  }
  throw new InferError('--image ranks captions: give --texts FILE (one per line) or --data PATH, or an --index built from a dataset');
}

export const retrieveCommand = {
  command: 'retrieve',
  describe: 'Rank indexed images by a text (--text), or captions by an image (--image)',
  builder: (y: Argv) =>
    y
      .option('text', { type: 'string', describe: 'find the pictures that fit this text' })
      .option('image', { type: 'string', describe: 'find the captions that fit this picture' })
      .option('index', { type: 'string', default: 'index', describe: "index folder made by 'coca index build'" })
      .option('texts', { type: 'string', describe: 'with --image: candidate captions, one per line' })
      .option('data', { type: 'string', describe: "with --image: rank this dataset's captions" })
      .option('split', { type: 'string', default: 'test', describe: 'the split of --data' })
      .option('checkpoint', { type: 'string', describe: "checkpoint or run folder [default: the index's own, else the newest under runs/]" })
      .option('k', { alias: 'top', type: 'number', default: 10, describe: 'results shown' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('html', { type: 'string', describe: 'also write an HTML page with thumbnails' })
      .option('lang', { type: 'string', describe: "language of the text(s) for a multilingual model (en, ru, zh, ms). Without it each text's script decides: Cyrillic → ru, Han → zh, else en (Malay needs --lang ms); a model without language tokens reads every text as it always did [default: from the script]" })
      .example('$0 retrieve --text "dog on surfboard"', 'the 10 best pictures of ./index')
      .example('$0 retrieve --text "собака"', 'a Russian query (a multilingual model; the Cyrillic script picks ru)')
      .example('$0 retrieve --image q.png --data builtin-small --split test-concept -k 5', "the dataset's 5 best captions"),
  handler: async (a: RetrieveArgs) => {
    if (!a.text === !a.image) throw new InferError('give --text "..." (find pictures) or --image FILE (find captions), one of them');
    if (a.text !== undefined && a.text.trim() === '') throw new InferError('--text is empty; say what to look for');
    if (!Number.isInteger(a.k) || a.k < 1) throw new InferError(`-k must be a positive integer, got ${a.k}`);
    if (a.html) checkOutputFile(a.html, { option: '--html', inputs: [a.image, a.texts, a.index, a.checkpoint] });
    // Without --checkpoint, the index is read with the weights that built it.
    let ckArg = a.checkpoint;
    const indexMeta = a.text !== undefined || !(a.texts || a.data) ? loadIndex(a.index) : null;
    if (!ckArg && indexMeta && fs.existsSync(indexMeta.checkpoint.dir)) ckArg = indexMeta.checkpoint.dir;
    const gpu = await Gpu.open();
    const ck = openCheckpoint(gpu, ckArg);
    try {
      if (a.text !== undefined) {
        const ix = loadIndex(a.index, ck.id);
        const { lang, from } = explainQueryLanguage(ck.tokenizer, a.text, a.lang);
        // A multilingual model: say which language the query was read in and why (Latin script cannot tell en from ms).
        if (lang && !a.json) console.error(`query read as ${lang} (${LANGUAGE_SOURCE[from!]})`);
        const q = await embedTexts(ck.model, ck.tokenizer, [a.text], 1, lang);
        const hits = topK(ix.embeddings, q, a.k);
        const rows = hits.map((h) => ({ ...h, ...ix.items[h.index]! }));
        if (a.json) console.log(JSON.stringify({ query: a.text, ...(lang ? { lang, langFrom: from } : {}), index: a.index, checkpoint: ck.dir, results: rows }, null, 2));
        else for (const [r, h] of rows.entries()) console.log(`${String(r + 1).padStart(3)}. ${h.score.toFixed(4)}  ${h.path ?? `${h.data}:${h.split}#${h.index}`}${h.captions?.[0] ? `  (${h.captions[0]})` : ''}`);
        if (a.html) await textQueryPage(a.html, a.text, ix.items, hits);
      } else {
        const texts = await candidateTexts(a);
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
