// Configs of the LSTM captioners (Show and Tell, Show-Attend-Tell): plain JSON like CoCa's, with
// "arch", the image encoder's vision_cfg (CoCa's keys and rules, read by CoCa's own parser, so
// the preprocessing record and a later encoder choice work the same) and the decoder's
// decoder_cfg. Unknown keys and wrong types stop with one line naming the key path.
//
// decoder_cfg (defaults in brackets):
//   context_length, vocab_size (set from the tokenizer by training), embed_width (word vectors),
//   hidden (the LSTM's), dropout [0.5, on h before the output layer, as seed 001], pad_id [0];
//   sat only: attention_width [hidden] and alpha_c [1], the doubly stochastic regulariser's λ.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, preprocessOf, withPreprocess, type CocaConfig, type VisionCfg } from '../config-schema.ts';
import type { ImagePreprocess } from '../../data/preprocess.ts';
import { ConfigError } from '../errors.ts';

export type LstmArch = 'showtell' | 'sat';
export const LSTM_ARCHS: readonly LstmArch[] = ['showtell', 'sat'];

/** The image tower: CoCa's vision_cfg without the poolers (the LSTM models read the ViT directly). */
export type EncoderCfg = Omit<VisionCfg, 'attentional_pool' | 'attn_pooler_queries' | 'attn_pooler_heads'>;

export interface DecoderCfg {
  context_length: number;
  vocab_size: number;
  embed_width: number;
  hidden: number;
  dropout: number;
  pad_id: number;
  attention_width?: number;
  alpha_c?: number;
}

export interface LstmConfig {
  arch: LstmArch;
  vision_cfg: EncoderCfg;
  decoder_cfg: DecoderCfg;
}

const CONFIG_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'configs');

/** Presets of each LSTM architecture (src/model/configs/<arch>-<preset>.json): nano, and nano with the CNN tower. */
export const LSTM_PRESETS = ['nano', 'nano-cnn'] as const;

const DECODER: Record<string, { int?: boolean; min: number; max?: number; def?: number; sat?: boolean }> = {
  context_length: { int: true, min: 2 },
  vocab_size: { int: true, min: 4 },
  embed_width: { int: true, min: 1 },
  hidden: { int: true, min: 1 },
  dropout: { min: 0, max: 0.95, def: 0.5 },
  pad_id: { int: true, min: 0, def: 0 },
  attention_width: { int: true, min: 1, sat: true },
  alpha_c: { min: 0, def: 1, sat: true },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a parsed JSON config of an LSTM captioner; `where` names it in errors. */
export function parseLstmConfig(raw: unknown, where = 'config'): LstmConfig {
  if (!isObject(raw)) throw new ConfigError(`${where}: expected an object`);
  const arch = raw['arch'];
  if (arch !== 'showtell' && arch !== 'sat') throw new ConfigError(`${where}: arch: expected "showtell" or "sat", got ${JSON.stringify(arch)}`);
  for (const k of Object.keys(raw)) if (!['arch', 'vision_cfg', 'decoder_cfg'].includes(k)) throw new ConfigError(`${where}: ${k}: unknown key (known: arch, vision_cfg, decoder_cfg)`);
  if (!isObject(raw['vision_cfg'])) throw new ConfigError(`${where}: vision_cfg: required section is missing`);
  if (!isObject(raw['decoder_cfg'])) throw new ConfigError(`${where}: decoder_cfg: required section is missing`);
  // CoCa's parser checks and completes vision_cfg (heads from head_width, the preprocessing record);
  // the towers it requires beside it are placeholders, and its pooler keys are dropped again.
  const v = raw['vision_cfg'];
  for (const k of ['attentional_pool', 'attn_pooler_queries', 'attn_pooler_heads']) {
    if (k in v) throw new ConfigError(`${where}: vision_cfg.${k}: the ${arch} model has no attentional pooler; remove the key`);
  }
  const coca = parseConfig({ embed_dim: 1, vision_cfg: { attn_pooler_heads: 1, ...v }, text_cfg: { context_length: 1, vocab_size: 1, width: 1, heads: 1, layers: 1 }, multimodal_cfg: { width: 1, heads: 1, layers: 1 } }, where);
  const { attentional_pool: _a, attn_pooler_queries: _q, attn_pooler_heads: _h, ...vision_cfg } = coca.vision_cfg;
  const d = raw['decoder_cfg'];
  const out: Record<string, number> = {};
  for (const [k, val] of Object.entries(d)) {
    const f = DECODER[k];
    if (!f || (f.sat && arch !== 'sat')) throw new ConfigError(`${where}: decoder_cfg.${k}: unknown key for ${arch} (known: ${Object.keys(DECODER).filter((n) => arch === 'sat' || !DECODER[n]!.sat).join(', ')})`);
    const ok = typeof val === 'number' && Number.isFinite(val) && (!f.int || Number.isInteger(val)) && val >= f.min && (f.max === undefined || val <= f.max);
    if (!ok) throw new ConfigError(`${where}: decoder_cfg.${k}: expected ${f.int ? 'an integer' : 'a number'} ≥ ${f.min}${f.max !== undefined ? ` and ≤ ${f.max}` : ''}, got ${JSON.stringify(val)}`);
    out[k] = val as number;
  }
  for (const [k, f] of Object.entries(DECODER)) {
    if (k in out || (f.sat && arch !== 'sat')) continue;
    if (f.def !== undefined) out[k] = f.def;
    else if (k === 'attention_width') out[k] = out['hidden']!;
    else throw new ConfigError(`${where}: decoder_cfg.${k}: required key is missing`);
  }
  if (out['pad_id']! >= out['vocab_size']!) throw new ConfigError(`${where}: decoder_cfg.pad_id: ${out['pad_id']} is outside the vocabulary (vocab_size ${out['vocab_size']})`);
  return { arch, vision_cfg, decoder_cfg: out as unknown as DecoderCfg };
}

/** A preset of an LSTM architecture, or a JSON config file of one. */
export function loadLstmConfig(arch: LstmArch, presetOrPath: string): LstmConfig {
  const isPreset = (LSTM_PRESETS as readonly string[]).includes(presetOrPath);
  const file = isPreset ? path.join(CONFIG_DIR, `${arch}-${presetOrPath}.json`) : presetOrPath;
  if (!fs.existsSync(file)) throw new ConfigError(`config ${presetOrPath}: no such ${arch} preset or file (${arch} presets: ${LSTM_PRESETS.join(', ')})`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`config ${file}: not readable JSON (${(e as Error).message})`);
  }
  const c = parseLstmConfig(raw, isPreset ? `preset ${arch} ${presetOrPath}` : `config ${file}`);
  if (c.arch !== arch) throw new ConfigError(`config ${file} is a ${c.arch} config, not ${arch}; drop --arch or give a ${arch} config`);
  return c;
}

// The preprocessing record lives in vision_cfg, as CoCa's: its helpers are reused on a stand-in.
const asCoca = (c: LstmConfig) => ({ vision_cfg: c.vision_cfg }) as unknown as CocaConfig;

export function lstmPreprocess(c: LstmConfig): ImagePreprocess | null {
  return preprocessOf(asCoca(c));
}

export function withLstmPreprocess(c: LstmConfig, p: ImagePreprocess): LstmConfig {
  return { ...c, vision_cfg: withPreprocess(asCoca(c), p).vision_cfg as EncoderCfg };
}

export function withLstmVocab(c: LstmConfig, vocab: number): LstmConfig {
  return { ...c, decoder_cfg: { ...c.decoder_cfg, vocab_size: vocab } };
}
