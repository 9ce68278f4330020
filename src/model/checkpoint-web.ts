// A checkpoint fetched over HTTP (a static site, `coca serve`): config.json, model.safetensors
// and tokenizer.json beside each other under one URL, read with the same parsers and checks as a
// folder on disk (checkpoint.ts), without its manifest (hashes need node:crypto; a page trusts
// what its server sends). Everything goes wrong in one line naming the URL.
import type { Gpu } from '../gpu/gpu.ts';
import { TokenizerCore, type TokenizerJson } from '../data/tokenizer-core.ts';
import { ParamStore } from '../nn/params.ts';
import { Rng } from '../util/prng.ts';
import { checkpointParams } from './checkpoint-params.ts';
import { CocaModel } from './coca.ts';
import { parseConfig, type CocaConfig } from './config-schema.ts';
import { CheckpointError } from './errors.ts';
import { parseSafetensors } from './safetensors-format.ts';
import { parameterShapes } from './shapes.ts';

export interface FetchedCheckpoint {
  model: CocaModel;
  config: CocaConfig;
  /** Null when the checkpoint has no tokenizer.json. */
  tokenizer: TokenizerCore | null;
}

async function get(url: URL, optional: boolean): Promise<Response | null> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new CheckpointError(`${url}: cannot fetch (${(e instanceof Error ? e.message : String(e)).split('\n')[0]}); check the address and that the site is up`);
  }
  if (r.status === 404 && optional) return null;
  if (!r.ok) throw new CheckpointError(`${url}: HTTP ${r.status}; there is no coca checkpoint here (config.json, model.safetensors, tokenizer.json)`);
  return r;
}

/** The checkpoint under `base` (a folder URL; relative to the page), its model on `gpu`. */
export async function loadCheckpointFromUrl(gpu: Gpu, base: string | URL): Promise<FetchedCheckpoint> {
  const page = (globalThis as { location?: { href: string } }).location?.href;
  const dir = new URL(String(base).endsWith('/') ? String(base) : `${base}/`, page);
  const at = (name: string) => new URL(name, dir);
  const [configResponse, weightsResponse, tokenizerResponse] = await Promise.all([get(at('config.json'), false), get(at('model.safetensors'), false), get(at('tokenizer.json'), true)]);
  let raw: unknown;
  try {
    raw = JSON.parse(await configResponse!.text());
  } catch (e) {
    throw new CheckpointError(`${at('config.json')} is not valid JSON (${(e as Error).message}); the checkpoint is damaged: use another one`);
  }
  const config = parseConfig(raw, String(at('config.json')));
  const params = checkpointParams(parseSafetensors(new Uint8Array(await weightsResponse!.arrayBuffer()), String(at('model.safetensors'))), String(at('model.safetensors')));
  let tokenizer: TokenizerCore | null = null;
  if (tokenizerResponse) {
    tokenizer = TokenizerCore.fromJSON((await tokenizerResponse.json()) as TokenizerJson);
    if (tokenizer.vocabSize !== config.text_cfg.vocab_size) {
      throw new CheckpointError(`${at('tokenizer.json')} has a vocabulary of ${tokenizer.vocabSize} tokens but the model's is ${config.text_cfg.vocab_size}; it belongs to another model`);
    }
  }
  const model = new CocaModel(gpu, config, ParamStore.create(gpu, parameterShapes(config), new Rng(0)));
  try {
    model.params.load(params);
  } catch (e) {
    model.params.release();
    throw e;
  }
  return { model, config, tokenizer };
}
