// The `coca` command as a user meets it: usage on bad input, non-zero exits, one-line errors.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function coca(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('coca CLI', () => {
  it('an unknown subcommand prints usage and exits non-zero', () => {
    const r = coca(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Commands:/);
    expect(r.stderr).toMatch(/coca: Unknown argument: frobnicate/);
  });

  it('an unknown option prints usage and exits non-zero', () => {
    const r = coca(['bench', 'matmul', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--sizes/);
    expect(r.stderr).toMatch(/Unknown argument: bogus/);
  });

  it('no command prints usage and exits non-zero', () => {
    const r = coca([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Name a command/);
  });

  it('a bad --sizes value is one line and a non-zero exit', () => {
    const r = coca(['bench', 'matmul', '--sizes', '12x3', '--no-blas']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^coca: --sizes: "12x3" is neither n nor MxNxK$/m);
  });

  it('without any adapter says so in one line, points to the setup script, exits 1', () => {
    // An ICD list naming no driver hides every Vulkan device from this process.
    const r = coca(['info'], { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json', COCA_BACKEND: 'vulkan' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^coca: no WebGPU adapter found \(tried vulkan\); run scripts\/setup.sh/m);
  });

  it('info --json describes the adapter', () => {
    const r = coca(['info', '--json']);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { backend: string; features: string[]; limits: Record<string, number> };
    expect(['vulkan', 'opengl']).toContain(info.backend);
    expect(info.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
  });
});
