// Nothing lost: each command that writes a folder refuses, in one line and with exit 1, a folder
// holding a user's files, the current folder, a file, a place it cannot write, and its own
// input (also named through a symlink or another relative form); the refused folder is hashed
// before and after and must not change. These cases are refused before any GPU work; those that
// need a trained checkpoint to show the harm on the old code are in errors.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coca, expectOneLine, folderHash } from './helpers.ts';

let dir: string;
/** A user's folder: notes and a picture that no coca command wrote. */
let user: string;
/** A user's dataset: a captions.tsv and its three pictures. */
let ds: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-outputs-'));
  user = path.join(dir, 'user');
  fs.mkdirSync(user);
  fs.writeFileSync(path.join(user, 'notes.txt'), 'my notes\n');
  ds = path.join(dir, 'ds');
  fs.mkdirSync(ds);
  const lines: string[] = [];
  for (const [i, colour] of ['#e02020', '#2040e0', '#20c040'].entries()) {
    await sharp({ create: { width: 12, height: 12, channels: 3, background: colour } }).png().toFile(path.join(ds, `p${i}.png`));
    lines.push(`p${i}.png\ta picture of colour ${colour}`);
  }
  fs.writeFileSync(path.join(ds, 'captions.tsv'), lines.join('\n') + '\n');
  fs.symlinkSync(ds, path.join(dir, 'ds-link'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `args`, expects exit 1 with one line matching `line`, and `watched` unchanged. */
function refused(args: string[], line: RegExp, watched: string, cwd = dir): void {
  const before = folderHash(watched);
  const r = coca(args, { cwd });
  expectOneLine(r, line);
  expect(r.status).toBe(1);
  expect(folderHash(watched)).toBe(before);
}

describe('coca data build', () => {
  it("refuses a folder holding a user's files", () => {
    refused(['data', 'build', '--small', '--out', user], /^coca: --out .*user already holds files that 'coca data build' did not write \(notes\.txt\); name a new or empty folder, nothing was changed$/, user);
  });

  it('refuses --out . (the current folder)', () => {
    refused(['data', 'build', '--small', '--out', '.'], /^coca: --out \. is the current folder; name a new folder for the output$/, user, user);
  });
});

describe('coca data export', () => {
  it("refuses to write into its own input, however the path is spelled", () => {
    for (const out of [ds, './ds/', 'ds-link', path.join(dir, 'ds-link', '.')]) {
      refused(['data', 'export', '--data', 'ds', '--split', 'all', '--out', out], /^coca: --out \S+ is this command's input ds; write the output somewhere else$/, ds);
    }
  });

  it("refuses a folder holding the dataset it reads, and a user's folder", () => {
    refused(['data', 'export', '--data', 'ds/captions.tsv', '--split', 'all', '--out', 'ds'], /^coca: --out ds holds this command's input ds\/captions\.tsv; write the output somewhere else$/, ds);
    refused(['data', 'export', '--data', 'ds', '--split', 'all', '--out', 'user'], /^coca: --out user already holds files that 'coca data export' did not write \(notes\.txt\)/, user);
  });
});

describe('coca train --out', () => {
  it("refuses a user's folder, a file, and a place it cannot write, before opening the GPU", () => {
    const args = ['train', '--steps', '1', '--batch', '2', '--val-every', '1'];
    refused([...args, '--out', 'user'], /^coca: --out user already holds files that 'coca train' did not write \(notes\.txt\)/, user);
    refused([...args, '--out', 'user/notes.txt'], /^coca: --out user\/notes\.txt is a file, not a folder; name a new folder for the output of coca train$/, user);
    refused([...args, '--out', 'user/notes.txt/run'], /^coca: --out user\/notes\.txt\/run: \S+notes\.txt is a file, not a folder; name a new folder$/, user);
    // /sys refuses new entries even to root (a read-only or pseudo file system).
    refused([...args, '--out', '/sys/coca-run'], /^coca: --out \/sys\/coca-run: cannot create a folder in \/sys \((operation not permitted, EPERM|read-only file system, EROFS|permission denied, EACCES)\); choose a place you can write to$/, user);
  });
});

describe('files a command writes are never its inputs', () => {
  it('coca data tokenizer --out naming a file that is not a tokenizer', () => {
    refused(['data', 'tokenizer', '--data', 'ds', '--out', 'ds/captions.tsv'], /^coca: --out ds\/captions\.tsv exists and is not a tokenizer\.json; name a new file \(nothing was changed\)$/, ds);
  });
});
