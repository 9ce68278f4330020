// `coca train --augment` and `--ema` at the command line: --help explains them with their
// defaults; a list or decay out of range, and --augment on an architecture that does not take it,
// are refused in one line before anything is written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { coca, expectOneLine } from '../reliability/helpers.ts';

const freshOut = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'coca-recipes-cli-')), 'run');

describe('coca train recipes', () => {
  it('--help explains --augment (its items) and --ema, with their defaults', () => {
    const r = coca(['train', '--help']);
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--augment training augmentations beyond today's random crop and flip.*scale=V .*colour\[=0\.4\] .*grey\[=0\.2\] .*blur\[=0\.5\] .*\[default: none\]/);
    expect(help).toMatch(/--ema keep an exponential moving average of the weights with this decay .*warmed up as timm does .*model\.safetensors .*raw\.safetensors .*\[default: 0\]/);
  });

  it('refuses an --ema decay of 1 or more in one line, writing nothing', () => {
    const out = freshOut();
    const r = coca(['train', '--ema', '1', '--out', out]);
    expect(r.status).toBe(1);
    expectOneLine(r, /^coca: --ema must be a number ≥ 0 and < 1 \(the share of the weight average kept at each step, e\.g\. 0\.999; 0 is off\), got 1$/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses an --augment list it cannot read, in one line, writing nothing', () => {
    const out = freshOut();
    const r = coca(['train', '--augment', 'colour,sharpen', '--out', out]);
    expect(r.status).toBe(1);
    expectOneLine(r, /^coca: --augment colour,sharpen: "sharpen" is not one of scale\[=value\], colour\[=value\], grey\[=value\], blur\[=value\]; e\.g\. --augment colour,grey,blur$/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses --augment for an LSTM captioner, writing nothing', () => {
    const out = freshOut();
    const r = coca(['train', '--arch', 'sat', '--augment', 'grey', '--out', out]);
    expect(r.status).toBe(1);
    expectOneLine(r, /^coca: --augment does not apply to --arch sat: its loader draws the crop and flip only \(coca runs take --augment\); drop it$/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
