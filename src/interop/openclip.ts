// open_clip's CoCa in and out of coca. coca's parameters already carry open_clip's state-dict names
// and shapes (attentional_pool true; docs/model.md), so importing is reading the state dict in
// whichever file format, checking every name, shape and dtype against the config, and writing a
// coca checkpoint folder; exporting is the reverse plus open_clip's open_clip_config.json.
//
// The text mask: open_clip runs CoCa's text tower with its legacy mask (correct_cls_mask False,
// not a config option there), and its published checkpoints were trained so; an import records
// text_cfg.correct_cls_mask false so coca computes the same. configs/ holds open_clip's own
// coca_ViT-B-32.json and coca_ViT-L-14.json (MIT, as open_clip ships them).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Triple } from '../data/augment.ts';
import { CLIP_MEAN, CLIP_STD } from '../data/augment.ts';
import { INTERPOLATIONS, RESIZE_MODES, type Interpolation, type ResizeMode } from '../data/preprocess.ts';
import { clipTokenizer } from '../data/tokenizer.ts';
import { readCheckpointConfig, readCheckpointTokenizer } from '../model/checkpoint.ts';
import { verifyCheckpoint, writeCheckpointFolder, type CheckpointFile } from '../model/checkpoint-folder.ts';
import { parseConfig, type CocaConfig } from '../model/config.ts';
import { ConfigError } from '../model/errors.ts';
import { clampLogitScale } from '../model/loss.ts';
import { checkpointPreprocess } from '../model/preprocess.ts';
import { readSafetensors, type TensorIn } from '../model/safetensors.ts';
import { parameterShapes } from '../model/shapes.ts';
import { checkOutputFolder, OUTPUT_MARKER } from '../util/outdir.ts';
import { InteropError } from './errors.ts';
import { readStateDict, type StateDict } from './state-dict.ts';

export const OPENCLIP_CONFIGS = ['coca_ViT-B-32', 'coca_ViT-L-14'] as const;
const CONFIG_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'configs');
/** What a hub download holds, in the order a folder is searched. */
const CHECKPOINT_NAMES = ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin'];
const HUB_CONFIG = 'open_clip_config.json';
const CLIP_VOCAB = 49408;
const OPENCLIP_DECODER_MLP_RATIO = 4;
export const IMPORT_COMMAND = 'coca import open_clip';
export const EXPORT_COMMAND = 'coca export open_clip';

interface OpenClipPreprocess {
  mean?: number[];
  std?: number[];
  interpolation?: string;
  resize_mode?: string;
  fill_color?: unknown;
}

/** An open_clip model config and, when known, its preprocessing (open_clip_config.json's preprocess_cfg). */
interface OpenClipConfig {
  model: Record<string, unknown>;
  preprocess?: OpenClipPreprocess;
  where: string;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new InteropError(`${file}: not readable JSON (${(e as Error).message.split('\n')[0]}); pass an open_clip model config`);
  }
}

/** A config file: open_clip's model config, or a hub open_clip_config.json ({model_cfg, preprocess_cfg}). */
function readOpenClipConfig(file: string, where = file): OpenClipConfig {
  const raw = readJson(file);
  if (raw['model_cfg'] && typeof raw['model_cfg'] === 'object') return { model: raw['model_cfg'] as Record<string, unknown>, preprocess: raw['preprocess_cfg'] as OpenClipPreprocess | undefined, where };
  return { model: raw, where };
}

function namedConfig(name: string): OpenClipConfig {
  return readOpenClipConfig(path.join(CONFIG_DIR, `${name}.json`), name);
}

/** coca's config of an open_clip CoCa config: its own keys, open_clip's text mask, the preprocessing. */
export function cocaConfigOf(oc: OpenClipConfig, notes: string[]): CocaConfig {
  const m = structuredClone(oc.model) as Record<string, Record<string, unknown>>;
  if (!m['multimodal_cfg']) throw new InteropError(`${oc.where} is not a CoCa config (no multimodal_cfg): coca imports open_clip's CoCa models only`);
  for (const k of ['vision_cfg', 'text_cfg']) if (typeof m[k] !== 'object' || m[k] === null) throw new InteropError(`${oc.where}: ${k} is missing; pass an open_clip CoCa config`);
  const p = oc.preprocess ?? {};
  const resize = p.resize_mode ?? 'shortest';
  if (!(RESIZE_MODES as readonly string[]).includes(resize)) throw new InteropError(`${oc.where}: preprocess resize_mode ${JSON.stringify(resize)} is not one coca has (${RESIZE_MODES.join(', ')})`);
  let interpolation = p.interpolation ?? 'bicubic';
  if (!(INTERPOLATIONS as readonly string[]).includes(interpolation)) {
    notes.push(`open_clip resizes its pictures ${interpolation}, which coca lacks; imported with bicubic, so inputs differ slightly where pictures are scaled`);
    interpolation = 'bicubic';
  }
  // image_alpha: open_clip's transform starts with convert('RGB'), which drops transparency.
  m['vision_cfg'] = { ...m['vision_cfg'], image_mean: (p.mean ?? CLIP_MEAN) as Triple, image_std: (p.std ?? CLIP_STD) as Triple, image_interpolation: interpolation as Interpolation, image_resize_mode: resize as ResizeMode, image_alpha: 'drop' };
  if (resize === 'longest') {
    // open_clip resizes keeping the ratio, then pads with fill_color (coca's own `longest` pads first).
    m['vision_cfg']['image_pad_after_resize'] = fillColorOf(p.fill_color, oc.where);
    if (interpolation === 'bilinear') notes.push(`open_clip resizes bilinear (Pillow's) and then pads; coca's bilinear is its own resampler and pads first, so inputs differ slightly along the padded border`);
  }
  m['text_cfg'] = { ...m['text_cfg'], correct_cls_mask: false };
  // open_clip builds the decoder without passing multimodal_cfg.mlp_ratio: its MLPs are always 4 wide.
  const mmRatio = (m['multimodal_cfg'] as Record<string, unknown>)['mlp_ratio'];
  if (mmRatio !== undefined && mmRatio !== OPENCLIP_DECODER_MLP_RATIO) notes.push(`${oc.where} says multimodal_cfg.mlp_ratio ${String(mmRatio)}, which open_clip ignores (its decoder's MLPs are always ${OPENCLIP_DECODER_MLP_RATIO}× wide); imported as ${OPENCLIP_DECODER_MLP_RATIO}`);
  m['multimodal_cfg'] = { ...m['multimodal_cfg'], mlp_ratio: OPENCLIP_DECODER_MLP_RATIO };
  try {
    return parseConfig(m, oc.where);
  } catch (e) {
    if (e instanceof ConfigError) throw new InteropError(`${e.message.split('\n')[0]} (coca runs open_clip's CoCa with a ViT image tower and its own text towers only)`);
    throw e;
  }
}

/** open_clip's fill_color (an int for all three channels, default 0, or an RGB list) as RGB. */
function fillColorOf(fill: unknown, where: string): Triple {
  if (fill === undefined || fill === null) return [0, 0, 0];
  const byte = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 255;
  if (byte(fill)) return [fill, fill, fill] as unknown as Triple;
  if (Array.isArray(fill) && fill.length === 3 && fill.every(byte)) return [...fill] as unknown as Triple;
  throw new InteropError(`${where}: preprocess fill_color ${JSON.stringify(fill)} is not an integer 0..255 nor three of them; fix it in the config`);
}

/** Where the checkpoint and its hub config are, for a file or a downloaded folder. */
function locate(src: string): { file: string; hubConfig: string | null } {
  if (!fs.existsSync(src)) throw new InteropError(`${src}: no such file or folder; pass open_clip's checkpoint file or the folder it was downloaded to`);
  if (fs.statSync(src).isDirectory()) {
    const names = fs.readdirSync(src);
    const found = CHECKPOINT_NAMES.find((n) => names.includes(n)) ?? (() => {
      const any = names.filter((n) => /\.(safetensors|bin|pt)$/.test(n));
      return any.length === 1 ? any[0] : undefined;
    })();
    if (!found) throw new InteropError(`${src} holds no ${CHECKPOINT_NAMES.join(' or ')} (nor a single .safetensors/.bin/.pt file); pass the checkpoint file itself`);
    const hub = path.join(src, HUB_CONFIG);
    return { file: path.join(src, found), hubConfig: fs.existsSync(hub) ? hub : null };
  }
  const hub = path.join(path.dirname(src), HUB_CONFIG);
  return { file: src, hubConfig: fs.existsSync(hub) ? hub : null };
}

/** What of the state dict does not fit `config`, in one phrase; null when every name, shape and count agree. */
function mismatch(sd: StateDict, config: CocaConfig): string | null {
  const want = parameterShapes(config);
  const names = new Set(want.map((s) => s.name));
  const missing = want.filter((s) => !sd.has(s.name)).map((s) => s.name);
  const extra = [...sd.keys()].filter((n) => !names.has(n));
  const problems: string[] = [];
  if (missing.length) problems.push(`${missing.length} of its tensors missing (e.g. ${missing[0]})`);
  if (extra.length) problems.push(`${extra.length} tensors it does not have (e.g. ${extra[0]})`);
  if (problems.length) return problems.join(' and ');
  for (const s of want) {
    const got = sd.get(s.name)!.shape;
    if (got.join() !== s.shape.join()) return `${s.name} is [${got.join(', ')}] where it has [${s.shape.join(', ')}]`;
  }
  return null;
}

export interface ImportResult {
  config: CocaConfig;
  configFrom: string;
  file: string;
  tensors: number;
  params: number;
  dtypes: string[];
  tokenizer: 'clip' | null;
  notes: string[];
}

/**
 * Reads open_clip's checkpoint `src` (a file, or the folder a hub download made) and writes a coca
 * checkpoint folder `out`. `config`: one of OPENCLIP_CONFIGS or a JSON file; by default the
 * download's open_clip_config.json, else whichever known config the tensors fit. Nothing is
 * written unless every check passes.
 */
export function importOpenClip(src: string, out: string, config?: string): ImportResult {
  const outDir = checkOutputFolder(out, IMPORT_COMMAND, { inputs: [src] });
  const { file, hubConfig } = locate(src);
  const sd = readStateDict(file);
  const notes: string[] = [];
  let oc: OpenClipConfig | null = null;
  if (config) oc = (OPENCLIP_CONFIGS as readonly string[]).includes(config) ? namedConfig(config) : fs.existsSync(config) ? readOpenClipConfig(config) : null;
  if (config && !oc) throw new InteropError(`--config ${config}: no such file, nor one of ${OPENCLIP_CONFIGS.join(', ')}`);
  if (!oc && hubConfig) oc = readOpenClipConfig(hubConfig);
  let cfg: CocaConfig;
  if (oc) {
    cfg = cocaConfigOf(oc, notes);
    const bad = mismatch(sd, cfg);
    if (bad) throw new InteropError(`${file} is not a checkpoint of ${oc.where}: ${bad}; it is another architecture: pass the --config it was trained with`);
  } else {
    const fits = OPENCLIP_CONFIGS.map((n) => namedConfig(n)).find((c) => mismatch(sd, cocaConfigOf(c, [])) === null);
    if (!fits) throw new InteropError(`${file} fits none of ${OPENCLIP_CONFIGS.join(', ')} and has no ${HUB_CONFIG} beside it; pass the model config it was trained with as --config file.json`);
    oc = fits;
    cfg = cocaConfigOf(oc, notes);
  }
  const tensors = new Map<string, TensorIn>();
  let params = 0;
  const dtypes = new Set<string>();
  for (const s of parameterShapes(cfg)) {
    const t = sd.get(s.name)!;
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new InteropError(`${file}: tensor "${s.name}" holds ${t.data[bad]} (element ${bad}); the weights are broken: download them again`);
    dtypes.add(t.dtype);
    params += t.data.length;
    tensors.set(s.name, { shape: t.shape, data: s.name === 'logit_scale' ? Float32Array.from(t.data, clampLogitScale) : t.data });
  }
  const files: CheckpointFile[] = [
    { name: 'model.safetensors', tensors, metadata: { format: 'coca-1', config: JSON.stringify(cfg), source: `open_clip ${path.basename(file)}` } },
    { name: 'config.json', text: JSON.stringify(cfg, null, 2) + '\n' },
  ];
  let tokenizer: 'clip' | null = null;
  if (cfg.text_cfg.vocab_size === CLIP_VOCAB) {
    files.push({ name: 'tokenizer.json', text: JSON.stringify(clipTokenizer().json) });
    tokenizer = 'clip';
  } else notes.push(`its vocabulary (${cfg.text_cfg.vocab_size} tokens) is not CLIP's, so no tokenizer.json was written: add the one it was trained with`);
  files.push({ name: OUTPUT_MARKER, text: JSON.stringify({ command: IMPORT_COMMAND, from: path.resolve(file), at: new Date().toISOString() }) + '\n' });
  writeCheckpointFolder(outDir, files);
  return { config: cfg, configFrom: oc.where, file, tensors: tensors.size, params, dtypes: [...dtypes], tokenizer, notes };
}

/** open_clip's model config for a coca config (open_clip's key names; its CoCa layout only). */
export function openClipModelConfig(c: CocaConfig): Record<string, unknown> {
  const v = c.vision_cfg;
  const t = c.text_cfg;
  const m = c.multimodal_cfg;
  return {
    embed_dim: c.embed_dim,
    vision_cfg: { image_size: v.image_size, layers: v.layers, width: v.width, patch_size: v.patch_size, head_width: v.width / v.heads, mlp_ratio: v.mlp_ratio, attentional_pool: true, attn_pooler_queries: v.attn_pooler_queries, attn_pooler_heads: v.attn_pooler_heads, output_tokens: true },
    text_cfg: { context_length: t.context_length, vocab_size: t.vocab_size, width: t.width, heads: t.heads, layers: t.layers, mlp_ratio: t.mlp_ratio, pad_id: t.pad_id, embed_cls: true, output_tokens: true },
    multimodal_cfg: { context_length: m.context_length, vocab_size: m.vocab_size, width: m.width, heads: m.heads, layers: m.layers, mlp_ratio: m.mlp_ratio },
    custom_text: true,
  };
}

export interface ExportResult {
  tensors: number;
  notes: string[];
}

/**
 * Writes coca checkpoint `dir` as a folder open_clip loads: open_clip_model.safetensors (its
 * state dict, strict) and open_clip_config.json ({model_cfg, preprocess_cfg}), plus the
 * tokenizer.json. The cascade pooler has no open_clip twin and is refused.
 */
export function exportOpenClip(dir: string, out: string): ExportResult {
  const outDir = checkOutputFolder(out, EXPORT_COMMAND, { inputs: [dir] });
  verifyCheckpoint(dir);
  const config = readCheckpointConfig(dir);
  if (config.vision_cfg.tower === 'cnn') {
    throw new InteropError(`${dir} has coca's CNN image tower (vision_cfg.tower "cnn"), which open_clip's CoCa cannot build; only ViT models export to open_clip`);
  }
  if (config.vision_cfg.attentional_pool !== true) {
    throw new InteropError(`${dir} uses coca's cascade pooler (attentional_pool "cascade"), which open_clip has no twin of; train with open_clip's layout (--config b32, or attentional_pool true in your config) to continue a run in open_clip`);
  }
  if (config.multimodal_cfg.mlp_ratio !== OPENCLIP_DECODER_MLP_RATIO) {
    throw new InteropError(`${dir} has a decoder MLP ratio of ${config.multimodal_cfg.mlp_ratio}; open_clip's CoCa decoder is always built with ${OPENCLIP_DECODER_MLP_RATIO}, so it cannot load this model: train with multimodal_cfg.mlp_ratio ${OPENCLIP_DECODER_MLP_RATIO}`);
  }
  const notes: string[] = [];
  const pre = checkpointPreprocess(dir, config, (l) => notes.push(l.replace(/^coca: /, '')));
  const file = path.join(dir, 'model.safetensors');
  const st = readSafetensors(file);
  const tensors = new Map<string, TensorIn>();
  for (const s of parameterShapes(config)) {
    const t = st.tensors.get(s.name);
    if (!t || !(t.data instanceof Float32Array)) throw new InteropError(`${file}: tensor "${s.name}" is missing or not F32; the checkpoint is damaged: use another one`);
    tensors.set(s.name, { shape: t.shape, data: t.data });
  }
  if (config.text_cfg.correct_cls_mask !== false) {
    notes.push("open_clip computes CoCa's text tower with its legacy mask (the key right of each pad token masked, not the pad); this model was trained with the correct one, so in open_clip its text embeddings of padded captions differ a little until fine-tuned there");
  }
  const tokenizer = readCheckpointTokenizer(dir, config);
  if (tokenizer && tokenizer.kind !== 'clip') notes.push(`its tokenizer is coca's own BPE (${tokenizer.vocabSize} tokens), not CLIP's: tokenizer.json is written beside it; give it to open_clip as a Hugging Face tokenizer`);
  // open_clip pads `longest` after resizing, with fill_color (unused by its other modes: left at its
  // default 0). coca's own `longest` pads with the background first, which open_clip cannot do:
  // written as its nearest (the background as fill_color) with a note, since refusing would leave
  // every model trained on the built-in set (`longest` by default) unexportable.
  const fill: Triple = pre.resizeMode !== 'longest' ? [0, 0, 0] : pre.padAfterResize ?? pre.background;
  if (pre.resizeMode === 'longest' && !pre.padAfterResize) notes.push(`this model pads pictures with ${pre.background.join(' ')} and then resizes them (coca's "longest"); open_clip resizes first and then pads (fill_color ${pre.background.join(' ')} written), so there its inputs differ along the padded border`);
  if (pre.alpha !== 'drop') notes.push(`this model sees transparent pictures flattened on ${pre.background.join(' ')}; open_clip drops transparency (convert('RGB')), so there a picture with transparency gives other inputs`);
  const preprocess_cfg = { size: [pre.size, pre.size], mode: 'RGB', mean: pre.mean, std: pre.std, interpolation: pre.interpolation, resize_mode: pre.resizeMode, fill_color: fill[0] === fill[1] && fill[1] === fill[2] ? fill[0] : fill };
  const files: CheckpointFile[] = [
    { name: 'open_clip_model.safetensors', tensors, metadata: { format: 'pt' } },
    { name: 'open_clip_config.json', text: JSON.stringify({ model_cfg: openClipModelConfig(config), preprocess_cfg }, null, 2) + '\n' },
  ];
  if (tokenizer) files.push({ name: 'tokenizer.json', text: JSON.stringify(tokenizer.json) });
  files.push({ name: OUTPUT_MARKER, text: JSON.stringify({ command: EXPORT_COMMAND, from: path.resolve(dir), at: new Date().toISOString() }) + '\n' });
  writeCheckpointFolder(outDir, files);
  return { tensors: tensors.size, notes };
}
