// What the reliability tests share: running `coca` as a user does, and a fingerprint of a folder
// (every path, file content and link target) to show that a refused command changed nothing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'coca.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function coca(args: string[], o: { cwd?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: o.cwd, env: { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? '/tmp', ...o.env }, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** sha256 over the folder's tree: relative paths, file bytes, link targets (missing folder: 'absent'). */
export function folderHash(dir: string): string {
  if (!fs.existsSync(dir)) return 'absent';
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      h.update(`${path.relative(dir, p)}\0${st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f'}\0`);
      if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
      else if (st.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

// Dawn's own notice when a device opens on lavapipe, not coca's output.
const DAWN_NOTICE = /^Warning: max\w+ artificially reduced from \d+ to \d+/;

/** The error output is exactly one line (no stack trace), and it is the one expected; `notes` are lines allowed before it. */
export function expectOneLine(r: Run, line: RegExp, notes?: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !DAWN_NOTICE.test(l) && !notes?.test(l));
  if (lines.length !== 1 || !line.test(lines[0]!)) throw new Error(`expected one line matching ${line} on stderr, got (exit ${r.status}):\n${r.stderr}`);
}
