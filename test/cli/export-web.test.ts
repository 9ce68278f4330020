// coca export web's --weights as a user meets it: explained in --help with its default, a value
// it does not know refused by the parser, and refused in one line for open_clip, which has no such choice.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function coca(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('coca export --weights', () => {
  it('--help explains it with its default', () => {
    const r = coca(['export', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/--weights web only: how model\/ stores the weights: f16 .* or f32 \(as trained\) \[default: f16\] \[choices: "f16", "f32"\]/);
  });

  it('a value it does not know is refused before anything is read', () => {
    const r = coca(['export', 'web', 'nowhere', '--weights', 'f8', '--out', 'nowhere-site']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Invalid values:\s+Argument: weights, Given: "f8", Choices: "f16", "f32"/);
  });

  it('is one line for open_clip, which loads float32 as trained', () => {
    const r = coca(['export', 'open_clip', 'nowhere', '--weights', 'f16', '--out', 'nowhere-oc']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(['coca: --weights is for coca export web only; open_clip loads the float32 weights as trained']);
  });
});
