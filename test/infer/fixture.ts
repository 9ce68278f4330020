// A small checkpoint and a few pictures for the inference tests: the parity micro config with
// a byte-level BPE learned from a handful of captions, a few AdamW steps on synthetic pairs so
// the weights are not at their initial symmetry, saved as `coca train` saves.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { defaultPreprocess, trainTokenizer } from '../../src/data/index.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { parseConfig, withPreprocess } from '../../src/model/config.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';

export const CAPTIONS = ['a red square', 'a blue circle', 'a green triangle', 'a dog on a surfboard', 'a person surfing a wave', 'a cat on a mat', 'two birds in the sky', 'a yellow star'];

/** CAPTIONS in Russian and Chinese, for a multilingual checkpoint's tokenizer. */
export const CAPTIONS_RU = ['красный квадрат', 'синий круг', 'зелёный треугольник', 'собака на доске для серфинга', 'человек на волне', 'кошка на коврике', 'две птицы в небе', 'жёлтая звезда'];
export const CAPTIONS_ZH = ['红色方块', '蓝色圆圈', '绿色三角形', '冲浪板上的狗', '冲浪的人', '垫子上的猫', '天上的两只鸟', '黄色星星'];

/** With `languages`, the tokenizer is learned on the captions in en, ru and zh and has those language tokens. */
export async function makeCheckpoint(gpu: Gpu, dir: string, seed = 3, steps = 3, languages?: string[]): Promise<void> {
  const tok = languages ? trainTokenizer([...CAPTIONS, ...CAPTIONS_RU, ...CAPTIONS_ZH], 420, languages) : trainTokenizer(CAPTIONS, 300);
  const raw = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8'));
  raw.vision_cfg = { ...raw.vision_cfg, width: 24 };
  raw.text_cfg = { ...raw.text_cfg, vocab_size: tok.vocabSize, context_length: 12 };
  raw.multimodal_cfg = { ...raw.multimodal_cfg, vocab_size: tok.vocabSize, context_length: 12 };
  // As coca train writes it: the preprocessing recorded in the config (CLIP's, a centre crop).
  const config = parseConfig(raw);
  const model = CocaModel.init(gpu, withPreprocess(config, defaultPreprocess(config.vision_cfg.image_size)), seed);
  const opt = new AdamW(gpu, model.params, { lr: 1e-3 });
  const inp = model.prepare(syntheticBatch(model, 4, new Rng(seed)));
  for (let i = 0; i < steps; i++) await trainStep(model, opt, inp);
  await saveCheckpoint(dir, model, { tokenizerJson: JSON.stringify(tok.json) });
  inp.release();
  opt.release();
  model.params.release();
}

/** Pictures of several sizes and formats, plus a corrupt one; returns their paths. */
export async function makePictures(dir: string): Promise<{ red: string; blue: string; wide: string; svg: string; corrupt: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const red = path.join(dir, 'red.png');
  const blue = path.join(dir, 'blue.jpg');
  const wide = path.join(dir, 'wide.webp');
  const svg = path.join(dir, 'star.svg');
  const corrupt = path.join(dir, 'corrupt.png');
  await sharp({ create: { width: 16, height: 16, channels: 3, background: '#e02020' } }).png().toFile(red);
  await sharp({ create: { width: 40, height: 30, channels: 3, background: '#2040e0' } }).jpeg().toFile(blue);
  await sharp({ create: { width: 97, height: 23, channels: 4, background: { r: 30, g: 200, b: 60, alpha: 0.5 } } }).webp().toFile(wide);
  fs.writeFileSync(svg, '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50"><polygon points="25,2 31,18 48,18 34,29 39,46 25,36 11,46 16,29 2,18 19,18" fill="gold"/></svg>');
  fs.writeFileSync(corrupt, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a png')]));
  return { red, blue, wide, svg, corrupt };
}
