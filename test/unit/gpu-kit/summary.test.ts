// The GPU check's summary (scripts/gpu/summary.ts): stage outcomes, test counts, and coca set
// against PyTorch case by case, with ratios worked out here by hand from the inputs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compare, readStages, readTestCounts, summarise } from '../../../scripts/gpu/summary.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-summary-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const matmulRow = (variant: string, shape: string, rate: number, ok = true) => ({ family: 'matmul', variant, shape, ms: 1, rate, ok, maxAbsError: 0, clock: 'device', iters: 5 });

describe('GPU check summary', () => {
  it('reads stage outcomes: 0 ok, 124/137 timed out, other codes failed, skip skipped', () => {
    const s = readStages('unpack\t0\t12\ntests\t124\t170\nbench-step\t1\t3\ntorch\tskip\t0\n\n');
    expect(s.map((x) => [x.name, x.status, x.seconds])).toEqual([
      ['unpack', 'ok', 12],
      ['tests', 'timed out', 170],
      ['bench-step', 'failed', 3],
      ['torch', 'skipped', 0],
    ]);
  });

  it("sums node --test's closing counts over the run and reports none when the stage was cut short", () => {
    expect(readTestCounts('▶ matmul\nℹ tests 41\nℹ suites 9\nℹ pass 40\nℹ fail 1\nℹ cancelled 0\n')).toEqual({ tests: 41, pass: 40, fail: 1 });
    expect(readTestCounts('# tests 3\n# pass 3\n# fail 0\n')).toEqual({ tests: 3, pass: 3, fail: 0 });
    expect(readTestCounts('▶ matmul\n  ✔ naive (12ms)\n')).toBeNull();
  });

  it('compares the best validated NN matmul at the same size, attention by time, steps against eager and compiled', () => {
    const bench = {
      matmul: { matmul: { rows: [matmulRow('tiled NN', '4096x4096x4096', 20_000), matmulRow('regblock NN', '4096x4096x4096', 30_000, false), matmulRow('naive NN', '4096x4096x4096', 2_000), matmulRow('tiled NN', '1024x1024x1024', 90_000), matmulRow('sgmatrix NN', '4096x4096x4096', 150_000)] } },
      attention: { attention: [{ variant: 'fused fwd+bwd', shape: '1x8x4096x64', ms: 4, rate: 1, ok: true }, { variant: 'unfused fwd+bwd', shape: '1x8x4096x64', ms: 8, rate: 1, ok: true }, { variant: 'fused fwd', shape: '1x8x4096x64', ms: 1, rate: 1, ok: true }] },
      step: { step: [{ preset: 'tiny', batch: 32, ms: 5 }] },
    };
    const torch = {
      matmul: [{ n: 4096, dtype: 'float32', ms: 1, tflops: 40 }, { n: 4096, dtype: 'float16', ms: 1, tflops: 600 }],
      attention: [{ shape: '1x8x4096x64', pass: 'fwd+bwd', ms: 2, gflops: 1 }, { shape: '1x8x1024x128', pass: 'fwd', ms: 1, gflops: 1 }],
      step: [{ preset: 'tiny', mode: 'eager', ms: 10 }, { preset: 'b32', mode: 'eager', ms: 50 }],
    };
    const compiled = { step: [{ preset: 'tiny', mode: 'compile', ms: 4 }] };
    const rows = compare(bench, torch, compiled);
    expect(compare({}, { matmul: [{ n: 4096, dtype: 'float16', ms: 1, tflops: 600 }] }, null)[0]!.ratio).toBeNull();
    const by = Object.fromEntries(rows.map((r) => [r.what, r]));
    // 20 TFLOP/s (tiled; the faster regblock failed validation) against 40.
    expect(by['matmul fp32 4096x4096x4096 (TF32 off)']!.ratio).toBe(0.5);
    expect(by['matmul fp32 4096x4096x4096 (TF32 off)']!.coca).toBe('20.00 TFLOP/s (tiled NN)');
    // f16 only against the f16 variant (150 TFLOP/s against 600), and fp32 never against it.
    expect(by['matmul f16 4096x4096x4096']!.ratio).toBe(0.25);
    expect(by['matmul f16 4096x4096x4096']!.coca).toBe('150.00 TFLOP/s (sgmatrix NN)');
    // fused 4 ms against torch's 2 ms: coca at half torch's speed.
    expect(by['attention fwd+bwd 1x8x4096x64']!.ratio).toBe(0.5);
    expect(by['attention fwd 1x8x1024x128']!.coca).toBe('not measured');
    expect(by['training step tiny vs eager']!.ratio).toBe(2);
    expect(by['training step tiny vs compile']!.ratio).toBe(0.8);
    expect(by['training step b32 vs eager']!.ratio).toBeNull();
    expect(rows).toHaveLength(7);
    // A software adapter's rates stay readable in GFLOP/s.
    const slow = compare({ matmul: { matmul: { rows: [matmulRow('subgroup NN', '512x512x512', 3.2)] } } }, { matmul: [{ n: 512, dtype: 'float32', ms: 1, tflops: 0.05 }] }, null);
    expect([slow[0]!.coca, slow[0]!.torch]).toEqual(['3.20 GFLOP/s (subgroup NN)', '50.00 GFLOP/s']);
  });

  it('gathers a run folder into one record; missing stages leave their figures absent, not invented', () => {
    const dir = path.join(tmp, 'run');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'stages.tsv'), 'unpack\t0\t3\ntorch\t137\t90\n');
    fs.writeFileSync(path.join(dir, 'info.json'), JSON.stringify({ backend: 'vulkan', vendor: 'nvidia' }));
    fs.writeFileSync(path.join(dir, 'tests.log'), 'ℹ tests 2\nℹ pass 2\nℹ fail 0\n');
    const s = summarise(dir) as { stages: { status: string }[]; adapter: { vendor: string }; tests: unknown; torch: unknown; compare: unknown[] };
    expect(s.stages.map((x) => x.status)).toEqual(['ok', 'timed out']);
    expect(s.adapter.vendor).toBe('nvidia');
    expect(s.tests).toEqual({ tests: 2, pass: 2, fail: 0 });
    expect(s.torch).toBeNull();
    expect(s.compare).toEqual([]);
  });
});
