// DeViSE's config and checkpoint: plain JSON like the other architectures' ("arch": "devise", the
// CNN tower's vision_cfg read by CoCa's own parser so the preprocessing record works the same,
// embed_dim: the word space's width), plus what places labels in that space: label_vectors
// ("text" or "random"), the seed of the random control's vectors, the hinge margin and the
// skip-gram options a text space was trained with. A text-space checkpoint carries the word
// vectors themselves (devise-space.ts), so it ranks any label without the corpus it came from.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultPreprocess, type ImagePreprocess } from '../data/preprocess.ts';
import { Tokenizer } from '../data/tokenizer.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { ParamStore } from '../nn/params.ts';
import { Rng } from '../util/prng.ts';
import { verifyCheckpoint } from './checkpoint-folder.ts';
import { loadParamsInto } from './checkpoint.ts';
import { parseConfig, preprocessOf, withPreprocess, type CocaConfig, type VisionCfg } from './config-schema.ts';
import { DEVISE_MARGIN, DeviseModel } from './devise.ts';
import { CheckpointError, ConfigError } from './errors.ts';
import { LABEL_VECTORS, randomSpace, readWordVectors, textSpace, type LabelSpace, type LabelVectors } from './devise-space.ts';
import { DEFAULT_SKIPGRAM, type SkipGramOptions } from './skipgram.ts';

export interface DeviseFullConfig {
  arch: 'devise';
  vision_cfg: VisionCfg;
  embed_dim: number;
  label_vectors: LabelVectors;
  /** Seeds the random control's vectors (and the skip-gram model's draws). */
  label_seed: number;
  margin: number;
  /** The text model's options (text spaces). */
  skipgram?: Omit<SkipGramOptions, 'dim' | 'seed'>;
}

const CONFIG_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'configs');
export const DEVISE_PRESETS = ['nano-cnn'] as const;
const KEYS = ['arch', 'vision_cfg', 'embed_dim', 'label_vectors', 'label_seed', 'margin', 'skipgram'];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a parsed devise config; `where` names it in errors. Training fills label_vectors, label_seed and margin when absent. */
export function parseDeviseConfig(raw: unknown, where = 'config'): DeviseFullConfig {
  if (!isObject(raw)) throw new ConfigError(`${where}: expected an object`);
  if (raw['arch'] !== 'devise') throw new ConfigError(`${where}: arch: expected "devise", got ${JSON.stringify(raw['arch'])}`);
  for (const k of Object.keys(raw)) if (!KEYS.includes(k)) throw new ConfigError(`${where}: ${k}: unknown key (known: ${KEYS.join(', ')})`);
  const v = raw['vision_cfg'];
  if (!isObject(v)) throw new ConfigError(`${where}: vision_cfg: required section is missing`);
  if (v['tower'] !== 'cnn') throw new ConfigError(`${where}: vision_cfg.tower: DeViSE's image tower is the CNN; set "tower": "cnn" (and its cnn_* keys)`);
  const D = raw['embed_dim'];
  if (!(typeof D === 'number' && Number.isInteger(D) && D >= 1)) throw new ConfigError(`${where}: embed_dim: expected an integer ≥ 1 (the word vectors' width), got ${JSON.stringify(D)}`);
  const coca = parseConfig({ embed_dim: 1, vision_cfg: { attn_pooler_heads: 1, ...v }, text_cfg: { context_length: 1, vocab_size: 1, width: 1, heads: 1, layers: 1 }, multimodal_cfg: { width: 1, heads: 1, layers: 1 } }, where);
  const lv = raw['label_vectors'] ?? 'text';
  if (!(LABEL_VECTORS as readonly unknown[]).includes(lv)) throw new ConfigError(`${where}: label_vectors: expected ${LABEL_VECTORS.map((x) => JSON.stringify(x)).join(' or ')}, got ${JSON.stringify(lv)}`);
  const seed = raw['label_seed'] ?? 1;
  if (!(typeof seed === 'number' && Number.isInteger(seed) && seed >= 0)) throw new ConfigError(`${where}: label_seed: expected an integer ≥ 0, got ${JSON.stringify(seed)}`);
  const margin = raw['margin'] ?? DEVISE_MARGIN;
  if (!(typeof margin === 'number' && margin > 0 && Number.isFinite(margin))) throw new ConfigError(`${where}: margin: expected a number > 0 (the hinge's), got ${JSON.stringify(margin)}`);
  const sg = raw['skipgram'];
  if (sg !== undefined && !isObject(sg)) throw new ConfigError(`${where}: skipgram: expected an object of the text model's options`);
  const { dim: _d, seed: _s, ...sgDefaults } = DEFAULT_SKIPGRAM;
  const skipgram = { ...sgDefaults, ...(sg ?? {}) } as Omit<SkipGramOptions, 'dim' | 'seed'>;
  for (const [k, x] of Object.entries(skipgram)) {
    if (!(k in sgDefaults)) throw new ConfigError(`${where}: skipgram.${k}: unknown key (known: ${Object.keys(sgDefaults).join(', ')})`);
    if (!(typeof x === 'number' && Number.isFinite(x) && x > 0)) throw new ConfigError(`${where}: skipgram.${k}: expected a number > 0, got ${JSON.stringify(x)}`);
  }
  return { arch: 'devise', vision_cfg: coca.vision_cfg, embed_dim: D, label_vectors: lv as LabelVectors, label_seed: seed, margin, skipgram };
}

function readJsonFile(file: string, what: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${what} ${file}: not readable JSON (${(e as Error).message})`);
  }
}

/** A devise preset (nano-cnn) or a JSON config file of one. */
export function loadDeviseConfig(presetOrPath: string): DeviseFullConfig {
  const isPreset = (DEVISE_PRESETS as readonly string[]).includes(presetOrPath);
  const file = isPreset ? path.join(CONFIG_DIR, `devise-${presetOrPath}.json`) : presetOrPath;
  if (!fs.existsSync(file)) throw new ConfigError(`config ${presetOrPath}: no such devise preset or file (devise presets: ${DEVISE_PRESETS.join(', ')})`);
  return parseDeviseConfig(readJsonFile(file, 'config'), isPreset ? `preset devise ${presetOrPath}` : `config ${file}`);
}

const asCoca = (c: DeviseFullConfig) => ({ vision_cfg: c.vision_cfg }) as unknown as CocaConfig;
export const devisePreprocess = (c: DeviseFullConfig): ImagePreprocess | null => preprocessOf(asCoca(c));
export const withDevisePreprocess = (c: DeviseFullConfig, p: ImagePreprocess): DeviseFullConfig => ({ ...c, vision_cfg: withPreprocess(asCoca(c), p).vision_cfg });

export interface OpenDevise {
  dir: string;
  model: DeviseModel;
  config: DeviseFullConfig;
  space: LabelSpace;
  /** The tokenizer the run's batches were made with (the loader needs one; DeViSE reads no tokens). */
  tokenizer: Tokenizer;
  pre: ImagePreprocess;
  release(): void;
}

/** The model, label space and preprocessing of a devise checkpoint folder, verified. */
export function openDevise(gpu: Gpu, dir: string, notify: (line: string) => void = (l) => console.error(l)): OpenDevise {
  verifyCheckpoint(dir, notify);
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} is not a coca checkpoint (no config.json); give a folder written by coca train`);
  const config = parseDeviseConfig(readJsonFile(file, 'checkpoint config'), file);
  const space = config.label_vectors === 'text' ? textSpace(readWordVectors(dir)) : randomSpace(config.embed_dim, config.label_seed);
  if (space.dim !== config.embed_dim) throw new CheckpointError(`${dir}: the word vectors are ${space.dim} wide but the model's embed_dim is ${config.embed_dim}; the checkpoint is damaged: use another one`);
  const tokFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokFile)) throw new CheckpointError(`${dir} has no tokenizer.json; checkpoints written by 'coca train' carry one`);
  let pre = devisePreprocess(config);
  if (!pre) {
    pre = defaultPreprocess(config.vision_cfg.image_size);
    notify(`coca: warning: ${dir} records no image preprocessing; assuming CLIP's (add vision_cfg.image_mean/image_std/image_resize_mode to its config.json)`);
  }
  const model = new DeviseModel(gpu, config, ParamStore.create(gpu, DeviseModel.specs(config), new Rng(0)));
  try {
    loadParamsInto(dir, model);
  } catch (e) {
    model.params.release();
    throw e;
  }
  return { dir, model, config, space, tokenizer: Tokenizer.load(tokFile), pre, release: () => model.params.release() };
}
