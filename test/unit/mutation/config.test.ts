// Config checks the mutation run (docs/mutation.md) showed untested: each rule of parseConfig
// broken on its own in a small hand-written config, with the one line it must give.
import { describe, expect, it } from 'vitest';
import { parseConfig, preprocessOf, withVocabSize, type CocaConfig } from '../../../src/model/config.ts';
import { ConfigError } from '../../../src/model/errors.ts';

type Raw = { embed_dim: unknown; vision_cfg: Record<string, unknown>; text_cfg: Record<string, unknown>; multimodal_cfg: Record<string, unknown> };

// Valid: vision heads default to 64 / 64 = 1; 8 heads divide 32; embed_dim = decoder width = text width.
const base = (): Raw => ({
  embed_dim: 32,
  vision_cfg: { image_size: 16, patch_size: 4, width: 64, layers: 1 },
  text_cfg: { context_length: 8, vocab_size: 50, width: 32, layers: 1 },
  multimodal_cfg: { width: 32, layers: 1 },
});

function error(raw: unknown): string {
  try {
    parseConfig(raw, 'c.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(raw)}`);
}

const withVision = (v: Record<string, unknown>) => ({ ...base(), vision_cfg: { ...base().vision_cfg, ...v } });
const withText = (t: Record<string, unknown>) => ({ ...base(), text_cfg: { ...base().text_cfg, ...t } });
const withDecoder = (m: Record<string, unknown>) => ({ ...base(), multimodal_cfg: { ...base().multimodal_cfg, ...m } });

describe('parseConfig: values', () => {
  it('names what it got: an object, an array, null, a quoted string, a number', () => {
    expect(error(withVision({ width: {} }))).toBe('c.json: vision_cfg.width: expected a positive integer, got an object');
    expect(error(withVision({ width: [64] }))).toBe('c.json: vision_cfg.width: expected a positive integer, got an array');
    expect(error(withVision({ width: null }))).toBe('c.json: vision_cfg.width: expected a positive integer, got null');
    expect(error(withVision({ width: '64' }))).toBe('c.json: vision_cfg.width: expected a positive integer, got "64"');
    expect(error(withVision({ width: 0 }))).toBe('c.json: vision_cfg.width: expected a positive integer, got 0');
    expect(error(withVision({ width: 6.5 }))).toBe('c.json: vision_cfg.width: expected a positive integer, got 6.5');
  });

  it('pad_id: a non-negative integer, 0 included', () => {
    expect(parseConfig(withText({ pad_id: 0 })).text_cfg.pad_id).toBe(0);
    for (const bad of [-1, 1.5, '1']) expect(error(withText({ pad_id: bad }))).toMatch(/^c\.json: text_cfg\.pad_id: expected a non-negative integer, got /);
  });

  it('mlp_ratio: a positive finite number, fractions included', () => {
    expect(parseConfig(withVision({ mlp_ratio: 2.5 })).vision_cfg.mlp_ratio).toBe(2.5);
    for (const bad of [0, -1, Infinity, '4']) expect(error(withVision({ mlp_ratio: bad }))).toMatch(/^c\.json: vision_cfg\.mlp_ratio: expected a positive number, got /);
  });

  it('image statistics and background: three numbers, std above 0, background 8-bit integers', () => {
    expect(error(withVision({ image_mean: 5, image_std: [1, 1, 1] }))).toBe('c.json: vision_cfg.image_mean: expected three finite numbers, got 5');
    expect(error(withVision({ image_mean: [0, 0, 0], image_std: 'abc' }))).toBe('c.json: vision_cfg.image_std: expected three numbers above 0, got "abc"');
    const stats = { image_mean: [0.5, 0.5, 0.5], image_std: [0.25, 0.25, 0.25] };
    expect(parseConfig(withVision({ ...stats, image_background: [0, 0, 0] })).vision_cfg.image_background).toEqual([0, 0, 0]);
    for (const bad of [[1, 2], 'abc', [-1, 0, 0], [1.5, 0, 0], [0, 0, 256]])
      expect(error(withVision({ ...stats, image_background: bad }))).toBe(`c.json: vision_cfg.image_background: expected three integers 0..255 (8-bit RGB), got ${typeof bad === 'string' ? '"abc"' : 'an array'}`);
  });

  it('the preprocessing is recorded whole: mean and std required, the rest defaulted', () => {
    expect(error(withVision({ image_resize_mode: 'squash', image_background: [1, 2, 3] }))).toBe(
      'c.json: vision_cfg.image_mean: required with vision_cfg.image_resize_mode, vision_cfg.image_background (the preprocessing is recorded whole)',
    );
    const v = parseConfig(withVision({ image_mean: [0.5, 0.5, 0.5], image_std: [0.25, 0.25, 0.25] })).vision_cfg;
    expect([v.image_interpolation, v.image_resize_mode, v.image_background]).toEqual(['bilinear', 'shortest', [255, 255, 255]]);
  });

  it('a config that is not an object is refused as such', () => {
    expect(error(5)).toBe('c.json: config: expected an object, got 5');
    expect(error({ ...base(), text_cfg: 'x' })).toBe('c.json: text_cfg: expected an object, got "x"');
  });

  it('an unknown key lists the known ones, leaving out the accepted-and-dropped open_clip keys', () => {
    expect(error({ ...base(), embed: 3 })).toBe('c.json: embed: unknown key (known: embed_dim, vision_cfg, text_cfg, multimodal_cfg)');
    expect(error(withText({ hieght: 3 }))).toBe('c.json: text_cfg.hieght: unknown key (known: context_length, vocab_size, width, heads, layers, mlp_ratio, pad_id, correct_cls_mask)');
  });

  it('keeps only the keys it knows, without absent optional ones', () => {
    const c = parseConfig(base());
    expect(Object.keys(c.vision_cfg)).toEqual(['image_size', 'patch_size', 'width', 'layers', 'heads', 'mlp_ratio', 'attentional_pool', 'attn_pooler_queries', 'attn_pooler_heads']);
    expect(c.multimodal_cfg).toStrictEqual({ context_length: 8, vocab_size: 50, width: 32, heads: 8, layers: 1, mlp_ratio: 4 });
  });
});

describe('parseConfig: rules between keys', () => {
  it('vision heads: width / head_width when absent, and the two must agree when both are given', () => {
    expect(parseConfig(base()).vision_cfg.heads).toBe(1); // 64 / the default head_width 64
    expect(parseConfig(withVision({ head_width: 16 })).vision_cfg.heads).toBe(4);
    expect(parseConfig(withVision({ heads: 4, head_width: 16 })).vision_cfg.heads).toBe(4);
    expect(error(withVision({ width: 48 }))).toBe('c.json: vision_cfg.heads: missing, and width 48 is not a multiple of head_width 64; set heads');
    expect(error(withVision({ heads: 2, head_width: 16 }))).toBe('c.json: vision_cfg.head_width: 16 × heads 2 ≠ width 64; give one of them');
  });

  it('each head count must divide its width', () => {
    expect(error(withVision({ heads: 3 }))).toBe('c.json: vision_cfg.heads: 3 does not divide width 64');
    expect(error(withVision({ attn_pooler_heads: 5 }))).toBe('c.json: vision_cfg.attn_pooler_heads: 5 does not divide embed_dim 32');
    expect(error(withText({ heads: 5 }))).toBe('c.json: text_cfg.heads: 5 does not divide width 32');
    expect(error(withDecoder({ heads: 5 }))).toBe('c.json: multimodal_cfg.heads: 5 does not divide width 32');
  });

  it("open_clip's pooler needs 2 queries; the cascade pooler takes 1", () => {
    expect(parseConfig(withVision({ attentional_pool: true, attn_pooler_queries: 2 })).vision_cfg.attn_pooler_queries).toBe(2);
    expect(error(withVision({ attentional_pool: true, attn_pooler_queries: 1 }))).toMatch(/^c\.json: vision_cfg\.attn_pooler_queries: must be at least 2 with attentional_pool true/);
    expect(parseConfig(withVision({ attn_pooler_queries: 1 })).vision_cfg.attn_pooler_queries).toBe(1);
  });

  it('the text tower and the decoder agree on width, context and vocabulary', () => {
    expect(error(withText({ width: 64, heads: 8 }))).toBe('c.json: text_cfg.width: must equal multimodal_cfg.width (32): text tokens feed the decoder directly');
    expect(error(withDecoder({ context_length: 9 }))).toBe('c.json: multimodal_cfg.context_length: must equal text_cfg.context_length (8)');
    expect(error(withDecoder({ vocab_size: 51 }))).toBe('c.json: multimodal_cfg.vocab_size: must equal text_cfg.vocab_size (50)');
  });

  it('withVocabSize checks the resized config under the name "config"', () => {
    expect(withVocabSize(parseConfig(base()), 7).multimodal_cfg.vocab_size).toBe(7);
    expect(() => withVocabSize(parseConfig(withText({ pad_id: 5 })), 5)).toThrow('config: text_cfg.pad_id: 5 is outside the vocabulary (vocab_size 5)');
  });
});

describe('preprocessOf', () => {
  const c = parseConfig(base());
  const v = (extra: Partial<CocaConfig['vision_cfg']>): CocaConfig => ({ ...c, vision_cfg: { ...c.vision_cfg, ...extra } });

  it('is null unless both mean and std are recorded', () => {
    expect(preprocessOf(c)).toBeNull();
    expect(preprocessOf(v({ image_mean: [0, 0, 0] }))).toBeNull();
    expect(preprocessOf(v({ image_std: [1, 1, 1] }))).toBeNull();
  });

  it('fills bilinear, shortest side and white for a record that leaves them out', () => {
    expect(preprocessOf(v({ image_mean: [0.1, 0.2, 0.3], image_std: [1, 2, 3] }))).toEqual({
      size: 16, mean: [0.1, 0.2, 0.3], std: [1, 2, 3], interpolation: 'bilinear', resizeMode: 'shortest', background: [255, 255, 255],
    });
    expect(preprocessOf(v({ image_mean: [0, 0, 0], image_std: [1, 1, 1], image_resize_mode: 'squash', image_background: [9, 9, 9] }))).toMatchObject({ resizeMode: 'squash', background: [9, 9, 9] });
  });
});
