// Config of the prefix captioner (seed 000, ClipCap-like): plain JSON like the others, with
// "arch": "prefix", the mapping network's mapping_cfg, the language model's decoder_cfg and, once
// trained, the frozen image encoder it reads: `encoder` holds the coca checkpoint's own config
// (its vision_cfg and preprocessing are the ones that matter), the folder it was copied from and
// that folder's model.safetensors checksum, so a checkpoint needs nothing beside itself.
//
// mapping_cfg: prefix_len (vectors prepended to the caption), hidden (the MLP's width).
// decoder_cfg (defaults in brackets): context_length (caption tokens), vocab_size (set from the
// tokenizer by training), width, heads, layers, mlp_ratio [4], pad_id [0].
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, preprocessOf, type CocaConfig } from '../config-schema.ts';
import type { ImagePreprocess } from '../../data/preprocess.ts';
import { ConfigError } from '../errors.ts';

export interface PrefixDecoderCfg {
  context_length: number;
  vocab_size: number;
  width: number;
  heads: number;
  layers: number;
  mlp_ratio: number;
  pad_id: number;
}

export interface MappingCfg {
  prefix_len: number;
  hidden: number;
}

/** The frozen image encoder: which coca checkpoint it came from, and that checkpoint's config. */
export interface EncoderRecord {
  /** The --encoder folder as resolved when training started. */
  source: string;
  /** sha256 of the source's model.safetensors. */
  sha256: string;
  /** The image feature read: the contrastive image embedding (pooled @ visual.proj). */
  feature: 'contrastive';
  config: CocaConfig;
}

export interface PrefixConfig {
  arch: 'prefix';
  mapping_cfg: MappingCfg;
  decoder_cfg: PrefixDecoderCfg;
  /** Absent in a preset; a trained checkpoint always has it. */
  encoder?: EncoderRecord;
}

const CONFIG_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'configs');

export const PREFIX_PRESETS = ['nano'] as const;

type Field = { min: number; def?: number };
const DECODER: Record<string, Field> = {
  context_length: { min: 2 },
  vocab_size: { min: 4 },
  width: { min: 1 },
  heads: { min: 1 },
  layers: { min: 1 },
  mlp_ratio: { min: 1, def: 4 },
  pad_id: { min: 0, def: 0 },
};
const MAPPING: Record<string, Field> = { prefix_len: { min: 1 }, hidden: { min: 1 } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readInts(where: string, section: string, raw: unknown, fields: Record<string, Field>): Record<string, number> {
  if (!isObject(raw)) throw new ConfigError(`${where}: ${section}: required section is missing`);
  const out: Record<string, number> = {};
  for (const [k, val] of Object.entries(raw)) {
    const f = fields[k];
    if (!f) throw new ConfigError(`${where}: ${section}.${k}: unknown key (known: ${Object.keys(fields).join(', ')})`);
    if (typeof val !== 'number' || !Number.isInteger(val) || val < f.min) throw new ConfigError(`${where}: ${section}.${k}: expected an integer ≥ ${f.min}, got ${JSON.stringify(val)}`);
    out[k] = val;
  }
  for (const [k, f] of Object.entries(fields)) {
    if (k in out) continue;
    if (f.def === undefined) throw new ConfigError(`${where}: ${section}.${k}: required key is missing`);
    out[k] = f.def;
  }
  return out;
}

function parseEncoder(raw: unknown, where: string): EncoderRecord {
  if (!isObject(raw)) throw new ConfigError(`${where}: encoder: expected an object`);
  for (const k of Object.keys(raw)) if (!['source', 'sha256', 'feature', 'config'].includes(k)) throw new ConfigError(`${where}: encoder.${k}: unknown key (known: source, sha256, feature, config)`);
  const { source, sha256, feature } = raw;
  if (typeof source !== 'string') throw new ConfigError(`${where}: encoder.source: expected the folder the tower was read from, got ${JSON.stringify(source)}`);
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw new ConfigError(`${where}: encoder.sha256: expected a sha256 in hex, got ${JSON.stringify(sha256)}`);
  if (feature !== 'contrastive') throw new ConfigError(`${where}: encoder.feature: expected "contrastive", got ${JSON.stringify(feature)}`);
  return { source, sha256, feature, config: parseConfig(raw['config'], `${where}: encoder.config`) };
}

/** Validates a parsed JSON config of a prefix captioner; `where` names it in errors. */
export function parsePrefixConfig(raw: unknown, where = 'config'): PrefixConfig {
  if (!isObject(raw)) throw new ConfigError(`${where}: expected an object`);
  if (raw['arch'] !== 'prefix') throw new ConfigError(`${where}: arch: expected "prefix", got ${JSON.stringify(raw['arch'])}`);
  for (const k of Object.keys(raw)) if (!['arch', 'mapping_cfg', 'decoder_cfg', 'encoder'].includes(k)) throw new ConfigError(`${where}: ${k}: unknown key (known: arch, mapping_cfg, decoder_cfg, encoder)`);
  const d = readInts(where, 'decoder_cfg', raw['decoder_cfg'], DECODER) as unknown as PrefixDecoderCfg;
  const m = readInts(where, 'mapping_cfg', raw['mapping_cfg'], MAPPING) as unknown as MappingCfg;
  if (d.width % d.heads !== 0) throw new ConfigError(`${where}: decoder_cfg.width ${d.width} is not divisible by heads ${d.heads}`);
  if (d.pad_id >= d.vocab_size) throw new ConfigError(`${where}: decoder_cfg.pad_id: ${d.pad_id} is outside the vocabulary (vocab_size ${d.vocab_size})`);
  const c: PrefixConfig = { arch: 'prefix', mapping_cfg: m, decoder_cfg: d };
  if (raw['encoder'] !== undefined) c.encoder = parseEncoder(raw['encoder'], where);
  return c;
}

/** A preset (src/model/configs/prefix-<preset>.json) or a JSON config file of a prefix captioner. */
export function loadPrefixConfig(presetOrPath: string): PrefixConfig {
  const isPreset = (PREFIX_PRESETS as readonly string[]).includes(presetOrPath);
  const file = isPreset ? path.join(CONFIG_DIR, `prefix-${presetOrPath}.json`) : presetOrPath;
  if (!fs.existsSync(file)) throw new ConfigError(`config ${presetOrPath}: no such prefix preset or file (prefix presets: ${PREFIX_PRESETS.join(', ')})`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`config ${file}: not readable JSON (${(e as Error).message})`);
  }
  if (isObject(raw) && raw['arch'] !== undefined && raw['arch'] !== 'prefix') throw new ConfigError(`config ${file} is a ${String(raw['arch'])} config, not prefix; drop --arch or give a prefix config`);
  return parsePrefixConfig(raw, isPreset ? `preset prefix ${presetOrPath}` : `config ${file}`);
}

/** The preprocessing the frozen tower was trained with (recorded in its config). */
export function prefixPreprocess(c: PrefixConfig): ImagePreprocess | null {
  return c.encoder ? preprocessOf(c.encoder.config) : null;
}
