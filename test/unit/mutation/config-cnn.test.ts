// The CNN tower's config rules (src/model/config-schema.ts, withCnnDerived) and loadConfig's
// unknown-name line, in the cases the ninth mutation pass found untested: each cnn_* key checked
// by its kind, the required keys, the defaults, the derived ViT fields and what is refused, with
// the grid worked by hand from cnnGrid's rule (⌊(n − 1) / s⌋ + 1 per downsampling).
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/model/config.ts';
import { ConfigError } from '../../../src/model/errors.ts';

const text = { context_length: 32, vocab_size: 1024, width: 64, heads: 2, layers: 1, mlp_ratio: 4, pad_id: 0 };
const multimodal = { context_length: 32, vocab_size: 1024, width: 64, heads: 2, layers: 1, mlp_ratio: 4 };
const vision = { image_size: 32, tower: 'cnn', cnn_widths: [16, 32, 64], cnn_depths: [1, 2, 1], attentional_pool: 'cascade', attn_pooler_queries: 16, attn_pooler_heads: 2 };
const config = (v: Record<string, unknown>) => ({ embed_dim: 64, vision_cfg: v, text_cfg: text, multimodal_cfg: multimodal });
const parse = (v: Record<string, unknown>) => parseConfig(config(v), 'c');
const refused = (v: Record<string, unknown>, message: string) => expect(() => parse(v)).toThrow(new ConfigError(message));

describe('vision_cfg with "tower": "cnn"', () => {
  it('derives the ViT fields: width the last stage, layers the blocks, patch the image over the grid; stride 1 and no pool by default', () => {
    // 32 px, stride 1, no pool: 32; two more stages: ⌊31/2⌋+1 = 16, ⌊15/2⌋+1 = 8. Patch 32/8 = 4.
    const c = parse(vision);
    expect(c.vision_cfg).toMatchObject({ width: 64, layers: 4, patch_size: 4, heads: 1, mlp_ratio: 4, cnn_stem_stride: 1, cnn_stem_pool: false });
    // With the stem's pool: 32 → 16 → 8 → 4, patch 8.
    expect(parse({ ...vision, cnn_stem_pool: true }).vision_cfg).toMatchObject({ patch_size: 8, cnn_stem_pool: true });
  });

  it('checks each cnn_* key by its kind', () => {
    refused({ ...vision, cnn_stem_pool: 'yes' }, 'c: vision_cfg.cnn_stem_pool: expected true or false, got "yes"');
    refused({ ...vision, cnn_widths: 5 }, 'c: vision_cfg.cnn_widths: expected a non-empty array of positive integers, got 5');
    refused({ ...vision, cnn_widths: [], cnn_depths: [] }, 'c: vision_cfg.cnn_widths: expected a non-empty array of positive integers, got an array');
  });

  it('requires cnn_widths and cnn_depths', () => {
    const { cnn_depths: _d, ...noDepths } = vision;
    refused(noDepths, 'c: vision_cfg.cnn_depths: required with "tower": "cnn" (blocks per stage, e.g. [1, 1, 1])');
  });

  it('an image size the grid does not divide, named with a size that fits', () => {
    // 30 px: 30 → 15 → 8; 30 / 8 is not whole; round(30 / 8) = 4.
    refused({ ...vision, image_size: 30 }, "c: vision_cfg.image_size: 30 is not a multiple of the CNN's total downsampling (its feature map is 8x8); use a multiple of 4");
  });

  it('without an image size, the field check names it (not the derivation)', () => {
    const { image_size: _s, ...noSize } = vision;
    expect(() => parse(noSize)).toThrow(/^c: vision_cfg\.image_size: required/);
  });

  it('refuses head_width, which the CNN tower has no use for', () => {
    refused({ ...vision, head_width: 16 }, 'c: vision_cfg.head_width: has no meaning with "tower": "cnn"; remove it');
  });
});

describe('loadConfig', () => {
  it('an unknown name lists the presets and bundled configs, comma-separated', () => {
    expect(() => loadConfig('no-such-config')).toThrow(/^config no-such-config: no such preset or file \(presets: nano, tiny, [a-z0-9, ]+; bundled configs: nano-cnn\)$/);
  });
});
