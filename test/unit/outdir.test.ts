// The rules of src/util/outdir.ts, one by one: where a command may write its output folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutputFile, checkOutputFolder, claimOutputFolder, markerCommand, OUTPUT_MARKER } from '../../src/util/outdir.ts';

let dir: string;
const at = (...p: string[]) => path.join(dir, ...p);

beforeAll(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'coca-outdir-')));
  fs.mkdirSync(at('empty'));
  fs.mkdirSync(at('user'));
  fs.writeFileSync(at('user', 'thesis.tex'), 'mine');
  fs.mkdirSync(at('data'));
  fs.writeFileSync(at('data', 'captions.tsv'), 'a.png\ta cat\n');
  fs.symlinkSync(at('data'), at('data-link'));
  fs.mkdirSync(at('old-build'));
  fs.writeFileSync(at('old-build', 'manifest.json'), '{}');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('checkOutputFolder', () => {
  it('takes a new folder (creating nothing), an empty one, and its own earlier output', () => {
    expect(checkOutputFolder(at('new', 'deeper'), 'coca x')).toBe(at('new', 'deeper'));
    expect(fs.existsSync(at('new'))).toBe(false);
    expect(checkOutputFolder(at('empty'), 'coca x')).toBe(at('empty'));
    const mine = claimOutputFolder(at('mine'), 'coca x');
    fs.writeFileSync(path.join(mine, 'result.txt'), '1');
    expect(markerCommand(mine)).toBe('coca x');
    expect(checkOutputFolder(at('mine'), 'coca x')).toBe(mine);
  });

  it("refuses another command's output and a user's files, unless the caller recognises an older output of its own", () => {
    expect(() => checkOutputFolder(at('mine'), 'coca y')).toThrow(`--out ${at('mine')} holds the output of 'coca x', not of 'coca y'; name a new folder`);
    expect(() => checkOutputFolder(at('user'), 'coca x')).toThrow(`--out ${at('user')} already holds files that 'coca x' did not write (thesis.tex); name a new or empty folder, nothing was changed`);
    const legacy = (d: string) => fs.existsSync(path.join(d, 'manifest.json'));
    expect(checkOutputFolder(at('old-build'), 'coca x', { isOwnLegacy: legacy })).toBe(at('old-build'));
    expect(() => checkOutputFolder(at('user'), 'coca x', { isOwnLegacy: legacy })).toThrow(/already holds files/);
  });

  it('refuses its input, a folder inside it, and a folder holding it, however the path is spelled', () => {
    const inputs = ['data'];
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(() => checkOutputFolder('data-link/', 'coca x', { inputs })).toThrow("--out data-link/ is this command's input data; write the output somewhere else");
      expect(() => checkOutputFolder('./data-link/sub', 'coca x', { inputs })).toThrow("--out ./data-link/sub lies inside this command's input data");
      expect(() => checkOutputFolder('.', 'coca x', { inputs: ['data/captions.tsv'] })).toThrow("--out . holds this command's input data/captions.tsv");
      expect(() => checkOutputFolder('.', 'coca x')).toThrow('--out . is the current folder; name a new folder for the output');
      expect(() => checkOutputFolder('..', 'coca x')).toThrow('--out .. is a folder holding the current folder; name a new folder for the output');
      // Its own earlier output is no user's folder, even as the current folder.
      const mine = claimOutputFolder('run', 'coca x');
      process.chdir(mine);
      expect(checkOutputFolder('.', 'coca x')).toBe(mine);
      expect(() => checkOutputFolder('.', 'coca y')).toThrow('--out . is the current folder; name a new folder for the output');
    } finally {
      process.chdir(cwd);
    }
    expect(() => checkOutputFolder(at('user', 'thesis.tex'), 'coca x')).toThrow(/is a file, not a folder/);
    expect(() => checkOutputFolder(at('user', 'thesis.tex', 'x'), 'coca x')).toThrow(/thesis\.tex is a file, not a folder; name a new folder$/);
  });

  it('leaves its marker, and nothing else, in the folder it claims', () => {
    claimOutputFolder(at('claimed'), 'coca z');
    expect(fs.readdirSync(at('claimed'))).toEqual([OUTPUT_MARKER]);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.coca-probe'))).toEqual([]);
  });
});

describe('checkOutputFile', () => {
  it('refuses a folder, an input file (through a symlink too) and a file inside an input folder', () => {
    expect(() => checkOutputFile(at('empty'), { option: '--json' })).toThrow(`--json ${at('empty')} is a folder; name a file to write`);
    expect(() => checkOutputFile(at('data-link', 'captions.tsv'), { inputs: [at('data', 'captions.tsv')] })).toThrow(/is this command's input/);
    expect(() => checkOutputFile(at('data', 'new.json'), { inputs: [at('data-link')] })).toThrow(/lies inside this command's input/);
    expect(checkOutputFile(at('results', 'eval.json'), { inputs: [at('data')] })).toBe(at('results', 'eval.json'));
  });
});
