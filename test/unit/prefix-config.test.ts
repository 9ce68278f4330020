// The prefix captioner's config (no GPU): defaults filled, each mistake one line naming the key,
// the encoder record checked; its parameter list (the tower as buffers under coca's names, the
// mapping and LM trained); the next-token targets, batch-major, pads ignored.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPrefixConfig, parsePrefixConfig, type PrefixConfig } from '../../src/model/captioners/prefix-config.ts';
import { prefixParameterShapes, prefixTargets } from '../../src/model/captioners/prefix.ts';
import { parseConfig } from '../../src/model/config.ts';
import { parameterShapes } from '../../src/model/shapes.ts';
import { IGNORE_INDEX } from '../../src/tensor/ids.ts';

const mapping_cfg = { prefix_len: 3, hidden: 13 };
const decoder_cfg = { context_length: 7, vocab_size: 37, width: 20, heads: 2, layers: 2 };
const encoderConfig = () => parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')));

describe('prefix config', () => {
  it('fills mlp_ratio and pad_id, and the nano preset parses', () => {
    const c = parsePrefixConfig({ arch: 'prefix', mapping_cfg, decoder_cfg });
    expect(c.decoder_cfg).toEqual({ ...decoder_cfg, mlp_ratio: 4, pad_id: 0 });
    expect(c.encoder).toBeUndefined();
    expect(loadPrefixConfig('nano').mapping_cfg).toEqual({ prefix_len: 4, hidden: 128 });
  });

  it.each([
    [{ arch: 'sat', mapping_cfg, decoder_cfg }, 'cfg: arch: expected "prefix", got "sat"'],
    [{ arch: 'prefix', mapping_cfg, decoder_cfg, vision_cfg: {} }, 'cfg: vision_cfg: unknown key (known: arch, mapping_cfg, decoder_cfg, encoder)'],
    [{ arch: 'prefix', decoder_cfg }, 'cfg: mapping_cfg: required section is missing'],
    [{ arch: 'prefix', mapping_cfg: { prefix_len: 0, hidden: 4 }, decoder_cfg }, 'cfg: mapping_cfg.prefix_len: expected an integer ≥ 1, got 0'],
    [{ arch: 'prefix', mapping_cfg, decoder_cfg: { ...decoder_cfg, heads: 3 } }, 'cfg: decoder_cfg.width 20 is not divisible by heads 3'],
    [{ arch: 'prefix', mapping_cfg, decoder_cfg: { ...decoder_cfg, dropout: 0.1 } }, 'cfg: decoder_cfg.dropout: unknown key (known: context_length, vocab_size, width, heads, layers, mlp_ratio, pad_id)'],
    [{ arch: 'prefix', mapping_cfg, decoder_cfg: { ...decoder_cfg, pad_id: 37 } }, 'cfg: decoder_cfg.pad_id: 37 is outside the vocabulary (vocab_size 37)'],
    [{ arch: 'prefix', mapping_cfg, decoder_cfg, encoder: { source: 'x', sha256: 'abc', feature: 'contrastive', config: {} } }, 'cfg: encoder.sha256: expected a sha256 in hex, got "abc"'],
    [{ arch: 'prefix', mapping_cfg, decoder_cfg, encoder: { source: 'x', sha256: '0'.repeat(64), feature: 'tokens', config: {} } }, 'cfg: encoder.feature: expected "contrastive", got "tokens"'],
  ])('%j is refused in one line', (raw, line) => {
    expect(() => parsePrefixConfig(raw, 'cfg')).toThrow(line);
  });

  it('a file of another arch is named as such', () => {
    expect(() => loadPrefixConfig(path.join(import.meta.dirname, '..', 'fixtures', 'lstm_micro_sat.json'))).toThrow('is a sat config, not prefix; drop --arch or give a prefix config');
  });
});

describe('prefix parameters', () => {
  it("are the coca tower's visual.* as buffers (no decay), then the mapping and LM, trained", () => {
    const enc = encoderConfig();
    const c: PrefixConfig = { ...parsePrefixConfig({ arch: 'prefix', mapping_cfg, decoder_cfg }), encoder: { source: 's', sha256: '0'.repeat(64), feature: 'contrastive', config: enc } };
    const specs = prefixParameterShapes(c);
    const tower = parameterShapes(enc).filter((s) => s.name.startsWith('visual.'));
    expect(specs.slice(0, tower.length).map((s) => [s.name, s.shape, s.buffer, s.decay])).toEqual(tower.map((s) => [s.name, s.shape, true, false]));
    const rest = specs.slice(tower.length);
    expect(rest.every((s) => !s.buffer && !s.name.startsWith('visual.'))).toBe(true);
    const shape = (n: string) => rest.find((s) => s.name === n)?.shape;
    expect(shape('mapping.c_fc.weight')).toEqual([13, 24]);
    expect(shape('mapping.c_proj.weight')).toEqual([3 * 20, 13]);
    expect(shape('lm.positional_embedding')).toEqual([3 + 7, 20]);
    expect(shape('lm.token_embedding.weight')).toEqual([37, 20]);
    expect(shape('lm.head.weight')).toEqual([37, 20]);
    expect(shape('lm.transformer.resblocks.1.attn.in_proj_weight')).toEqual([60, 20]);
    expect(shape('lm.ln_final.weight')).toEqual([20]);
    expect(rest.some((s) => s.name.includes('cross') || s.name.includes('cls'))).toBe(false);
  });

  it('targets: row b·T + t is text[b, t + 1], pads ignored', () => {
    // Rows [SOT] 5 6 [EOT] and [SOT] 7 [EOT] pad, T = 3.
    const text = Int32Array.from([1, 5, 6, 2, 1, 7, 2, 0]);
    const I = IGNORE_INDEX;
    expect(Array.from(prefixTargets(text, 2, 3, 0))).toEqual([5, 6, 2, 7, 2, I]);
  });
});
