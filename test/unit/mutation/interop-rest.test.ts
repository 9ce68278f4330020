// What the ninth mutation pass left "untested" or uncovered in src/interop/state-dict.ts and
// src/data/fetch.ts. State dicts: torch.save's zip layout written by Python's pickle and zipfile
// (scripts/reference/torch_zip_more.py; the refusals are state-dict.ts's own lines, the kept
// tensor's values those the script packed). fetch.ts: stand-ins for npm and dpkg-deb first on the
// PATH (tar is the real one), as in fetch.test.ts, printing what the real tools print around the
// part fetch.ts reads (notices, blank lines, padding).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { fetchDeb, fetchNpm } from '../../../src/data/fetch.ts';
import { InteropError } from '../../../src/interop/errors.ts';
import { readStateDict } from '../../../src/interop/state-dict.ts';

const ZIP = path.join(import.meta.dirname, '..', '..', 'fixtures', 'zip');
const zx = (n: string) => path.join(ZIP, n);
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InteropError);
    return (e as Error).message;
  }
  return 'read';
};

describe('state-dict.ts: what torch.save never writes', () => {
  it('a tensor starting before its storage is refused like one reaching past its end', () => {
    expect(refusal(() => readStateDict(zx('negoff.pt')))).toBe(`${zx('negoff.pt')}: tensor "x" reaches past its storage; the file is damaged`);
  });

  it('values that are not tensors (int, None, str, list, dict) are left out; the tensor beside them kept', () => {
    const sd = readStateDict(zx('mixed.pt'));
    expect([...sd.keys()]).toEqual(['w']);
    expect([sd.get('w')!.shape, Array.from(sd.get('w')!.data), sd.get('w')!.dtype]).toEqual([[2], [1.5, -2.5], 'F32']);
  });

  it('a zip without <name>/data.pkl directly under one folder, and a dict without tensors, in one line', () => {
    for (const f of ['nopkl.pt', 'deep.pt', 'suffix.pt']) {
      expect(refusal(() => readStateDict(zx(f))), f).toBe(`${zx(f)} is a zip archive but not one torch.save wrote (no <name>/data.pkl); pass an open_clip checkpoint`);
    }
    expect(refusal(() => readStateDict(zx('notensors.pt')))).toBe(`${zx('notensors.pt')} holds a dict without tensors; pass open_clip's model checkpoint`);
  });

  it('no file left open, read or refused', () => {
    const open = () => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 40; i++) {
      readStateDict(zx('mixed.pt'));
      refusal(() => readStateDict(zx('nopkl.pt')));
    }
    // A leak is one descriptor per call (80 here); other work in the process may hold a few.
    expect(open() - before).toBeLessThan(20);
  });
});

describe('fetch.ts: what npm, dpkg-deb and tar print around the part read', () => {
  let root: string;
  let bin: string;
  const saved = { cache: process.env['COCA_CACHE'], path: process.env['PATH'] };
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-fetch-rest-'));
    bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    process.env['COCA_CACHE'] = path.join(root, 'cache');
    process.env['PATH'] = `${bin}:/usr/bin:/bin`;
  });
  afterEach(() => {
    process.env['PATH'] = saved.path;
    if (saved.cache === undefined) delete process.env['COCA_CACHE'];
    else process.env['COCA_CACHE'] = saved.cache;
    fs.rmSync(root, { recursive: true, force: true });
  });
  const tool = (name: string, body: string) => {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    fs.chmodSync(path.join(bin, name), 0o755);
  };
  /** A gzipped npm tarball holding package/<name> for each file. */
  const tarball = (files: Record<string, string>): string => {
    const src = path.join(root, 'src', 'package');
    fs.mkdirSync(src, { recursive: true });
    for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(src, k), v);
    const tgz = path.join(root, 'pkg.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', path.join(root, 'src'), 'package']);
    return tgz;
  };
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it("npm pack's tarball name: the last line of its output, padding and blank lines around it ignored; no members: everything", async () => {
    const tgz = tarball({ 'a.txt': 'a', 'b.txt': 'b' });
    tool('npm', `cp '${tgz}' "$4/t-1.tgz"\nprintf 'npm notice packing\\n  t-1.tgz  \\n\\n'`);
    const dir = await fetchNpm('t', '1');
    expect(fs.readdirSync(dir).sort()).toEqual(['a.txt', 'b.txt']);
    expect(fs.readdirSync(path.dirname(dir)).sort()).toEqual(['.complete', 'package']);
  });

  it("a failing tool's line: stderr's first line trimmed; blank stderr gives way to the error's message", async () => {
    tool('npm', `printf '\\n  npm ERR! code E404   \\nnpm ERR! more\\n' >&2\nexit 1`);
    await expect(fetchNpm('t', '1', [])).rejects.toThrow(new DataError('could not fetch t@1 with npm pack (npm ERR! code E404); check that the npm registry is reachable, then run the build again'));
    tool('npm', `printf '   \\n' >&2\nexit 3`);
    const e = (await fetchNpm('t', '1', []).catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(DataError);
    // Node's execFile message for a failed command: "Command failed: <file> <args...>".
    expect(e.message).toMatch(/^could not fetch t@1 with npm pack \(Command failed: npm pack t@1 --pack-destination \S+ --silent --no-audit --no-fund\); check/);
  });

  describe('a .deb that does not unpack', () => {
    beforeEach(() => {
      tool('apt-get', `[ "$1" = download ] && printf 'x' > "$PWD/$3_1_all.deb"`);
    });
    const deb = () => path.join(root, 'cache', 'sources', 'deb-stamps', 'stamps_1_all.deb');
    const message = async () => {
      const e = (await fetchDeb('stamps', 'no-such-probe', ['*']).catch((x: unknown) => x)) as Error;
      expect(e).toBeInstanceOf(DataError);
      return e.message;
    };

    it("dpkg-deb's complaint, trimmed, when it comes first (dpkg-deb holds its output open a moment after it)", async () => {
      tool('dpkg-deb', `printf '\\n  dpkg-deb: error: not a Debian format archive\\n' >&2\nsleep 1\nexit 2`);
      expect(await message()).toBe(`could not unpack ${deb()} (dpkg-deb: error: not a Debian format archive); remove it and run the build again`);
    });

    it("tar's complaint when dpkg-deb says nothing and hands it bytes that are no tar", async () => {
      tool('dpkg-deb', `head -c 700 /dev/zero | tr '\\0' 'z'`);
      expect(await message()).toMatch(new RegExp(`^could not unpack ${esc(deb())} \\(tar: [^\\n]+\\); remove it and run the build again$`));
    });
  });
});
