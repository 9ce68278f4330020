// `coca bench step`'s family at nano: the step's counters (dispatches, one read back), and
// PyTorch's step taking turns with coca's in rounds, the ratio the median of the rounds' ratios
// and inside their range; where this machine has no PyTorch (CI), the column is skipped with the
// reason. (Run directly, without the CLI's ceiling measurements.)
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { stepBench } from '../../src/bench/step.ts';
import type { BenchContext } from '../../kernels/bench/harness.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

it(`times nano against PyTorch in alternating rounds${hasTorch ? '' : ' (no PyTorch here: skipped with the reason)'}`, async () => {
  const ctx: BenchContext = { gpu, ceilings: { gflops: 1, gbps: 1, copyBufferGbps: 1 }, runs: 3, seed: 0, sizes: 'nano', variant: 'all', layout: 'NN', blas: true };
  const { report } = await stepBench.run(ctx);
  const rows = report as { preset: string; ms: number; dispatches: number; reads: number; torchMs: number | null; ratio: number | null; ratioRange: [number, number] | null; rounds: number; note?: string }[];
  expect(rows.map((r) => r.preset)).toEqual(['nano']);
  const [r] = rows;
  expect(r!.ms).toBeGreaterThan(0);
  expect(r!.dispatches).toBeGreaterThan(10);
  expect(r!.reads).toBe(1);
  expect(r!.rounds).toBe(3);
  if (hasTorch) {
    expect(r!.note).toBeUndefined();
    expect(r!.torchMs).toBeGreaterThan(0);
    const [lo, hi] = r!.ratioRange!;
    expect(r!.ratio!).toBeGreaterThanOrEqual(lo);
    expect(r!.ratio!).toBeLessThanOrEqual(hi);
  } else {
    expect(r!.note).toMatch(/^PyTorch column skipped: \S/);
    expect([r!.torchMs, r!.ratio]).toEqual([null, null]);
  }
}, 600_000);
