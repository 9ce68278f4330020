// `coca info --kernels` (what the matmul and attention heuristics pick per shape on the adapter at
// hand) and the subgroup-matrix probe of `coca info`. CI's adapter is lavapipe: software, subgroup
// size 8, no subgroup matrices.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { presetKernelShapes } from '../../src/cli/kernel-shapes.ts';
import { readSubgroupMatrixConfigs } from '../../src/gpu/probe.ts';

function coca(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Choices {
  adapterClass: string;
  choices: { op: string; shape: string; where: string; choice: string }[];
}

describe('coca info --kernels', () => {
  it("derives a preset's step shapes from its config (tiny: 64 px, patch 8, width 128, context 32, vocab 2048, batch 32)", () => {
    const s = presetKernelShapes('tiny');
    const mm = Object.fromEntries(s.matmuls.map((m) => [m.where, [m.M, m.N, m.K]]));
    expect(mm['tiny: patch embedding']).toEqual([32 * 64, 128, 3 * 8 * 8]);
    expect(mm['tiny: vision q,k,v']).toEqual([32 * 65, 384, 128]);
    expect(mm['tiny: vision MLP down']).toEqual([32 * 65, 128, 512]);
    expect(mm['tiny: text q,k,v']).toEqual([32 * 33, 384, 128]);
    expect(mm['tiny: caption logits']).toEqual([32 * 32, 2048, 128]);
    expect(mm['tiny: contrastive logits']).toEqual([32, 32, 128]);
    const at = Object.fromEntries(s.attentions.map((a) => [a.where, [a.BH, a.Lq, a.Lk, a.D]]));
    expect(at['tiny: vision self-attention']).toEqual([32 * 4, 65, 65, 32]);
    expect(at['tiny: cross-attention']).toEqual([32 * 4, 32, 32, 32]);
  });

  it('prints the choice per shape for this adapter, as the kernels would make it', () => {
    const r = coca(['info', '--kernels', '--json']);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('coca:'))).toEqual([]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as Choices;
    expect(out.adapterClass).toBe('software');
    // lavapipe has shader-f16 and no subgroup matrices: mixed precision's register-blocked kernel.
    expect((out as Choices & { f16Products: string }).f16Products).toBe('regblock');
    for (const p of ['nano', 'tiny', 'small', 'b32']) expect(out.choices.some((c) => c.where.startsWith(`${p}:`))).toBe(true);
    const pick = (op: string, shape: string) => out.choices.find((c) => c.op === op && c.shape === shape)?.choice;
    // Software adapter with a fixed subgroup size of 8: the subgroup-broadcast matmul wherever M ≥ 16.
    expect(pick('matmul', '4096x4096x4096')).toBe('subgroup');
    expect(pick('matmul', '32x32x128')).toBe('subgroup');
    // Fused attention up to D = 64; at 128 the unfused path while its L×L scores fit one binding
    // (8·1024² floats = 32 MiB ≤ 128 MiB), the fused one when they do not (8·4096² = 512 MiB).
    expect(pick('attention', '8x1024x1024x64')).toBe('fused');
    expect(pick('attention', '8x1024x1024x128')).toBe('unfused');
    expect(pick('attention', '8x4096x4096x128')).toBe('fused');
  });

  it('shows a forced variant (COCA_MATMUL) as the choice for every matmul, and says it is forced', () => {
    const r = coca(['info', '--kernels'], { COCA_MATMUL: 'tiled' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('forced by COCA_MATMUL=tiled');
    const rows = r.stdout.split('\n').filter((l) => /^\s+\d+x\d+x\d+\s/.test(l));
    expect(rows.length).toBeGreaterThan(30);
    expect(rows.every((l) => l.trim().endsWith('tiled'))).toBe(true);
  });

  it('coca info says whether the adapter has subgroup matrices; lavapipe has none', () => {
    const r = coca(['info', '--json']);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { adapterFeatures: string[]; subgroupMatrixConfigs: unknown };
    expect(info.adapterFeatures).toContain('subgroups');
    expect(info.adapterFeatures).not.toContain('chromium-experimental-subgroup-matrix');
    expect(info.subgroupMatrixConfigs).toBeNull();
  });

  it("reads the adapter's subgroup-matrix configurations into plain objects", () => {
    const info = { subgroupMatrixConfigs: new Set([{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }]) };
    expect(readSubgroupMatrixConfigs(info)).toEqual([{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }]);
    expect(readSubgroupMatrixConfigs({})).toEqual([]);
  });
});
