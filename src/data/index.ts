/**
 * coca's data layer: the built-in image–text set, readers for users' datasets, the tokenizer and
 * the batch loader. What training calls:
 *
 *   import { loadDataset, loadTokenizer, BatchLoader } from '../data/index.ts';
 *   const ds = await loadDataset('builtin-small', { split: 'train', imageSize: 32 });
 *   //   'builtin' | 'builtin-small' | a built dataset folder | a user dataset (folder or file)
 *   const tok = loadTokenizer('builtin-small');            // tokenizer.json stored with the set
 *   const pre = defaultPreprocess(32, measuredStats('builtin-small'));  // or the model's: preprocessOf(config)
 *   const loader = new BatchLoader(ds, { batchSize: 64, contextLength: 32, tokenizer: tok, preprocess: pre, seed: 1 });
 *   const b = await loader.next();
 *   //   b.images: Float32Array [rows, 3, S, S], (v/255 - pre.mean[c]) / pre.std[c]
 *   //   b.tokens: Int32Array [rows, contextLength]: tok.bosId ([SOT]=1), ids, tok.eosId ([EOT]=2), tok.padId (0)...
 *   const saved = loader.state();  // {seed, epoch, index}: store it in the checkpoint
 *   loader.restore(saved);         // the same batches follow as in an uninterrupted run
 *
 *   await loader.close();          // stops its worker threads, if it has any
 *
 * Training loaders (`train: true`, the default) shuffle per epoch, draw a random resized crop and
 * flip, pick one caption per image, and drop the short last batch. Evaluation loaders
 * (`train: false`) keep file order, the whole image (centre crop for photos) and the first
 * caption, and end each pass with a shorter batch flagged `last`.
 *
 * Images are prepared `prefetch` batches ahead, on this thread between awaits or, with
 * `workers: N` (default: none below 4 cores, where lavapipe needs them), in N worker threads;
 * both paths give identical batches. A picture that cannot be decoded is replaced by the next
 * item in training and left out in evaluation, counted (decodeSummary(): one line with the first
 * paths), or stops the loader with `strict: true`.
 *
 * Preprocessing (preprocess.ts) is the model's, never the dataset's: size, resize mode,
 * interpolation, background and mean/std come from the model config (vision_cfg.image_*), and
 * the same picture gives the same input whether it is read from a built set or from a file. The
 * built-in sets' own train-split mean/std (manifest.json) are only the default a new model
 * trained on them records; users' datasets default to CLIP's (CLIP_MEAN, CLIP_STD).
 *
 * Tokenizer: byte-level BPE in Hugging Face tokenizer.json form; lower-cases (NFKC) the text;
 * `encode(text, contextLength)` truncates keeping [EOT] last; `decode` stops at [EOT] and returns
 * the normalised text; `vocabSize` counts the specials.
 */
export { CLIP_MEAN, CLIP_STD, DEFAULT_AUGMENT, type AugmentConfig, type Triple } from './augment.ts';
export { AUGMENT_ITEMS, augmentConfig, formatAugmentSpec, parseAugmentSpec } from './augment-spec.ts';
export { buildBuiltin, PRESETS, type BuildPreset } from './builtin/build.ts';
export type { Dataset, ItemMeta } from './dataset.ts';
export type { RgbImage } from './image.ts';
export { DataError } from './errors.ts';
export { loadDataset, listSplits, loadTokenizer, measuredStats, resolveDataPath, type LoadOptions } from './load.ts';
export { checkStats, defaultPreprocess, describePreprocess, fitOf, INTERPOLATIONS, RESIZE_MODES, WHITE, type ImagePreprocess, type Interpolation, type ResizeMode } from './preprocess.ts';
export { BatchLoader, defaultWorkers, type Batch, type BatchLoaderOptions, type LoaderState, type StreamPosition } from './loader.ts';
export { DEFAULT_SHUFFLE_BUFFER, openShardTrainLoader, ShardLoader, type ShardLoaderOptions } from './shard-loader.ts';
export { isShardData } from './load.ts';
export { builtinDir, cacheRoot } from './paths.ts';
export { readUserDataset, detectFormat, KNOWN_FORMATS } from './readers/index.ts';
export { normaliseCaption } from './text.ts';
export { DEFAULT_LANGUAGE, detectLanguage, LANGUAGE_NAMES, LANGUAGES } from './lang.ts';
export { EOT, PAD, SOT, Tokenizer, trainTokenizer } from './tokenizer.ts';
