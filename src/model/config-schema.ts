// Model configs: plain JSON with open_clip's keys (embed_dim, vision_cfg, text_cfg,
// multimodal_cfg), presets in ./configs/. The loader is strict on purpose: a misspelt key in a
// hand-edited config would otherwise silently train the default model, so any unknown key or
// wrong type stops with one line naming the key path.
//
// Defaults (filled when a key is absent; open_clip's where it has one):
//   vision_cfg:     heads = width / head_width (head_width 64), mlp_ratio 4,
//                   attentional_pool "cascade" (the paper's; open_clip's CoCa uses true),
//                   attn_pooler_queries 256, attn_pooler_heads 8
//   text_cfg:       heads 8, mlp_ratio 4, pad_id 0, correct_cls_mask true (false: open_clip's legacy mask)
//   multimodal_cfg: heads 8, mlp_ratio 4, context_length and vocab_size = text_cfg's
// Required: embed_dim; vision_cfg image_size, patch_size, width, layers; text_cfg
// context_length, vocab_size, width, layers; multimodal_cfg width, layers.
//
// The preprocessing the model was trained with is part of it (open_clip keeps it in vision_cfg
// too): image_mean, image_std, image_interpolation ("bilinear", or "bicubic": Pillow's, as open_clip),
// image_resize_mode ("shortest" | "longest" | "squash") and coca's image_background (the RGB that
// transparency is flattened onto and "longest" pads with), and for models imported from open_clip
// with "longest" image_pad_after_resize (open_clip's fill_color as RGB: resize keeping the ratio,
// then pad with it, open_clip's order; absent: coca's, pad then resize), and for every imported model
// image_alpha "drop" (Pillow's convert('RGB') keeps the colour under transparency; absent: flattened
// on image_background, as coca trains). Presets leave it out; `coca train`
// records it when a run starts, so every checkpoint's config.json carries it. Given at all,
// image_mean and image_std are required and the others default to bilinear, shortest, white.
//
// vocab_size in a preset is a placeholder: training sets it from the tokenizer with
// withVocabSize() (the built-in dataset's BPE has 1024 or 2048 ids), and a checkpoint's
// config.json records the value actually used.
//
// open_clip's own config files load as they are (e.g. its coca_ViT-B-32.json): its keys
// head_width, output_tokens, embed_cls, custom_text and the decoder's unused
// attn_pooler_heads / n_queries / dim_head are accepted; the flags must be true because
// coca always has those behaviours.
//
// The image tower: a ViT (the default; "tower" absent or "vit") or, with "tower": "cnn", the
// ResNet-style CNN of cnn-encoder.ts whose final feature map's pixels are the tokens the
// poolers read. Its keys: cnn_widths and cnn_depths (channels and basic blocks per stage, every
// stage after the first halving the map), cnn_stem_stride (default 1) and cnn_stem_pool
// (default false: a 3x3/2 max pool after the stem). With it the ViT keys are derived, not given:
// width is the last stage's width (the tokens' width), patch_size the total downsampling (so
// image_size / patch_size is still the token grid's side), layers the number of blocks, heads 1,
// mlp_ratio 4; a config may repeat them only with those values (a checkpoint's config.json does).
//
// This file reads no files (the browser parses fetched configs with it); config.ts adds the
// presets in ./configs/ and config files on disk.
import type { Triple } from '../data/augment.ts';
import { checkStats, INTERPOLATIONS, RESIZE_MODES, WHITE, type ImagePreprocess, type Interpolation, type ResizeMode } from '../data/preprocess.ts';
import { ConfigError } from './errors.ts';

export type AttentionalPool = 'cascade' | true;
export type VisionTower = 'vit' | 'cnn';

export interface VisionCfg {
  image_size: number;
  patch_size: number;
  width: number;
  layers: number;
  heads: number;
  mlp_ratio: number;
  attentional_pool: AttentionalPool;
  attn_pooler_queries: number;
  attn_pooler_heads: number;
  /** "cnn": the CNN tower (cnn-encoder.ts) and the cnn_* keys below; absent: the ViT. */
  tower?: VisionTower;
  /** Per stage: output channels and basic blocks (tower "cnn" only). */
  cnn_widths?: number[];
  cnn_depths?: number[];
  cnn_stem_stride?: number;
  cnn_stem_pool?: boolean;
  /** The preprocessing the model was trained with (absent in presets and old checkpoints). */
  image_mean?: Triple;
  image_std?: Triple;
  image_interpolation?: Interpolation;
  image_resize_mode?: ResizeMode;
  image_background?: Triple;
  image_pad_after_resize?: Triple;
  /** "drop": models imported from open_clip (Pillow's convert('RGB')); absent: flattened on image_background. */
  image_alpha?: 'drop';
}

export interface TextCfg {
  context_length: number;
  vocab_size: number;
  width: number;
  heads: number;
  layers: number;
  mlp_ratio: number;
  pad_id: number;
  /**
   * false: open_clip's own text mask, with which its published CoCa checkpoints were trained (the
   * key one place right of each pad token is masked instead of the pad, docs/model.md deviation 2).
   * Absent or true: the correct mask. Imported open_clip checkpoints record false.
   */
  correct_cls_mask?: boolean;
}

export interface MultimodalCfg {
  context_length: number;
  vocab_size: number;
  width: number;
  heads: number;
  layers: number;
  mlp_ratio: number;
}

/** A config with every default filled and every cross-field rule checked. */
export interface CocaConfig {
  embed_dim: number;
  vision_cfg: VisionCfg;
  text_cfg: TextCfg;
  multimodal_cfg: MultimodalCfg;
}

export const PRESETS = ['nano', 'tiny', 'small', 'b32'] as const;
export type Preset = (typeof PRESETS)[number];

type Kind = 'posint' | 'nonneg' | 'posnum' | 'pool' | 'true' | 'bool' | 'mean' | 'std' | 'rgb' | 'interpolation' | 'resize' | 'alpha' | 'tower' | 'posints' | 'stride';
type Value = number | AttentionalPool | Triple | string | boolean | number[];
// A field is required (no default), has a constant default, is optional (may be absent), or is
// compat-only (accepted, dropped).
interface Field {
  kind: Kind;
  def?: number | AttentionalPool;
  optional?: boolean;
  compat?: boolean;
}

const VISION: Record<string, Field> = {
  image_size: { kind: 'posint' },
  patch_size: { kind: 'posint' },
  width: { kind: 'posint' },
  layers: { kind: 'posint' },
  heads: { kind: 'posint' }, // default from head_width below
  head_width: { kind: 'posint', compat: true },
  mlp_ratio: { kind: 'posnum', def: 4 },
  attentional_pool: { kind: 'pool', def: 'cascade' },
  attn_pooler_queries: { kind: 'posint', def: 256 },
  attn_pooler_heads: { kind: 'posint', def: 8 },
  output_tokens: { kind: 'true', compat: true },
  tower: { kind: 'tower', optional: true },
  cnn_widths: { kind: 'posints', optional: true },
  cnn_depths: { kind: 'posints', optional: true },
  cnn_stem_stride: { kind: 'stride', optional: true },
  cnn_stem_pool: { kind: 'bool', optional: true },
  image_mean: { kind: 'mean', optional: true },
  image_std: { kind: 'std', optional: true },
  image_interpolation: { kind: 'interpolation', optional: true },
  image_resize_mode: { kind: 'resize', optional: true },
  image_background: { kind: 'rgb', optional: true },
  image_pad_after_resize: { kind: 'rgb', optional: true },
  image_alpha: { kind: 'alpha', optional: true },
};
const TEXT: Record<string, Field> = {
  context_length: { kind: 'posint' },
  vocab_size: { kind: 'posint' },
  width: { kind: 'posint' },
  heads: { kind: 'posint', def: 8 },
  layers: { kind: 'posint' },
  mlp_ratio: { kind: 'posnum', def: 4 },
  pad_id: { kind: 'nonneg', def: 0 },
  correct_cls_mask: { kind: 'bool', optional: true },
  embed_cls: { kind: 'true', compat: true },
  output_tokens: { kind: 'true', compat: true },
};
const MULTIMODAL: Record<string, Field> = {
  context_length: { kind: 'posint' }, // default from text_cfg below
  vocab_size: { kind: 'posint' },
  width: { kind: 'posint' },
  heads: { kind: 'posint', def: 8 },
  layers: { kind: 'posint' },
  mlp_ratio: { kind: 'posnum', def: 4 },
  attn_pooler_heads: { kind: 'posint', compat: true },
  n_queries: { kind: 'posint', compat: true },
  dim_head: { kind: 'posint', compat: true },
};
const TOP: Record<string, Field> = {
  embed_dim: { kind: 'posint' },
  custom_text: { kind: 'true', compat: true },
};
const SECTIONS = { vision_cfg: VISION, text_cfg: TEXT, multimodal_cfg: MULTIMODAL } as const;
// Keys whose default depends on other keys: required only if the rule below cannot fill them.
const DERIVED = new Set(['vision_cfg.heads', 'multimodal_cfg.context_length', 'multimodal_cfg.vocab_size']);

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : String(v);
}

function checkValue(where: string, key: string, f: Field, v: unknown): Value {
  const bad = (want: string): never => {
    throw new ConfigError(`${where}: ${key}: expected ${want}, got ${describe(v)}`);
  };
  switch (f.kind) {
    case 'posint':
      return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : bad('a positive integer');
    case 'nonneg':
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : bad('a non-negative integer');
    case 'posnum':
      return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : bad('a positive number');
    case 'pool':
      return v === 'cascade' || v === true ? v : bad('"cascade" or true');
    case 'true':
      return v === true ? true : bad('true (coca always behaves so; remove the key or set it true)');
    case 'bool':
      return typeof v === 'boolean' ? v : bad('true or false');
    case 'mean':
    case 'std': {
      const problem = Array.isArray(v) ? checkStats(f.kind, v as number[]) : `${f.kind} must be three numbers`;
      return problem ? bad(f.kind === 'std' ? 'three numbers above 0' : 'three finite numbers') : ([...(v as number[])] as unknown as Triple);
    }
    case 'rgb':
      return Array.isArray(v) && v.length === 3 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255) ? ([...v] as unknown as Triple) : bad('three integers 0..255 (8-bit RGB)');
    case 'interpolation':
      return (INTERPOLATIONS as readonly unknown[]).includes(v) ? (v as string) : bad(`${INTERPOLATIONS.map((x) => `"${x}"`).join(' or ')} (the resamplers coca has)`);
    case 'tower':
      return v === 'vit' || v === 'cnn' ? v : bad('"vit" or "cnn"');
    case 'posints':
      return Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x > 0) ? [...(v as number[])] : bad('a non-empty array of positive integers');
    case 'stride':
      return v === 1 || v === 2 ? v : bad('1 or 2');
    case 'alpha':
      return v === 'drop' ? v : bad('"drop" (open_clip\'s convert(\'RGB\')); leave it out to flatten transparency on image_background');
    case 'resize':
      return (RESIZE_MODES as readonly unknown[]).includes(v) ? (v as string) : bad(RESIZE_MODES.map((x) => `"${x}"`).join(', '));
  }
}

function readSection(where: string, prefix: string, raw: unknown, fields: Record<string, Field>): Record<string, Value> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${where}: ${prefix || 'config'}: expected an object, got ${describe(raw)}`);
  }
  const dot = prefix ? `${prefix}.` : '';
  const out: Record<string, Value> = {};
  for (const [key, v] of Object.entries(raw)) {
    if (!prefix && key in SECTIONS) continue;
    const f = fields[key];
    if (!f) {
      const known = [...Object.keys(fields).filter((k) => !fields[k]!.compat), ...(prefix ? [] : Object.keys(SECTIONS))];
      throw new ConfigError(`${where}: ${dot}${key}: unknown key (known: ${known.join(', ')})`);
    }
    out[key] = checkValue(where, dot + key, f, v);
  }
  for (const [key, f] of Object.entries(fields)) {
    if (key in out || f.compat || f.optional) continue;
    if (f.def !== undefined) out[key] = f.def;
    else if (!DERIVED.has(dot + key)) throw new ConfigError(`${where}: ${dot}${key}: required key is missing`);
  }
  return out;
}

/** Validates a parsed JSON config and fills its defaults; `where` names it in errors. */
export function parseConfig(raw: unknown, where = 'config'): CocaConfig {
  const top = readSection(where, '', raw, TOP);
  const obj = raw as Record<string, unknown>;
  const sec: Record<string, Record<string, Value>> = {};
  for (const [name, fields] of Object.entries(SECTIONS)) {
    if (!(name in obj)) throw new ConfigError(`${where}: ${name}: required section is missing`);
    const section = name === 'vision_cfg' ? withCnnDerived(where, obj[name]) : obj[name];
    sec[name] = readSection(where, name, section, fields);
  }
  const v = sec['vision_cfg']!;
  const t = sec['text_cfg']!;
  const m = sec['multimodal_cfg']!;
  const headWidth = v['head_width'] as number | undefined;
  if (v['heads'] === undefined) {
    const hw = headWidth ?? 64;
    if ((v['width'] as number) % hw !== 0) {
      throw new ConfigError(`${where}: vision_cfg.heads: missing, and width ${v['width']} is not a multiple of head_width ${hw}; set heads`);
    }
    v['heads'] = (v['width'] as number) / hw;
  } else if (headWidth !== undefined && (v['heads'] as number) * headWidth !== v['width']) {
    throw new ConfigError(`${where}: vision_cfg.head_width: ${headWidth} × heads ${v['heads']} ≠ width ${v['width']}; give one of them`);
  }
  m['context_length'] ??= t['context_length']!;
  m['vocab_size'] ??= t['vocab_size']!;
  const given = PREPROCESS_KEYS.filter((k) => v[k] !== undefined);
  if (given.length > 0) {
    for (const k of ['image_mean', 'image_std'] as const) {
      if (v[k] === undefined) throw new ConfigError(`${where}: vision_cfg.${k}: required with ${given.map((g) => `vision_cfg.${g}`).join(', ')} (the preprocessing is recorded whole)`);
    }
    v['image_interpolation'] ??= 'bilinear';
    v['image_resize_mode'] ??= 'shortest';
    v['image_background'] ??= WHITE;
    if (v['image_pad_after_resize'] !== undefined && v['image_resize_mode'] !== 'longest') {
      throw new ConfigError(`${where}: vision_cfg.image_pad_after_resize: only with image_resize_mode "longest" (open_clip pads only then); remove it`);
    }
  }
  const config: CocaConfig = {
    embed_dim: top['embed_dim'] as number,
    vision_cfg: pick(v, VISION) as unknown as VisionCfg,
    text_cfg: pick(t, TEXT) as unknown as TextCfg,
    multimodal_cfg: pick(m, MULTIMODAL) as unknown as MultimodalCfg,
  };
  checkRules(config, where);
  return config;
}

const CNN_KEYS = ['cnn_widths', 'cnn_depths', 'cnn_stem_stride', 'cnn_stem_pool'] as const;

/**
 * The token grid's side after the CNN tower's downsampling: the stem (3x3, padding 1), its pool
 * (3x3/2, padding 1) and one 3x3/2 convolution (padding 1) per stage after the first; each maps a
 * side n to ⌊(n − 1) / s⌋ + 1.
 */
export function cnnGrid(imageSize: number, stages: number, stemStride: number, stemPool: boolean): number {
  const down = (n: number, s: number) => Math.floor((n - 1) / s) + 1;
  let n = down(imageSize, stemStride);
  if (stemPool) n = down(n, 2);
  for (let i = 1; i < stages; i++) n = down(n, 2);
  return n;
}

/**
 * A vision_cfg with tower "cnn" checked for its own keys and given the ViT keys the rest of the
 * model reads (see the header), or any other vision_cfg refused its cnn_* keys; the result then
 * goes through the ordinary field checks.
 */
function withCnnDerived(where: string, raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const v = raw as Record<string, unknown>;
  const fail = (key: string, msg: string): never => {
    throw new ConfigError(`${where}: vision_cfg.${key}: ${msg}`);
  };
  if ('tower' in v) checkValue(where, 'vision_cfg.tower', VISION['tower']!, v['tower']);
  if (v['tower'] !== 'cnn') {
    for (const k of CNN_KEYS) if (k in v) fail(k, 'only with "tower": "cnn"; add it or remove this key');
    return raw;
  }
  const out: Record<string, unknown> = { ...v };
  for (const k of CNN_KEYS) if (k in v) out[k] = checkValue(where, `vision_cfg.${k}`, VISION[k]!, v[k]);
  const widths = out['cnn_widths'] as number[] | undefined;
  const depths = out['cnn_depths'] as number[] | undefined;
  if (!widths) fail('cnn_widths', 'required with "tower": "cnn" (channels per stage, e.g. [16, 32, 64])');
  if (!depths) fail('cnn_depths', 'required with "tower": "cnn" (blocks per stage, e.g. [1, 1, 1])');
  if (depths!.length !== widths!.length) fail('cnn_depths', `has ${depths!.length} stages but cnn_widths has ${widths!.length}; give one entry per stage in each`);
  out['cnn_stem_stride'] ??= 1;
  out['cnn_stem_pool'] ??= false;
  if (typeof v['image_size'] !== 'number') return out; // the field checks name it
  const grid = cnnGrid(v['image_size'], widths!.length, out['cnn_stem_stride'] as number, out['cnn_stem_pool'] as boolean);
  const derivedVit: Record<string, number> = {
    width: widths![widths!.length - 1]!,
    patch_size: v['image_size'] / grid,
    layers: depths!.reduce((a, b) => a + b, 0),
    heads: 1,
    mlp_ratio: 4,
  };
  if (!Number.isInteger(derivedVit['patch_size'])) {
    fail('image_size', `${v['image_size']} is not a multiple of the CNN's total downsampling (its feature map is ${grid}x${grid}); use a multiple of ${Math.round(v['image_size'] / grid)}`);
  }
  for (const [k, want] of Object.entries(derivedVit)) {
    if (k in v && v[k] !== want) fail(k, `is derived with "tower": "cnn" (${want} here; see cnn_widths, cnn_depths), got ${describe(v[k])}; remove it`);
    out[k] = want;
  }
  if ('head_width' in v) fail('head_width', 'has no meaning with "tower": "cnn"; remove it');
  return out;
}

const PREPROCESS_KEYS = ['image_mean', 'image_std', 'image_interpolation', 'image_resize_mode', 'image_background', 'image_pad_after_resize', 'image_alpha'] as const;

// Drops compat keys and absent optional ones, and orders the rest as in the field table, so
// configs compare and print alike.
function pick(values: Record<string, unknown>, fields: Record<string, Field>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(fields)) if (!f.compat && values[k] !== undefined) out[k] = values[k];
  return out;
}

function checkRules(c: CocaConfig, where: string): void {
  const { vision_cfg: v, text_cfg: t, multimodal_cfg: m, embed_dim: e } = c;
  const fail = (key: string, msg: string): never => {
    throw new ConfigError(`${where}: ${key}: ${msg}`);
  };
  if (v.image_size % v.patch_size !== 0) fail('vision_cfg.patch_size', `${v.patch_size} does not divide image_size ${v.image_size}`);
  if (v.width % v.heads !== 0) fail('vision_cfg.heads', `${v.heads} does not divide width ${v.width}`);
  if (e % v.attn_pooler_heads !== 0) fail('vision_cfg.attn_pooler_heads', `${v.attn_pooler_heads} does not divide embed_dim ${e}`);
  if (v.attentional_pool === true && v.attn_pooler_queries < 2) {
    fail('vision_cfg.attn_pooler_queries', 'must be at least 2 with attentional_pool true (query 0 is the contrastive token, the rest are image tokens)');
  }
  if (t.width % t.heads !== 0) fail('text_cfg.heads', `${t.heads} does not divide width ${t.width}`);
  if (m.width % m.heads !== 0) fail('multimodal_cfg.heads', `${m.heads} does not divide width ${m.width}`);
  if (t.pad_id >= t.vocab_size) fail('text_cfg.pad_id', `${t.pad_id} is outside the vocabulary (vocab_size ${t.vocab_size})`);
  // The decoder reads pooler outputs (embed_dim wide) and text tokens (text width) unprojected.
  if (m.width !== e) fail('multimodal_cfg.width', `must equal embed_dim (${e}): image tokens feed cross-attention directly`);
  if (t.width !== m.width) fail('text_cfg.width', `must equal multimodal_cfg.width (${m.width}): text tokens feed the decoder directly`);
  if (m.context_length !== t.context_length) fail('multimodal_cfg.context_length', `must equal text_cfg.context_length (${t.context_length})`);
  if (m.vocab_size !== t.vocab_size) fail('multimodal_cfg.vocab_size', `must equal text_cfg.vocab_size (${t.vocab_size})`);
}

/** The config with the vocabulary resized to a tokenizer's, in both text towers. */
export function withVocabSize(c: CocaConfig, vocabSize: number): CocaConfig {
  const out: CocaConfig = {
    ...c,
    text_cfg: { ...c.text_cfg, vocab_size: vocabSize },
    multimodal_cfg: { ...c.multimodal_cfg, vocab_size: vocabSize },
  };
  checkRules(out, 'config');
  return out;
}

/** The preprocessing a config records, or null (presets; checkpoints written before it was recorded). */
export function preprocessOf(c: CocaConfig): ImagePreprocess | null {
  const v = c.vision_cfg;
  if (!v.image_mean || !v.image_std) return null;
  const pre: ImagePreprocess = { size: v.image_size, mean: v.image_mean, std: v.image_std, interpolation: v.image_interpolation ?? 'bilinear', resizeMode: v.image_resize_mode ?? 'shortest', background: v.image_background ?? WHITE };
  if (v.image_pad_after_resize) pre.padAfterResize = v.image_pad_after_resize;
  if (v.image_alpha === 'drop') pre.alpha = 'drop';
  return pre;
}

/** The config with `p` recorded as its preprocessing (p.size must be the model's image_size). */
export function withPreprocess(c: CocaConfig, p: ImagePreprocess): CocaConfig {
  if (p.size !== c.vision_cfg.image_size) throw new ConfigError(`config: vision_cfg.image_size ${c.vision_cfg.image_size} differs from the preprocessing's ${p.size}`);
  const vision_cfg: VisionCfg = { ...c.vision_cfg, image_mean: p.mean, image_std: p.std, image_interpolation: p.interpolation, image_resize_mode: p.resizeMode, image_background: p.background };
  delete vision_cfg.image_pad_after_resize;
  if (p.padAfterResize) vision_cfg.image_pad_after_resize = p.padAfterResize;
  delete vision_cfg.image_alpha;
  if (p.alpha === 'drop') vision_cfg.image_alpha = 'drop';
  return { ...c, vision_cfg };
}
