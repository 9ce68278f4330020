// src/train/checkpoint.ts's --ema side without a GPU: saveCheckpoint with a weight average (the
// average's swap() stood in by a switch between two parameter sets) and readTrainingWeights. The
// header's rule is what is checked: model.safetensors holds the average (what eval, caption, serve
// and export read), raw.safetensors the weights training continues from, and the weights are back
// in place after the save. Values are the test's own small tensors, compared element by element.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeCheckpointFolder } from '../../../src/model/checkpoint-folder.ts';
import type { StoredModel } from '../../../src/model/checkpoint.ts';
import { CheckpointError } from '../../../src/model/errors.ts';
import { readSafetensors } from '../../../src/model/safetensors.ts';
import type { WeightAverage } from '../../../src/train/ema.ts';
import { RAW_WEIGHTS, readTrainingWeights, saveCheckpoint } from '../../../src/train/checkpoint.ts';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-audit-ema-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

type Params = Map<string, { shape: number[]; data: Float32Array }>;
const weights: Params = new Map([
  ['w', { shape: [2], data: new Float32Array([1, 2]) }],
  ['b', { shape: [1], data: new Float32Array([3]) }],
]);
const averaged: Params = new Map([
  ['w', { shape: [2], data: new Float32Array([0.5, 1.5]) }],
  ['b', { shape: [1], data: new Float32Array([2.5]) }],
]);

/** A model whose parameters are the weights or, between two swaps, the average. */
function standIns() {
  let swapped = false;
  const swaps: boolean[] = [];
  const live = () => (swapped ? averaged : weights);
  const model = { params: { state: async () => [...live()], get: (n: string) => live().get(n)! }, config: { embed_dim: 8 } } as unknown as StoredModel;
  const average = {
    swap: () => {
      swapped = !swapped;
      swaps.push(swapped);
    },
  } as unknown as WeightAverage;
  return { model, average, swaps, isSwapped: () => swapped };
}

const tensorsOf = (file: string) => Object.fromEntries([...readSafetensors(file).tensors].map(([k, t]) => [k, [...t.data]]));

describe('saveCheckpoint with a weight average', () => {
  it('writes the average as model.safetensors and the weights as raw.safetensors, swapping back after', async () => {
    const { model, average, swaps, isSwapped } = standIns();
    const dir = path.join(root, 'ck');
    await saveCheckpoint(dir, model, { average, state: { step: 3 } });
    expect(RAW_WEIGHTS).toBe('raw.safetensors');
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'manifest.json', 'model.safetensors', 'raw.safetensors', 'state.json']);
    expect(tensorsOf(path.join(dir, 'model.safetensors'))).toEqual({ w: [0.5, 1.5], b: [2.5] });
    expect(tensorsOf(path.join(dir, 'raw.safetensors'))).toEqual({ w: [1, 2], b: [3] });
    // Both files carry the model's metadata (the config), as model.safetensors always does.
    expect(JSON.parse(readSafetensors(path.join(dir, 'raw.safetensors')).metadata!['config']!)).toEqual({ embed_dim: 8 });
    expect(JSON.parse(readSafetensors(path.join(dir, 'model.safetensors')).metadata!['config']!)).toEqual({ embed_dim: 8 });
    expect(swaps).toEqual([true, false]);
    expect(isSwapped()).toBe(false);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { files: { file: string }[] };
    expect(manifest.files.map((f) => f.file).sort()).toEqual(['config.json', 'model.safetensors', 'raw.safetensors', 'state.json']);
  });

  it('swaps back even when reading the averaged model fails', async () => {
    const { average, swaps, isSwapped } = standIns();
    let calls = 0;
    const model = {
      params: {
        state: async () => {
          calls++;
          if (calls === 2) throw new Error('device lost');
          return [...weights];
        },
      },
      config: {},
    } as unknown as StoredModel;
    await expect(saveCheckpoint(path.join(root, 'ck'), model, { average })).rejects.toThrow('device lost');
    expect(swaps).toEqual([true, false]);
    expect(isSwapped()).toBe(false);
    expect(fs.existsSync(path.join(root, 'ck'))).toBe(false);
  });

  it('without an average: no raw.safetensors and no swap', async () => {
    const { model, swaps } = standIns();
    const dir = path.join(root, 'plain');
    await saveCheckpoint(dir, model, { state: { step: 1 } });
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'manifest.json', 'model.safetensors', 'state.json']);
    expect(tensorsOf(path.join(dir, 'model.safetensors'))).toEqual({ w: [1, 2], b: [3] });
    expect(swaps).toEqual([]);
  });

  it('keeps the tokenizer and extra files beside the two weight files', async () => {
    const { model, average } = standIns();
    const dir = path.join(root, 'tok');
    await saveCheckpoint(dir, model, { average, tokenizerJson: '{"t":1}', extraFiles: [{ name: 'words.txt', text: 'x\n' }] });
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'manifest.json', 'model.safetensors', 'raw.safetensors', 'tokenizer.json', 'words.txt']);
    expect(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')).toBe('{"t":1}');
    expect(tensorsOf(path.join(dir, 'model.safetensors'))).toEqual({ w: [0.5, 1.5], b: [2.5] });
    expect(tensorsOf(path.join(dir, 'raw.safetensors'))).toEqual({ w: [1, 2], b: [3] });
  });
});

describe('readTrainingWeights', () => {
  const file = (name: string, w: number[]) => ({ name, tensors: new Map([['w', { shape: [w.length], data: Float32Array.from(w) }]]) });

  it('with raw.safetensors: the weights from it, the average from model.safetensors', () => {
    const dir = path.join(root, 'a');
    writeCheckpointFolder(dir, [file('model.safetensors', [7, 8]), file('raw.safetensors', [1, 2])], 5);
    const got = readTrainingWeights(dir);
    expect([...got.weights.get('w')!.data]).toEqual([1, 2]);
    expect([...got.average!.get('w')!.data]).toEqual([7, 8]);
    expect(got.weights.get('w')!.shape).toEqual([2]);
  });

  it('without it: the weights from model.safetensors and no average', () => {
    const dir = path.join(root, 'b');
    writeCheckpointFolder(dir, [file('model.safetensors', [4, 5, 6])], 5);
    const got = readTrainingWeights(dir);
    expect([...got.weights.get('w')!.data]).toEqual([4, 5, 6]);
    expect(got.average).toBeNull();
  });

  it('refuses a folder without model.safetensors in one line, raw.safetensors or not', () => {
    const dir = path.join(root, 'c');
    writeCheckpointFolder(dir, [file('raw.safetensors', [1])], 5);
    expect(() => readTrainingWeights(dir)).toThrow(new CheckpointError(`${dir} has no model.safetensors; the checkpoint is incomplete`));
  });

  it('names the file a broken tensor is in', () => {
    const dir = path.join(root, 'd');
    writeCheckpointFolder(dir, [file('model.safetensors', [1]), file('raw.safetensors', [Number.NaN])], 5);
    expect(() => readTrainingWeights(dir)).toThrow(`${path.join(dir, 'raw.safetensors')}: tensor "w" holds NaN (element 0)`);
  });
});
