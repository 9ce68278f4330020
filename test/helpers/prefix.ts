// A coca checkpoint to freeze under a prefix captioner, written without training: an untrained
// nano (or nano-cnn) CoCa with the built-in set's tokenizer and preprocessing. Its tower's
// features differ from picture to picture, which is all a prefix captioner needs to tell a
// handful of pairs apart.
import { defaultPreprocess, loadTokenizer, measuredStats } from '../../src/data/index.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { loadConfig, withPreprocess } from '../../src/model/config.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';

export async function writeCocaCheckpoint(gpu: Gpu, dir: string, o: { config?: string; seed?: number } = {}): Promise<void> {
  const tokenizer = loadTokenizer('builtin-small');
  const base = loadConfig(o.config ?? 'nano');
  const config = withPreprocess({ ...base, text_cfg: { ...base.text_cfg, vocab_size: tokenizer.vocabSize }, multimodal_cfg: { ...base.multimodal_cfg, vocab_size: tokenizer.vocabSize } }, defaultPreprocess(base.vision_cfg.image_size, measuredStats('builtin-small')));
  const model = CocaModel.init(gpu, config, o.seed ?? 5);
  try {
    await saveCheckpoint(dir, model, { tokenizerJson: JSON.stringify(tokenizer.json) });
  } finally {
    model.params.release();
  }
}
