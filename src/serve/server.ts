// `coca serve`'s HTTP side: the JSON API, the page, errors as {error} with the right status.
// Everything touching the GPU goes through the Engine's queue; this file only parses, checks and
// shapes. Built as a function of an open checkpoint so tests run it with fastify.inject.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { fitOf, type ImagePreprocess } from '../data/preprocess.ts';
import { CocaError } from '../util/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { OpenCheckpoint } from '../infer/load.ts';
import { explainQueryLanguage } from '../infer/language.ts';
import { checkSearch } from '../infer/search.ts';
import { checkRerank } from '../infer/rerank.ts';
import type { RetrievalIndex } from '../infer/retrieval.ts';
import type { Arch } from '../model/arch.ts';
import type { OpenCaptioner } from '../model/captioners/checkpoint.ts';
import { Engine, type CaptionJob, type CaptionOut } from './engine.ts';
import { LstmEngine } from './lstm-engine.ts';
import { checkImage, decodeForModel, fmtBytes, UploadError } from './image.ts';
import { openapi } from './openapi.ts';
import { BusyError, GpuQueue, type QueueOptions } from './queue.ts';
import { Thumbs } from './thumbs.ts';

export const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

export interface ServeOptions extends QueueOptions {
  maxUploadBytes: number;
  maxPixels: number;
  /** Widest beam search a caption request may ask for (at most MAX_BEAMS). */
  maxBeams: number;
  logger?: boolean;
  /** A site `coca export web` wrote, served at /web/: the same model on the visitor's GPU. */
  web?: string;
  /** What the page and /api/caption call the first checkpoint's model [default: its folder]. */
  name?: string;
}

/** A checkpoint served for captions beside the first (which alone answers retrieval and labels). */
export type OtherCheckpoint = { name: string } & ({ arch: 'coca'; ck: OpenCheckpoint } | { arch: Exclude<Arch, 'coca'>; ck: OpenCaptioner });

/** One captioning model of the server, whatever its architecture. */
interface ServedModel {
  name: string;
  arch: Arch;
  checkpoint: { id?: string; dir: string };
  /** Attention grid side; 0 when the model has no map over the picture. */
  grid: number;
  pre: ImagePreprocess;
  contextLength: number;
  /** The caption languages its tokenizer has tokens for; empty for an English-only model. */
  languages: readonly string[];
  caption(job: CaptionJob): Promise<CaptionOut[]>;
}

export const DEFAULTS: ServeOptions = {
  maxUploadBytes: 10 * 1024 * 1024,
  // 40 MP: any phone photo; a PNG bomb of 100k×100k is refused from its header.
  maxPixels: 40e6,
  // Every beam is a row of the decode, and requests with the same options share one.
  maxBeams: 8,
  maxBatch: 16,
  windowMs: 5,
  maxWaitMs: 15_000,
  maxQueue: 512,
};

interface Upload {
  bytes: Buffer;
  mimetype: string;
  fields: Record<string, string>;
}

const err400 = (m: string) => new UploadError(m, 400);

/** The request's `lang`, or a one-line 400 when the model (`who`) has no such language. */
function checkLanguage(f: Fields, languages: readonly string[], who: string): string | undefined {
  const lang = f.lang === undefined || f.lang === '' ? undefined : f.lang;
  if (lang === undefined) return undefined;
  if (languages.length === 0 && lang !== 'en') throw err400(`lang=${lang}: ${who} has no language tokens (it was trained on English captions only), so it takes only en; leave lang out`);
  if (languages.length > 0 && !languages.includes(lang)) throw err400(`lang=${lang}: ${who} has no language '${lang}'; it has ${languages.join(', ')}`);
  return lang;
}

/** The longest text field accepted; a longer one is refused whole, never cut. */
const FIELD_BYTES = 64 * 1024;

async function readUpload(req: FastifyRequest, maxBytes: number): Promise<Upload> {
  if (!req.isMultipart()) throw new UploadError("send multipart/form-data with the picture in a file field named 'image'", 415);
  let up: { bytes: Buffer; mimetype: string } | null = null;
  const fields: Record<string, string> = {};
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'image' || up) {
          part.file.resume();
          throw err400(`unexpected file field '${part.fieldname}': send one picture, in the field 'image'`);
        }
        const bytes = await part.toBuffer();
        up = { bytes, mimetype: part.mimetype };
      } else {
        if (part.valueTruncated) throw new UploadError(`the field '${part.fieldname}' is over ${FIELD_BYTES / 1024} KiB (${FIELD_BYTES} bytes); send less`, 413);
        if (part.fieldname in fields) throw err400(`the field '${part.fieldname}' is given more than once; give it once`);
        fields[part.fieldname] = String(part.value);
      }
    }
  } catch (e) {
    const status = (e as FastifyError).statusCode;
    if (e instanceof UploadError || (status && status >= 400 && status < 500)) throw e;
    // busboy's own errors (a body cut short, no boundary) come without a status.
    throw err400(`the multipart body is malformed (${(e as Error).message}); send multipart/form-data with the picture in a file field named 'image'`);
  }
  if (!up) throw err400(`no picture: send it in a file field named 'image' (at most ${fmtBytes(maxBytes)})`);
  return { ...up, fields };
}

type Fields = Record<string, string | undefined>;

function num(f: Fields, name: string): number | undefined {
  const v = f[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw err400(`${name} must be a number, got "${v}"`);
  return n;
}

const bool = (f: Fields, name: string, dflt: boolean) => (f[name] === undefined || f[name] === '' ? dflt : !/^(0|false|no|off)$/i.test(f[name]!));

/** The request's search, checked by the rules `coca caption` uses, the options named as the form names them. */
function captionRequest(f: Fields, m: ServedModel, maxBeams: number) {
  const search = checkSearch(
    {
      beams: num(f, 'beams'),
      maxLen: num(f, 'maxLen'),
      minLen: num(f, 'minLen'),
      lengthPenalty: num(f, 'lengthPenalty'),
      repetitionPenalty: num(f, 'repetitionPenalty'),
      sample: bool(f, 'sample', false),
      topK: num(f, 'topK'),
      topP: num(f, 'topP'),
      temperature: num(f, 'temperature'),
      seed: num(f, 'seed'),
    },
    { maxBeams, contextLength: m.contextLength },
  );
  const n = num(f, 'n') ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 5) throw err400(`n must be an integer from 1 to 5, got ${f.n}`);
  if (n > 1 && !search.sample) throw err400('n > 1 draws several captions by sampling: add sample=true (beam search gives its best caption)');
  const rerank = checkRerank({ rerank: bool(f, 'rerank', false), rerankWeight: num(f, 'rerankWeight') }, search);
  if (rerank && m.arch !== 'coca') throw err400(`rerank: the model "${m.name}" is a ${m.arch} captioner, which has no text tower to measure image–text similarity with; leave out rerank`);
  // Checked here, so a language the model lacks is this request's one-line 400, not its batch's.
  const lang = checkLanguage(f, m.languages, `the model "${m.name}"`);
  return { search: rerank ? { ...search, rerank } : search, n, attention: bool(f, 'attention', true), ...(lang !== undefined ? { lang } : {}) };
}

export interface Served {
  app: FastifyInstance;
  engine: Engine;
  queue: GpuQueue;
  /** Stops taking requests, lets those in flight finish, releases nothing it did not open. */
  close(): Promise<void>;
}

export async function buildServer(gpu: Gpu, ck: OpenCheckpoint, index: RetrievalIndex | null, o: ServeOptions = DEFAULTS, others: readonly OtherCheckpoint[] = []): Promise<Served> {
  const queue = new GpuQueue(o);
  const engine = new Engine(ck, queue, index);
  const cocaModel = (name: string, c: OpenCheckpoint, e: Engine): ServedModel => ({
    name,
    arch: 'coca',
    checkpoint: { id: c.id, dir: c.dir },
    grid: e.grid,
    pre: c.pre,
    contextLength: c.model.config.text_cfg.context_length,
    languages: c.tokenizer.languages,
    caption: (j) => e.caption(j),
  });
  const models: ServedModel[] = [
    cocaModel(o.name ?? ck.dir, ck, engine),
    ...others.map((m, i): ServedModel => {
      if (m.arch === 'coca') return cocaModel(m.name, m.ck, new Engine(m.ck, queue, null, String(i + 1)));
      const e = new LstmEngine(m.ck, queue, String(i + 1));
      return { name: m.name, arch: m.arch, checkpoint: { dir: m.ck.dir }, grid: e.grid, pre: m.ck.pre, contextLength: m.ck.model.config.decoder_cfg.context_length, languages: m.ck.tokenizer.languages, caption: (j) => e.caption(j) };
    }),
  ];
  const thumbs = index ? new Thumbs(index) : null;
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: 64 * 1024, return503OnClosing: true });
  await app.register(multipart, { limits: { fileSize: o.maxUploadBytes, files: 1, fields: 24, fieldSize: FIELD_BYTES, parts: 32 } });
  await app.register(fastifyStatic, { root: PUBLIC_DIR, index: 'index.html', maxAge: 0 });
  if (o.web) await app.register(fastifyStatic, { root: o.web, prefix: '/web/', decorateReply: false, index: 'index.html', maxAge: 0 });

  app.setErrorHandler((e: FastifyError, req, reply) => {
    if (e instanceof BusyError) return reply.code(503).header('Retry-After', String(e.retryAfterS)).send({ error: e.message, retryAfter: e.retryAfterS });
    if (e instanceof UploadError) return reply.code(e.status).send({ error: e.message });
    if (e instanceof CocaError) return reply.code(400).send({ error: e.message });
    if (e.code === 'FST_REQ_FILE_TOO_LARGE') return reply.code(413).send({ error: `the image is over the upload limit of ${fmtBytes(o.maxUploadBytes)} (--max-upload-mb)` });
    if (e.code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return reply.code(415).send({ error: "send multipart/form-data with the picture in a file field named 'image'" });
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.message });
    req.log.error(e);
    return reply.code(500).send({ error: `internal error: ${e.message.split('\n')[0]}` });
  });
  // A parameter given twice arrives as an array; which one was meant is not ours to guess.
  app.addHook('preHandler', async (req) => {
    for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
      if (Array.isArray(v)) throw err400(`the query parameter '${k}' is given ${v.length} times; give it once`);
    }
  });
  // Keep-alive sockets would hold a closing server open for their idle timeout (72 s): answers
  // given while closing tell the client to hang up.
  let closing = false;
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('Connection', 'close');
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}; the API is described at /api/openapi.json` }));

  const pictureOf = async (up: Upload, pre = ck.pre) => {
    const img = await checkImage(up.bytes, up.mimetype, o.maxPixels);
    const S = pre.size;
    const out = new Float32Array(3 * S * S);
    await decodeForModel(img, pre, o.maxPixels, out, 0);
    return { out, img };
  };

  app.get('/api/health', async () => ({
    status: 'ok',
    model: { embedDim: ck.model.config.embed_dim, imageSize: ck.pre.size, grid: engine.grid, fit: fitOf(ck.pre.resizeMode), contextLength: ck.model.config.text_cfg.context_length },
    checkpoint: { id: ck.id, dir: ck.dir },
    // What the page offers: caption languages (empty: English only) and search languages.
    languages: ck.tokenizer.languages,
    adapter: { backend: gpu.adapter.backend, device: gpu.adapter.device || gpu.adapter.description, software: gpu.software },
    index: index ? { items: index.items.length, source: index.source, captions: index.items.some((it) => it.captions?.length) } : null,
    models: models.map((m) => ({ name: m.name, arch: m.arch, checkpoint: m.checkpoint, grid: m.grid, fit: fitOf(m.pre.resizeMode), languages: m.languages })),
    queue: { length: queue.stats().waiting, ...queue.stats(), maxBatch: o.maxBatch },
  }));

  app.get('/api/openapi.json', async () => openapi(o));

  app.post('/api/caption', async (req) => {
    const up = await readUpload(req, o.maxUploadBytes);
    const f: Fields = { ...(req.query as Fields), ...up.fields };
    // Every model's own limits (context length, languages) checked before any decode runs.
    const opts = models.map((m) => captionRequest(f, m, o.maxBeams));
    const pictures = await Promise.all(models.map((m) => pictureOf(up, m.pre)));
    const { img } = pictures[0]!;
    const t0 = performance.now();
    const all = await Promise.all(models.map((m, i) => m.caption({ image: pictures[i]!.out, ...opts[i]! })));
    const ms = Math.round(performance.now() - t0);
    // The top level is the first model's answer, as with one checkpoint; `models` has each model's.
    return {
      image: { type: img.kind, width: img.width, height: img.height },
      grid: engine.grid,
      fit: fitOf(ck.pre.resizeMode),
      search: opts[0]!.search,
      ...(opts[0]!.lang ? { lang: opts[0]!.lang } : {}),
      ms,
      captions: all[0]!,
      models: models.map((m, i) => ({ name: m.name, arch: m.arch, checkpoint: m.checkpoint, grid: m.grid, fit: fitOf(m.pre.resizeMode), captions: all[i]! })),
    };
  });

  const needIndex = () => {
    if (!index) throw new UploadError('no index is loaded: start coca serve with --index DIR (made by coca index build)', 409);
    return index;
  };
  const kOf = (f: Fields, dflt: number) => {
    const k = num(f, 'k') ?? dflt;
    if (!Number.isInteger(k) || k < 1 || k > 100) throw err400(`k must be an integer from 1 to 100, got ${f.k}`);
    return k;
  };

  app.get('/api/retrieve', async (req) => {
    const f = req.query as Fields;
    const ix = needIndex();
    const text = (f.text ?? '').trim();
    if (!text) throw err400('text is empty: say what to look for (?text=dog on a surfboard)');
    if (text.length > 500) throw err400(`text is ${text.length} characters; at most 500`);
    const k = kOf(f, 12);
    const { lang, from } = explainQueryLanguage(ck.tokenizer, text, checkLanguage(f, ck.tokenizer.languages, `the model "${models[0]!.name}"`));
    const hits = await engine.searchImages(text, k, lang);
    return {
      query: text,
      ...(lang ? { lang, langFrom: from } : {}),
      results: hits.map((h) => {
        const it = ix.items[h.index]!;
        return { rank: 0, index: h.index, score: h.score, name: it.path ? path.basename(it.path) : (it.id ?? `${it.split}#${it.index}`), captions: it.captions ?? [], thumbnail: thumbs!.url(h.index) };
      }).map((r, i) => ({ ...r, rank: i + 1 })),
    };
  });

  app.post('/api/retrieve', async (req) => {
    const up = await readUpload(req, o.maxUploadBytes);
    const f: Fields = { ...(req.query as Fields), ...up.fields };
    let texts: string[];
    let emb: Promise<Float32Array> | null = null;
    // Candidate texts are read in `lang` when given, else each in its script's language.
    let lang: string | undefined;
    if (f.texts !== undefined) {
      texts = [...new Set(f.texts.split('\n').map((t) => t.trim()).filter(Boolean))];
      if (texts.length === 0 || texts.length > 256) throw err400(`texts must hold 1 to 256 candidate captions, one per line; got ${texts.length}`);
      lang = checkLanguage(f, ck.tokenizer.languages, `the model "${models[0]!.name}"`);
    } else {
      const c = engine.indexCaptions();
      if (!c) throw err400(index ? 'this index kept no captions (it was built from a folder): send candidate captions in the field texts, one per line' : 'no index is loaded: send candidate captions in the field texts, one per line');
      ({ texts, emb } = c);
    }
    const { out } = await pictureOf(up);
    return { candidates: texts.length, results: (await engine.rankTexts(out, texts, emb, kOf(f, 10), lang)).map((r, i) => ({ rank: i + 1, ...r })) };
  });

  app.post('/api/classify', async (req) => {
    const up = await readUpload(req, o.maxUploadBytes);
    const f: Fields = { ...(req.query as Fields), ...up.fields };
    const labels = [...new Set((f.labels ?? '').split(/[,\n]/).map((l) => l.trim()).filter(Boolean))];
    if (labels.length < 2) throw err400(`labels must name at least two classes, comma-separated (got ${labels.length})`);
    if (labels.length > 100) throw err400(`labels: at most 100 classes, got ${labels.length}`);
    const { out } = await pictureOf(up);
    return { results: await engine.classify(out, labels) };
  });

  app.get('/api/thumb', async (req, reply) => {
    const q = req.query as { path?: string; item?: string };
    if (!thumbs) throw new UploadError('no index is loaded, so there are no thumbnails', 404);
    if ((q.path === undefined) === (q.item === undefined)) throw err400('name one picture: ?path=RELATIVE/PATH or ?item=N');
    const png = await thumbs.get(q);
    return reply.type('image/png').header('Cache-Control', 'public, max-age=3600').send(png);
  });

  return {
    app,
    engine,
    queue,
    close: async () => {
      closing = true;
      await app.close();
      await queue.close();
      await thumbs?.close();
    },
  };
}
