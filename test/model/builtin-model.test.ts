// The built-in model (models/builtin, written by scripts/ship-model.ts): every file is the one its
// manifest names, and a damaged copy is refused; its weights are stored in half precision and load
// as exactly those halves; it captions a fixed picture (a held-out test picture of the built-in
// set) to the tokens recorded when it was shipped; and commands find it when there is no run.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { builtinIndexData } from '../../src/infer/builtin-index.ts';
import { GREEDY_SEARCH, greedyCaption, type ExpectedCaption } from '../../src/infer/expected-caption.ts';
import { openCheckpoint, resolveCheckpointDir } from '../../src/infer/load.ts';
import { BUILTIN_MODEL_DIR, EXPECTED_CAPTION, readShipInfo } from '../../src/model/builtin.ts';
import { loadCheckpoint } from '../../src/model/checkpoint.ts';
import { readManifest, verifyCheckpoint } from '../../src/model/checkpoint-folder.ts';
import { toHalfWeights } from '../../src/model/half-weights.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { exportWeb } from '../../src/web/export.node.ts';
import { testGpu } from '../helpers/gpu.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = BUILTIN_MODEL_DIR;
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** binary16 bits → value, written out from the IEEE 754 layout (not the loader's code). */
function halfValue(bits: number): number {
  const sign = bits >> 15 ? -1 : 1;
  const exponent = (bits >> 10) & 31;
  const fraction = bits & 1023;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return exponent === 0 ? sign * fraction * Math.pow(2, -24) : sign * Math.pow(2, exponent - 15) * (1 + fraction / 1024);
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-builtin-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the built-in model: files and checksums', () => {
  it('is in the package, at models/builtin beside src/', () => {
    expect(DIR).toBe(path.join(ROOT, 'models', 'builtin'));
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'manifest.json', 'run.json', 'ship.json', 'README.md', EXPECTED_CAPTION]) expect(fs.existsSync(path.join(DIR, f)), f).toBe(true);
    expect(fs.readdirSync(DIR).some((f) => /^log\.jsonl(\.gz)?$/.test(f))).toBe(true);
    expect(fs.existsSync(path.join(DIR, 'optimizer.safetensors'))).toBe(false);
  });

  it("lists every file of the folder in its manifest, each with the size and sha256 it has", () => {
    const m = readManifest(DIR)!;
    expect(m.files.map((e) => e.file).sort()).toEqual(fs.readdirSync(DIR).filter((f) => f !== 'manifest.json').sort());
    for (const e of m.files) {
      expect(fs.statSync(path.join(DIR, e.file)).size, e.file).toBe(e.bytes);
      expect(sha256(path.join(DIR, e.file)), e.file).toBe(e.sha256);
    }
    expect(verifyCheckpoint(DIR)).toEqual(m);
    expect(m.step).toBe(readShipInfo()!.step);
  });

  it('refuses a copy with one byte of the weights flipped, naming the file', async () => {
    const copy = path.join(tmp, 'flipped');
    fs.cpSync(DIR, copy, { recursive: true });
    const file = path.join(copy, 'model.safetensors');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1000] ^= 0x01;
    fs.writeFileSync(file, bytes);
    expect(() => verifyCheckpoint(copy)).toThrow(/model\.safetensors does not match the checkpoint's manifest \(its sha256 differs/);
    const gpu = await testGpu();
    expect(() => loadCheckpoint(gpu, copy)).toThrow(/model\.safetensors does not match/);
  });

  it('refuses a copy whose README was edited (every file is checked, not only the weights)', () => {
    const copy = path.join(tmp, 'edited');
    fs.cpSync(DIR, copy, { recursive: true });
    fs.appendFileSync(path.join(copy, 'README.md'), '\n');
    expect(() => verifyCheckpoint(copy)).toThrow(/README\.md does not match the checkpoint's manifest \(\d+ bytes, the manifest says \d+\)/);
  });
});

describe('the built-in model: half-precision weights', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await testGpu();
  });

  it('stores every tensor as F16 but the logit scale, and is a few MB', () => {
    const st = readSafetensors(path.join(DIR, 'model.safetensors'));
    const dtypes = new Map([...st.tensors].map(([n, t]) => [n, t.dtype]));
    expect(dtypes.get('logit_scale')).toBe('F32');
    expect([...dtypes].filter(([n]) => n !== 'logit_scale').every(([, d]) => d === 'F16')).toBe(true);
    expect(dtypes.size).toBeGreaterThan(100);
    expect(st.metadata['weights']).toBe('f16');
    expect(fs.statSync(path.join(DIR, 'model.safetensors')).size).toBeLessThan(8 * 2 ** 20);
  });

  it('loads as float32 weights equal to the stored halves, exactly', async () => {
    const st = readSafetensors(path.join(DIR, 'model.safetensors'));
    const model = loadCheckpoint(gpu, DIR);
    try {
      const loaded = await model.params.state();
      expect(loaded.size).toBe(st.tensors.size);
      for (const [name, t] of st.tensors) {
        const got = loaded.get(name)!.data;
        expect(got.length, name).toBe(t.data.length);
        let mismatches = 0;
        for (let i = 0; i < got.length; i++) {
          const want = t.dtype === 'F16' ? halfValue((t.data as Uint16Array)[i]!) : (t.data as Float32Array)[i]!;
          if (got[i] !== want) mismatches++;
        }
        expect(mismatches, name).toBe(0);
      }
    } finally {
      model.params.release();
    }
  });

  it('exports to a web site (coca export web, coca serve --web) with its halves kept bit for bit', async () => {
    const r = await exportWeb(DIR, path.join(tmp, 'site'));
    const st = readSafetensors(path.join(DIR, 'model.safetensors'));
    const site = readSafetensors(path.join(tmp, 'site', 'model', 'model.safetensors'));
    expect(r.tensors).toEqual({ f16: st.tensors.size, f32: 0 });
    for (const [name, t] of st.tensors) {
      if (t.dtype !== 'F16') continue;
      expect(site.tensors.get(name)!.dtype, name).toBe('F16');
      expect(Buffer.from((site.tensors.get(name)!.data as Uint16Array).buffer).equals(Buffer.from((t.data as Uint16Array).buffer)), name).toBe(true);
    }
  });

  it('the conversion rounds to the nearest half, ties to even, and refuses a weight beyond the largest half', () => {
    const st = (data: number[], name = 'w') => ({ tensors: new Map([[name, { dtype: 'F32' as const, shape: [data.length], data: Float32Array.from(data) }]]), metadata: {} });
    // Halves near 1 are 2^-10 apart: 1 + 2^-11 is a tie (→ 1, even), 1 + 3·2^-11 a tie (→ 1 + 2^-9, even), 1 + 2^-11 + 2^-20 above the tie.
    const { tensors, report } = toHalfWeights(st([1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, -65504, 2 ** -26, 0.1]), 'x');
    const bits = tensors.get('w')!.data as Uint16Array;
    expect([...bits].map(halfValue)).toEqual([1, 1 + 2 ** -9, 1 + 2 ** -10, -65504, 0, halfValue(0x2e66)]);
    expect(report.flushedToZero).toBe(1);
    expect(report.maxAbs).toBe(65504);
    expect(() => toHalfWeights(st([0, 70000]), 'ck/model.safetensors')).toThrow(/^ck\/model\.safetensors: tensor "w" element 1 is 70000, outside half precision's range \(±65504\)/);
    expect(() => toHalfWeights(st([Infinity]), 'x')).toThrow(/outside half precision's range/);
    // The logit scale is kept float32 as it is.
    const kept = toHalfWeights(st([Math.log(1 / 0.07)], 'logit_scale'), 'x');
    expect(kept.tensors.get('logit_scale')!.data).toEqual(Float32Array.from([Math.log(1 / 0.07)]));
    expect(kept.report.f32).toEqual(['logit_scale']);
  });
});

describe('the built-in model: a fixed picture, the same tokens', () => {
  it('captions the recorded picture, greedy, to the token ids recorded when it was shipped', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(DIR, EXPECTED_CAPTION), 'utf8')) as ExpectedCaption;
    const picture = path.join(ROOT, expected.picture.file);
    expect(expected.picture.file).toMatch(/^test\/fixtures\//);
    expect(sha256(picture)).toBe(expected.picture.sha256);
    // Recorded with today's greedy search: a change of coca caption's defaults is a reason to ship again.
    expect(expected.search).toEqual(GREEDY_SEARCH);
    expect(expected.tokens[0]).toBe(1);
    const gpu = await testGpu();
    const ck = openCheckpoint(gpu, DIR);
    try {
      const got = await greedyCaption(ck, picture);
      expect(got.tokens).toEqual(expected.tokens);
      expect(ck.tokenizer.decode(expected.tokens)).toBe(expected.text);
      got.logprobs.forEach((lp, i) => expect(lp, `token ${i + 1}`).toBeCloseTo(expected.logprobs[i]!, 3));
    } finally {
      ck.release();
    }
  });
});

describe('the built-in model: found when there is no run', () => {
  it('with no run under runs/ of an empty working directory, is the default, said in one line; a run is preferred', () => {
    const cwd = process.cwd();
    const here = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    const lines: string[] = [];
    process.chdir(here);
    try {
      expect(resolveCheckpointDir(undefined, { notice: (l) => lines.push(l) })).toBe(DIR);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^coca: no --checkpoint and no run under runs\/: using the built-in model \(tiny, .*README\.md\)$/);
      expect(() => resolveCheckpointDir(undefined, { builtin: false })).toThrow(/^no checkpoint given and none under runs\/; .*\(the built-in model is taken here only by name: .*models\/builtin\)$/);
      const last = path.join(here, 'runs', 'mine', 'checkpoints', 'last');
      fs.mkdirSync(last, { recursive: true });
      for (const f of ['config.json', 'model.safetensors']) fs.writeFileSync(path.join(last, f), '{}');
      expect(fs.realpathSync(resolveCheckpointDir(undefined, { notice: (l) => lines.push(l) }))).toBe(fs.realpathSync(last));
      expect(lines).toHaveLength(1);
    } finally {
      process.chdir(cwd);
    }
  });

  it('without built-in data to search, says how to build it', () => {
    const before = process.env['COCA_CACHE'];
    process.env['COCA_CACHE'] = path.join(tmp, 'empty-cache');
    try {
      expect(() => builtinIndexData()).toThrow(/the built-in data is not built.*run 'coca data build --small'/);
    } finally {
      if (before === undefined) delete process.env['COCA_CACHE'];
      else process.env['COCA_CACHE'] = before;
    }
  });
});
