// trainTokenizer's error path (src/data/tokenizer.ts), the three mutants the audit found surviving
// tokenizer-fail.test.ts: a DataError raised after the trainer ran passes through as it is (89), an
// error without a stderr (the trainer exited 0 but wrote nothing) still gives the one line (91), and
// a temporary folder that is gone by the time it is cleared up does not replace that line with
// the clean-up's own ENOENT (93, `force`). The trainer (node, the child process) is a stand-in.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { trainTokenizer } from '../../../src/data/tokenizer.ts';

let root: string;
const saved = { execPath: process.execPath, tmpdir: process.env['TMPDIR'] };
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-last-tok-'));
  fs.mkdirSync(path.join(root, 'tmp'));
  process.env['TMPDIR'] = path.join(root, 'tmp');
});
afterEach(() => {
  process.execPath = saved.execPath;
  if (saved.tmpdir === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = saved.tmpdir;
  fs.rmSync(root, { recursive: true, force: true });
});

/** A stand-in for `node -e <training script>` running `body` (JS) with `raw` (tok.save's path) and `corpus` (tok.train's file) defined. */
function standIn(body: string): void {
  const stand = path.join(root, 'node');
  fs.writeFileSync(
    stand,
    `#!${saved.execPath}\n` +
      `const script = process.argv[3];\n` +
      `const raw = JSON.parse(/tok\\.save\\(("[^"]*")/.exec(script)[1]);\n` +
      `const corpus = JSON.parse(/tok\\.train\\(\\[("[^"]*")\\]/.exec(script)[1]);\n` +
      `const fs = require('node:fs');\n${body}\n`,
  );
  fs.chmodSync(stand, 0o755);
  process.execPath = stand;
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('trainTokenizer: errors after or around the trainer', () => {
  it("a trained file that is not BPE: the tokenizer's own DataError, not wrapped as a failed training", () => {
    const model = { type: 'Unigram', vocab: {}, merges: [] };
    standIn(`fs.writeFileSync(raw, ${JSON.stringify(JSON.stringify({ version: '1.0', added_tokens: [], model }))});`);
    const e = thrown(() => trainTokenizer(['a dog'], 300));
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toBe('tokenizer.json is not a BPE tokenizer; coca expects the byte-level BPE written by coca data build');
  });

  it('a trainer that exits 0 without writing its file: one line naming the missing file', () => {
    standIn('process.exit(0);');
    const e = thrown(() => trainTokenizer(['a dog'], 300));
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toMatch(/^tokenizer training failed \(ENOENT: no such file or directory, open '[^']*raw\.json'\); check that the 'tokenizers' package is installed \(npm ci\)$/);
  });

  it('a temporary folder already gone when it is cleared: still the trainer’s one line', () => {
    standIn(`fs.rmSync(require('node:path').dirname(corpus), { recursive: true }); process.stderr.write('trainer gave up\\n'); process.exit(1);`);
    const e = thrown(() => trainTokenizer(['a dog'], 300));
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toBe("tokenizer training failed (trainer gave up); check that the 'tokenizers' package is installed (npm ci)");
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
  });
});
