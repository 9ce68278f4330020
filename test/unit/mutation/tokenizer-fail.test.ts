// trainTokenizer when its child process fails (src/data/tokenizer.ts): the one line it gives and
// the temporary folder it removes either way, which earlier passes left "untested" for want of a
// broken `tokenizers` package. The child is node (process.execPath): a stand-in script that fails
// as a missing package would takes its place, and TMPDIR points at a folder of this test's own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { trainTokenizer } from '../../../src/data/tokenizer.ts';

let root: string;
let tmp: string;
const saved = { execPath: process.execPath, tmpdir: process.env['TMPDIR'] };
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-tok-fail-'));
  tmp = path.join(root, 'tmp');
  fs.mkdirSync(tmp);
  process.env['TMPDIR'] = tmp;
});
afterEach(() => {
  vi.restoreAllMocks();
  process.execPath = saved.execPath;
  if (saved.tmpdir === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = saved.tmpdir;
  fs.rmSync(root, { recursive: true, force: true });
});

describe('trainTokenizer', () => {
  it("a failing trainer: the first line of its stderr, what to do, and no temporary folder left", () => {
    const stand = path.join(root, 'node');
    // As node prints an uncaught error: a blank line first.
    fs.writeFileSync(stand, `#!/bin/sh\necho "" >&2\necho "Error: Cannot find module 'tokenizers'" >&2\necho "Require stack:" >&2\nexit 1\n`);
    fs.chmodSync(stand, 0o755);
    process.execPath = stand;
    // The trainer's stderr goes into the message only, not also onto the user's terminal.
    const written = vi.spyOn(process.stderr, 'write');
    expect(() => trainTokenizer(['a dog', 'a cat'], 300)).toThrow(new DataError("tokenizer training failed (Error: Cannot find module 'tokenizers'); check that the 'tokenizers' package is installed (npm ci)"));
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(written.mock.calls.filter((c) => String(c[0]).includes('tokenizers'))).toEqual([]);
  });

  it('a trainer that fails silently: the first line of the error itself', () => {
    const stand = path.join(root, 'node');
    fs.writeFileSync(stand, '#!/bin/sh\nexit 3\n');
    fs.chmodSync(stand, 0o755);
    process.execPath = stand;
    expect(() => trainTokenizer(['a dog'], 300)).toThrow(new DataError(`tokenizer training failed (Command failed: ${stand} -e ); check that the 'tokenizers' package is installed (npm ci)`));
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('a trainer that succeeds leaves no temporary folder either', () => {
    const tok = trainTokenizer(['a dog', 'a cat', 'a dog'], 300);
    expect(tok.vocabSize).toBeGreaterThan(259);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
