// The model config of the decoding tests (test/infer/kvcache.test.ts, greedy-device.test.ts): the
// parity micro config with two layers per text stack, room for 12 tokens, head dims of 12 (the
// fused attention path needs multiples of 4).
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig, type CocaConfig } from '../../src/model/config.ts';

export function decodingConfig(): CocaConfig {
  const raw = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8'));
  raw.vision_cfg = { ...raw.vision_cfg, width: 24 };
  raw.text_cfg = { ...raw.text_cfg, layers: 2, context_length: 12 };
  raw.multimodal_cfg = { ...raw.multimodal_cfg, layers: 2, context_length: 12 };
  return parseConfig(raw);
}
