// The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json. Written by hand next
// to the routes (server.ts) rather than generated: the API is small, and a test checks that every
// route the server has is described here and the other way round.
import { DEFAULT_SEARCH as D } from '../infer/search.ts';
import { DEFAULT_RERANK_WEIGHT } from '../infer/rerank.ts';
import type { ServeOptions } from './server.ts';

const error = { description: 'What is wrong, in one line', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const busy = {
  description: 'The GPU queue is full or the request waited too long; retry after Retry-After seconds',
  headers: { 'Retry-After': { schema: { type: 'integer' } } },
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const upload = (extra: Record<string, object>, required: string[] = []) => ({
  required: true,
  content: {
    'multipart/form-data': {
      schema: { type: 'object', required: ['image', ...required], properties: { image: { type: 'string', format: 'binary', description: 'PNG, JPEG, GIF, WebP, AVIF or TIFF; the type is read from the bytes' }, ...extra } },
    },
  },
});
const int = (description: string, extra: object = {}) => ({ type: 'integer', description, ...extra });
const num = (description: string, extra: object = {}) => ({ type: 'number', description, ...extra });
const imageErrors = { 400: error, 413: error, 415: error, 503: busy };

export function openapi(o: ServeOptions): object {
  const mb = (o.maxUploadBytes / 1048576).toFixed(1);
  return {
    openapi: '3.1.0',
    info: { title: 'coca serve', version: '1', description: `Captions, retrieval and zero-shot classification with a CoCa checkpoint; /api/caption also answers with every other checkpoint served (models), of any architecture. Uploads: at most ${mb} MB and ${(o.maxPixels / 1e6).toFixed(0)} MP. Caption requests with the same options run together, up to ${o.maxBatch} per GPU pass.` },
    paths: {
      '/api/caption': {
        post: {
          summary: 'Caption a picture with each served model; per-token log-probs and attention maps',
          requestBody: upload({
            beams: int('beam width (1 = greedy)', { minimum: 1, maximum: o.maxBeams, default: D.beams }),
            maxLen: int('most tokens, [SOT] and [EOT] included (capped at the context length)', { minimum: 2, default: D.maxLen }),
            minLen: int('[EOT] forbidden before this many tokens', { minimum: 0, default: D.minLen }),
            lengthPenalty: num('beam score = Σ log-prob / length^α', { default: D.lengthPenalty }),
            repetitionPenalty: num('θ > 1 discourages repeats', { exclusiveMinimum: 0, default: D.repetitionPenalty }),
            sample: { type: 'boolean', description: 'sample instead of searching (implied by topK, topP, temperature)', default: false },
            topK: int('sample from the k most likely tokens (0 = all)', { minimum: 0, default: D.topK }),
            topP: num('nucleus sampling mass', { exclusiveMinimum: 0, maximum: 1, default: D.topP }),
            temperature: num('sampling temperature', { exclusiveMinimum: 0, default: D.temperature }),
            seed: int('sampling seed: the same picture and seed give the same captions whatever else the server is decoding', { default: D.seed }),
            lang: { type: 'string', description: "caption language of a multilingual model: one of /api/health's languages (en, ru, zh, ms: its token follows [SOT]); a model without language tokens (languages empty) takes only en. Another is a 400 naming the model's languages. Every served model must have it", default: 'en' },
            rerank: { type: 'boolean', description: "choose among the beams' finished captions by the model's image–text similarity (beams ≥ 2; CoCa models only: a request to a server that also serves another architecture is a 400)", default: false },
            rerankWeight: num('α in score = α·similarity + (1 − α)·beam score (the length-normalised log-prob); with rerank', { minimum: 0, maximum: 1, default: DEFAULT_RERANK_WEIGHT }),
            n: int('captions to sample (1–5; sampling only)'),
            attention: { type: 'boolean', description: 'per-token attention maps (default true)' },
          }),
          responses: { 200: { description: 'Captions, best first', ...json({ $ref: '#/components/schemas/Captions' }) }, ...imageErrors },
        },
      },
      '/api/retrieve': {
        get: {
          summary: 'The indexed pictures best matching a text',
          parameters: [
            { name: 'text', in: 'query', required: true, schema: { type: 'string', maxLength: 500 } },
            { name: 'k', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 12 } },
            { name: 'lang', in: 'query', schema: { type: 'string' }, description: "the text's language for a multilingual model (one of /api/health's languages; another is a 400). Default: the script's (Cyrillic → ru, Han → zh, when the model has it), else en — Latin script cannot tell English from Malay, so Malay needs lang=ms. The answer says which was used (lang) and why (langFrom)" },
          ],
          responses: { 200: { description: 'Pictures, best first', ...json({ $ref: '#/components/schemas/Images' }) }, 400: error, 409: error, 503: busy },
        },
        post: {
          summary: "Candidate captions (the index's, or `texts`) ranked by similarity to a picture",
          requestBody: upload({
            texts: { type: 'string', description: 'candidate captions, one per line (default: the captions the index kept)' },
            k: int('results (default 10)'),
            lang: { type: 'string', description: "the language of texts for a multilingual model (one of /api/health's languages); default: each text's script's, else en" },
          }),
          responses: { 200: { description: 'Captions, best first', ...json({ $ref: '#/components/schemas/Texts' }) }, ...imageErrors },
        },
      },
      '/api/classify': {
        post: {
          summary: 'Zero-shot classification over the given labels (CLIP-style prompt ensemble)',
          requestBody: upload({ labels: { type: 'string', description: 'class names, comma-separated (2 to 100)' } }, ['labels']),
          responses: { 200: { description: 'Probabilities, best first', ...json({ $ref: '#/components/schemas/Classes' }) }, ...imageErrors },
        },
      },
      '/api/thumb': {
        get: {
          summary: 'A 160-pixel PNG thumbnail of an indexed picture',
          parameters: [
            { name: 'path', in: 'query', schema: { type: 'string' }, description: 'relative to the indexed folder; never outside it' },
            { name: 'item', in: 'query', schema: { type: 'integer' }, description: 'item number of a dataset index' },
          ],
          responses: { 200: { description: 'PNG', content: { 'image/png': {} } }, 400: error, 403: error, 404: error },
        },
      },
      '/api/health': { get: { summary: 'Model, checkpoint id, caption and search languages (languages: empty for an English-only model; models[].languages per served model), adapter, queue', responses: { 200: { description: 'Status', ...json({ type: 'object' }) } } } },
      '/api/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', ...json({ type: 'object' }) } } } },
    },
    components: {
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' }, retryAfter: { type: 'integer' } } },
        Token: { type: 'object', properties: { id: { type: 'integer' }, text: { type: 'string' }, logprob: { type: 'number' }, map: { type: 'array', items: { type: 'number' }, description: 'grid×grid, row-major, max 1' } } },
        Captions: {
          type: 'object',
          properties: {
            grid: { type: 'integer' },
            lang: { type: 'string', description: 'the requested caption language, when one was given' },
            fit: { enum: ['contain', 'cover', 'fill'], description: "how the picture was squared before the model saw it (the model's image_resize_mode: longest, shortest, squash)" },
            captions: { type: 'array', items: { $ref: '#/components/schemas/Caption' }, description: "the first checkpoint's captions (the same as models[0].captions)" },
            models: {
              type: 'array',
              description: 'one entry per checkpoint served (coca serve --checkpoint A --checkpoint B …), in the order given; one entry with one checkpoint',
              items: {
                type: 'object',
                properties: {
                  name: { type: 'string', description: 'the --checkpoint argument' },
                  arch: { enum: ['coca', 'showtell', 'sat', 'prefix'] },
                  checkpoint: { type: 'object', properties: { id: { type: 'string' }, dir: { type: 'string' } } },
                  grid: { type: 'integer', description: "this model's attention grid side; 0 when it has no attention over the picture (showtell, prefix): its tokens carry no map" },
                  fit: { enum: ['contain', 'cover', 'fill'] },
                  captions: { type: 'array', items: { $ref: '#/components/schemas/Caption' } },
                },
              },
            },
          },
        },
        Caption: {
          type: 'object',
          properties: {
            text: { type: 'string' },
            score: { type: 'number' },
            rerank: { type: 'object', description: "with rerank: the cosine with the picture, the combined score, and the place among the beams (0 = the search's own best)", properties: { similarity: { type: 'number' }, score: { type: 'number' }, beamRank: { type: 'integer' } } },
            tokens: { type: 'array', items: { $ref: '#/components/schemas/Token' } },
          },
        },
        Images: {
          type: 'object',
          properties: {
            query: { type: 'string' },
            lang: { type: 'string', description: 'the language the query was read in (absent for a model without language tokens)' },
            langFrom: { enum: ['picked', 'script', 'default'], description: "why: the request's lang; the query's script (Cyrillic → ru, Han → zh); or en, the default for any other script" },
            results: { type: 'array', items: { type: 'object', properties: { rank: { type: 'integer' }, index: { type: 'integer' }, score: { type: 'number' }, name: { type: 'string' }, captions: { type: 'array', items: { type: 'string' } }, thumbnail: { type: ['string', 'null'] } } } } },
        },
        Texts: { type: 'object', properties: { candidates: { type: 'integer' }, results: { type: 'array', items: { type: 'object', properties: { rank: { type: 'integer' }, text: { type: 'string' }, score: { type: 'number' } } } } } },
        Classes: { type: 'object', properties: { results: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, p: { type: 'number' } } } } } },
      },
    },
  };
}
