// The architecture registry, LSTM captioner configs and PyTorch LSTM weight loading: no GPU.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { archOfConfig, checkArch, checkpointArch } from '../../src/model/arch.ts';
import { loadLstmConfig, parseLstmConfig } from '../../src/model/captioners/config.ts';
import { lstmParameterShapes, stepsNeeded, timeMajorTargets } from '../../src/model/captioners/lstm.ts';
import { fromTorchStateDict, fuseTorchLstm } from '../../src/model/captioners/torch-lstm.ts';
import { readCheckpointConfig } from '../../src/model/checkpoint.ts';
import { IGNORE_INDEX } from '../../src/tensor/ids.ts';
import { imageEncoder } from '../../src/model/image-encoder.ts';

const vision = { image_size: 12, patch_size: 4, width: 10, layers: 1, heads: 2 };
const decoder = { context_length: 7, vocab_size: 37, embed_width: 6, hidden: 11 };

describe('architectures', () => {
  it('names the ones there are for an unknown --arch, and reads a config\'s arch (coca when absent)', () => {
    expect(() => checkArch('resnet')).toThrow('--arch "resnet": no such architecture (there are: coca, showtell, sat, prefix, devise)');
    expect(checkArch('sat')).toBe('sat');
    expect(archOfConfig({ embed_dim: 4 }, 'c.json')).toBe('coca');
    expect(archOfConfig({ arch: 'showtell' }, 'c.json')).toBe('showtell');
    expect(() => archOfConfig({ arch: 'lstm' }, 'c.json')).toThrow('c.json: arch "lstm": no such architecture');
  });

  it('refuses a checkpoint of another architecture in one line where a CoCa model is needed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-arch-'));
    try {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ arch: 'sat', vision_cfg: vision, decoder_cfg: decoder }));
      expect(checkpointArch(dir)).toBe('sat');
      expect(() => readCheckpointConfig(dir)).toThrow(`${dir} holds a sat model; this command works on coca models (coca eval takes any architecture, coca caption all but devise, coca classify coca and devise)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('LSTM captioner configs', () => {
  it('fills the defaults and takes the presets', () => {
    const c = parseLstmConfig({ arch: 'sat', vision_cfg: vision, decoder_cfg: decoder });
    expect(c.decoder_cfg).toEqual({ ...decoder, dropout: 0.5, pad_id: 0, attention_width: 11, alpha_c: 1 });
    expect(c.vision_cfg.mlp_ratio).toBe(4);
    expect('attentional_pool' in c.vision_cfg).toBe(false);
    expect(loadLstmConfig('showtell', 'nano').arch).toBe('showtell');
    expect(loadLstmConfig('sat', 'nano').decoder_cfg.attention_width).toBe(64);
  });

  it('refuses unknown keys, wrong values and keys of the other architecture, naming the key path', () => {
    const bad = (raw: object) => () => parseLstmConfig(raw, 'c.json');
    expect(bad({ arch: 'showtell', vision_cfg: vision, decoder_cfg: { ...decoder, alpha_c: 1 } })).toThrow('c.json: decoder_cfg.alpha_c: unknown key for showtell');
    expect(bad({ arch: 'sat', vision_cfg: vision, decoder_cfg: { ...decoder, dropout: 1 } })).toThrow('c.json: decoder_cfg.dropout: expected a number ≥ 0 and ≤ 0.95, got 1');
    expect(bad({ arch: 'sat', vision_cfg: vision, decoder_cfg: { context_length: 7, vocab_size: 37, embed_width: 6 } })).toThrow('c.json: decoder_cfg.hidden: required key is missing');
    expect(bad({ arch: 'sat', vision_cfg: { ...vision, attn_pooler_heads: 2 }, decoder_cfg: decoder })).toThrow('c.json: vision_cfg.attn_pooler_heads: the sat model has no attentional pooler');
    expect(bad({ arch: 'sat', vision_cfg: { ...vision, patch_size: 5 }, decoder_cfg: decoder })).toThrow('c.json: vision_cfg.patch_size: 5 does not divide image_size 12');
    expect(bad({ arch: 'coca', vision_cfg: vision, decoder_cfg: decoder })).toThrow('c.json: arch: expected "showtell" or "sat", got "coca"');
    expect(() => loadLstmConfig('showtell', 'tiny')).toThrow('config tiny: no such showtell preset or file (showtell presets: nano, nano-cnn)');
  });

  it('lists each model\'s parameters, the LSTM cell as one [4H, I + H] matrix', () => {
    const sat = new Map(lstmParameterShapes(parseLstmConfig({ arch: 'sat', vision_cfg: vision, decoder_cfg: decoder })).map((s) => [s.name, s.shape]));
    expect(sat.get('decoder.decode_step.weight')).toEqual([44, 6 + 10 + 11]);
    expect(sat.get('decoder.attention.full_att.weight')).toEqual([1, 11]);
    expect(sat.get('decoder.f_beta.weight')).toEqual([1, 11]);
    expect(sat.get('visual.ln_post.weight')).toEqual([10]);
    expect(sat.has('visual.attn_pool.query')).toBe(false);
    const st = new Map(lstmParameterShapes(parseLstmConfig({ arch: 'showtell', vision_cfg: vision, decoder_cfg: decoder })).map((s) => [s.name, s.shape]));
    expect(st.get('decoder.decode_step.weight')).toEqual([44, 6 + 11]);
    expect(st.get('decoder.init.weight')).toEqual([6, 10]);
    expect(st.get('decoder.bn.running_var')).toEqual([6]);
    // The CNN tower in place of the ViT: torchvision's names, its 8x8 map of 64 channels attended over.
    const cnn = loadLstmConfig('sat', 'nano-cnn');
    const specs = lstmParameterShapes(cnn);
    const names = new Map(specs.map((s) => [s.name, s]));
    expect(names.get('visual.conv1.weight')?.shape).toEqual([16, 3, 3, 3]);
    expect(names.get('visual.bn1.running_var')?.buffer).toBe(true);
    expect(names.has('visual.class_embedding')).toBe(false);
    expect(names.get('decoder.attention.encoder_att.weight')?.shape).toEqual([64, 64]);
    expect(imageEncoder(cnn.vision_cfg).grid).toBe(8);
    expect(names.get('decoder.bn.running_mean')).toBeUndefined();
    expect(new Map(lstmParameterShapes(loadLstmConfig('showtell', 'nano')).map((s) => [s.name, s])).get('decoder.bn.running_mean')?.buffer).toBe(true);
  });
});

describe('teacher forcing', () => {
  it('runs to the last word of the longest row and predicts each next word time-major, pads ignored', () => {
    const text = Int32Array.from([1, 5, 6, 2, 0, 0, 1, 7, 2, 0, 0, 0]);
    expect(stepsNeeded(text, 2, 0)).toBe(3);
    const I = IGNORE_INDEX;
    expect([...timeMajorTargets(text, 2, 3, 0)]).toEqual([5, 7, 6, 2, 2, I]);
  });
});

describe('PyTorch LSTM weights', () => {
  it('puts W_ih beside W_hh row by row and adds the two biases', () => {
    const H = 1;
    const wih = { shape: [4 * H, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
    const whh = { shape: [4 * H, H], data: Float32Array.from([-1, -2, -3, -4]) };
    const bih = { shape: [4], data: Float32Array.from([0.5, 0.5, 0.5, 0.5]) };
    const bhh = { shape: [4], data: Float32Array.from([1, 2, 3, 4]) };
    const f = fuseTorchLstm(wih, whh, bih, bhh);
    expect(f.weight.shape).toEqual([4, 3]);
    expect([...f.weight.data]).toEqual([1, 2, -1, 3, 4, -2, 5, 6, -3, 7, 8, -4]);
    expect([...f.bias.data]).toEqual([1.5, 2.5, 3.5, 4.5]);
    expect(() => fuseTorchLstm(wih, { shape: [4, 2], data: new Float32Array(8) }, bih, bhh)).toThrow('are not one cell\'s');
    const sd = new Map([
      ['decoder.decode_step.weight_ih_l0', wih],
      ['decoder.decode_step.weight_hh_l0', whh],
      ['decoder.decode_step.bias_ih_l0', bih],
      ['decoder.decode_step.bias_hh_l0', bhh],
      ['decoder.bn.num_batches_tracked', { shape: [], data: new Float32Array(1) }],
      ['decoder.fc.bias', bih],
    ]);
    const out = fromTorchStateDict(sd);
    expect([...out.keys()].sort()).toEqual(['decoder.decode_step.bias', 'decoder.decode_step.weight', 'decoder.fc.bias']);
    sd.delete('decoder.decode_step.bias_hh_l0');
    expect(() => fromTorchStateDict(sd)).toThrow('no decoder.decode_step.bias_hh_l0');
  });
});
