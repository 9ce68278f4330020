// coca train --arch: the choice refused in one line before any GPU work when it cannot be made
// (an unknown arch, an option of CoCa's alone, a config of another arch),
// and --help naming each architecture.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function coca(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/coca.js', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning')) };
}

describe('coca train --arch', () => {
  const out = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'coca-arch-cli-')), 'run');

  it.each([
    [['--arch', 'lstm'], 'Invalid values'],
    [['--arch', 'sat', '--contrastive-weight', '2'], '--contrastive-weight does not apply to --arch sat: it has no contrastive loss; drop it'],
    [['--arch', 'coca', '--config', 'test/fixtures/lstm_micro_sat.json'], '--arch coca and --config test/fixtures/lstm_micro_sat.json disagree: the config is a sat model; drop --arch or give a coca config'],
  ])('%j is refused in one line', (args, line) => {
    const r = coca(['train', ...args, '--out', out()]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.join('\n')).toContain(line);
    if (!line.startsWith('Invalid')) expect(r.stderr).toHaveLength(1);
  });

  it('--help names every architecture and says the default', () => {
    const r = coca(['train', '--help']);
    expect(r.status).toBe(0);
    for (const s of ['--arch', 'coca (CoCa:', 'showtell (Show and Tell', 'sat (Show, Attend and Tell', '[default: coca, or the one a --config file names]']) expect(r.stdout.replace(/\s+/g, ' ')).toContain(s);
  });
});
