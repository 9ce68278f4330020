// `coca train --precision` at the command line: --help explains it with its default; a value that
// is not one of the choices is a usage error (exit status 2, as every yargs choice is) naming the
// choices, with nothing written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { coca, expectOneLine } from '../reliability/helpers.ts';

describe('coca train --precision', () => {
  it('is explained in --help with its default and choices', () => {
    const r = coca(['train', '--help']);
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--precision f16: mixed precision, the matrix products on f16 operands with f32 accumulation, f32 master weights and AdamW state, dynamic loss scaling .*Needs the adapter's shader-f16.* \[string\] \[choices: "f32", "f16"\] \[default: f32\]/);
  });

  it('refuses a precision it does not know, naming the choices, writing nothing', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'coca-precision-')), 'run');
    const r = coca(['train', '--precision', 'bf16', '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Argument: precision, Given: "bf16", Choices: "f32", "f16"');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('--precision f16 with an LSTM captioner (--arch sat) is refused in one line, writing nothing', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'coca-precision-')), 'run');
    const r = coca(['train', '--arch', 'sat', '--precision', 'f16', '--out', out]);
    expect(r.status).toBe(1);
    expectOneLine(r, /^coca: --precision f16 does not apply to --arch sat: it trains in f32; drop it$/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
