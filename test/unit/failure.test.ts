// What `coca` prints when a command fails: one line for every kind of failure, the stack only
// when COCA_DEBUG asks for it.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { failureLines } from '../../src/cli/failure.ts';
import { CocaError } from '../../src/util/errors.ts';

describe('failureLines', () => {
  it('our own error is its message', () => {
    expect(failureLines(new CocaError('--lr must be a number > 0, got 0'), false)).toEqual(['coca: --lr must be a number > 0, got 0']);
  });

  it('a failed file operation names the path and the reason', () => {
    let err: unknown;
    try {
      fs.mkdirSync('/proc/coca-test/x');
    } catch (e) {
      err = e;
    }
    expect(failureLines(err, false)).toEqual(['coca: cannot create /proc/coca-test/x: no such file or folder, ENOENT; check the path and its permissions']);
  });

  it('anything else is one line calling it a bug, with the stack only when debugging', () => {
    const e = new TypeError("Cannot read properties of undefined (reading 'trim')\nsecond line");
    expect(failureLines(e, false)).toEqual(["coca: internal error: Cannot read properties of undefined (reading 'trim') (a bug in coca; COCA_DEBUG=1 shows where, please report it)"]);
    const debug = failureLines(e, true);
    expect(debug).toHaveLength(2);
    expect(debug[1]).toContain('failure.test.ts');
    expect(failureLines('a string thrown', false)).toEqual(['coca: internal error: a string thrown (a bug in coca; COCA_DEBUG=1 shows where, please report it)']);
  });
});
