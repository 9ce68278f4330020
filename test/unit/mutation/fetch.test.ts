// src/data/fetch.ts offline: `npm`, `apt-get` and `dpkg-deb` are stand-ins written here as shell
// scripts first on the PATH (tar is the real one), so the cache's key, its completeness check,
// which members are unpacked, the refresh-and-retry of apt-get as root and every failure's line
// are tested without a registry. Expected values are what fetch.ts's header and each message say.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { fetchDeb, fetchNpm } from '../../../src/data/fetch.ts';

let root: string;
let bin: string;
let calls: string;
const saved = { cache: process.env['COCA_CACHE'], path: process.env['PATH'] };

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-fetch-'));
  bin = path.join(root, 'bin');
  fs.mkdirSync(bin);
  calls = path.join(root, 'calls.log');
  fs.writeFileSync(calls, '');
  process.env['COCA_CACHE'] = path.join(root, 'cache');
  // The stand-ins first; tar (and sh's own tools) from the system.
  process.env['PATH'] = `${bin}:/usr/bin:/bin`;
});
afterEach(() => {
  vi.restoreAllMocks();
  process.env['PATH'] = saved.path;
  if (saved.cache === undefined) delete process.env['COCA_CACHE'];
  else process.env['COCA_CACHE'] = saved.cache;
  fs.rmSync(root, { recursive: true, force: true });
});

/** A shell script on the stand-in PATH that logs its arguments, then runs `body`. */
function tool(name: string, body: string): void {
  const file = path.join(bin, name);
  fs.writeFileSync(file, `#!/bin/sh\necho "${name} $*" >> '${calls}'\n${body}\n`);
  fs.chmodSync(file, 0o755);
}
const called = () => fs.readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean);

/** A folder of files (relative path → text), for tar to pack. */
function tree(dir: string, files: Record<string, string>): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
/** Every file under dir, relative, sorted. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else out.push(path.relative(dir, path.join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

describe('fetchNpm', () => {
  /** npm pack as it behaves: a notice, then the tarball's name on the last line of stdout. */
  function fakeNpm(pkg: Record<string, string>): void {
    const src = tree(path.join(root, 'src'), Object.fromEntries(Object.entries(pkg).map(([k, v]) => [`package/${k}`, v])));
    const tgz = path.join(root, 'pkg.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', src, 'package']);
    // $5 is the --pack-destination folder (pack NAME@VERSION --pack-destination DIR ...).
    tool('npm', `cp '${tgz}' "$4/lobehub-thing-1.1.0.tgz"\necho "npm notice packing"\necho "lobehub-thing-1.1.0.tgz"`);
  }

  it('packs NAME@VERSION into the cache, unpacks only the members asked, drops the tarball, marks it complete', async () => {
    fakeNpm({ 'a/1.webp': 'one', 'a/2.webp': 'two', 'b.json': '{}', 'c.txt': 'c' });
    const log: string[] = [];
    const dir = await fetchNpm('@lobehub/thing', '1.1.0', ['package/a/*', 'package/b.json'], { log: (l) => log.push(l) });
    const key = path.join(root, 'cache', 'sources', 'npm-lobehub-thing-1.1.0');
    expect(dir).toBe(path.join(key, 'package'));
    expect(files(key)).toEqual(['.complete', 'package/a/1.webp', 'package/a/2.webp', 'package/b.json']);
    expect(fs.readFileSync(path.join(key, '.complete'), 'utf8')).toBe('@lobehub/thing@1.1.0\n');
    expect(log).toEqual(['fetching @lobehub/thing@1.1.0 from the npm registry']);
    expect(called()).toEqual([`npm pack @lobehub/thing@1.1.0 --pack-destination ${key} --silent --no-audit --no-fund`]);
  });

  it('with no members, unpacks everything', async () => {
    fakeNpm({ 'a/1.webp': 'one', 'c.txt': 'c' });
    const dir = await fetchNpm('thing', '2', []);
    expect(files(path.dirname(dir))).toEqual(['.complete', 'package/a/1.webp', 'package/c.txt']);
    expect(path.basename(path.dirname(dir))).toBe('npm-thing-2');
  });

  it('a complete cache holding every literal member is used as it is; wildcards are not checked', async () => {
    fakeNpm({ 'b.json': '{}', 'x/c.webp': 'c' });
    await fetchNpm('thing', '1', ['package/b.json', 'package/x/*']);
    const log: string[] = [];
    expect(await fetchNpm('thing', '1', ['package/b.json', 'package/other/*'], { log: (l) => log.push(l) })).toBe(path.join(root, 'cache', 'sources', 'npm-thing-1', 'package'));
    expect(log).toEqual([]);
    expect(called()).toHaveLength(1);
  });

  it('an unpack cut short (no .complete) is fetched again from scratch', async () => {
    fakeNpm({ 'b.json': '{}' });
    const key = path.join(root, 'cache', 'sources', 'npm-thing-1');
    tree(key, { 'package/b.json': 'half', 'package/leftover.txt': 'x' });
    await fetchNpm('thing', '1', ['package/b.json']);
    expect(files(key)).toEqual(['.complete', 'package/b.json']);
    expect(fs.readFileSync(path.join(key, 'package', 'b.json'), 'utf8')).toBe('{}');
  });

  it('npm failing: one line with its first line of stderr', async () => {
    tool('npm', 'echo "npm ERR! code E404" >&2\necho "npm ERR! 404 Not Found" >&2\nexit 1');
    await expect(fetchNpm('thing', '1', [])).rejects.toThrow(
      new DataError('could not fetch thing@1 with npm pack (npm ERR! code E404); check that the npm registry is reachable, then run the build again'),
    );
  });

  it('a tarball tar cannot read: one line naming it', async () => {
    tool('npm', 'echo "not gzip" > "$4/t-1.tgz"\necho "t-1.tgz"');
    const tgz = path.join(root, 'cache', 'sources', 'npm-t-1', 't-1.tgz');
    const e = await fetchNpm('t', '1', []).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toMatch(new RegExp(`^could not unpack ${tgz.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\([^\\n]*gzip[^\\n]*\\); remove it and run the build again$`));
  });
});

describe('fetchDeb', () => {
  /** apt-get download writing NAME_1_all.deb (a plain tar here) into its working folder; dpkg-deb printing it. */
  function fakeApt(pkg: Record<string, string>, download = ''): void {
    const src = tree(path.join(root, 'deb-src'), pkg);
    const deb = path.join(root, 'pkg.tar');
    execFileSync('tar', ['-cf', deb, '-C', src, '.']);
    tool('apt-get', download || `[ "$1" = download ] && cp '${deb}' "$PWD/$3_1_all.deb"`);
    tool('dpkg-deb', '[ "$1" = --fsys-tarfile ] && cat "$2"');
  }
  const key = () => path.join(root, 'cache', 'sources', 'deb-stamps');

  it('a package installed on this machine is read where it is: / and nothing fetched', async () => {
    fakeApt({});
    // A path under / that is not under the working folder (the repository has bin/, not usr/bin/).
    expect(await fetchDeb('stamps', 'usr/bin', ['*'])).toBe('/');
    expect(called()).toEqual([]);
  });

  it('downloads, unpacks only the members asked, drops the .deb, marks it complete; then the cache', async () => {
    fakeApt({ 'usr/share/s/a.txt': 'a', 'usr/share/s/a.png': 'png', 'usr/share/doc/stamps/copyright': 'GPL' });
    const log: string[] = [];
    expect(await fetchDeb('stamps', 'usr/share/no-such-probe', ['*.txt', '*/copyright'], { log: (l) => log.push(l) })).toBe(key());
    expect(files(key())).toEqual(['.complete', 'usr/share/doc/stamps/copyright', 'usr/share/s/a.txt']);
    expect(fs.readFileSync(path.join(key(), '.complete'), 'utf8')).toBe('stamps\n');
    expect(log).toEqual(['fetching Debian package stamps']);
    expect(called()).toEqual(['apt-get download -qq stamps', `dpkg-deb --fsys-tarfile ${path.join(key(), 'stamps_1_all.deb')}`]);
    // Complete: read from the cache, nothing run.
    expect(await fetchDeb('stamps', 'usr/share/no-such-probe', ['*.txt'], { log: (l) => log.push(l) })).toBe(key());
    expect(called()).toHaveLength(2);
    expect(log).toHaveLength(1);
  });

  it('an unpack cut short (no .complete) is redone from scratch', async () => {
    fakeApt({ 'usr/a.txt': 'a' });
    tree(key(), { 'usr/a.txt': 'half', 'old.txt': 'x' });
    await fetchDeb('stamps', 'no-such-probe', ['*.txt']);
    expect(files(key())).toEqual(['.complete', 'usr/a.txt']);
  });

  it('without apt-get: what to do instead, in one line', async () => {
    process.env['PATH'] = bin; // nothing named apt-get there
    await expect(fetchDeb('stamps', 'no-such-probe', ['*'])).rejects.toThrow(
      new DataError("the built-in set needs Debian's apt-get and dpkg-deb to fetch stamps; build it on Debian or Ubuntu and copy the built folder here, or pass --data with your own dataset"),
    );
  });

  it('apt-get failing, not root: no refresh tried, the sudo commands named', async () => {
    fakeApt({}, 'echo "E: Unable to locate package stamps" >&2\nexit 100');
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    await expect(fetchDeb('stamps', 'no-such-probe', ['*'])).rejects.toThrow(
      new DataError("could not download Debian package stamps (E: Unable to locate package stamps); run 'sudo apt-get update' or 'sudo apt-get install stamps', then the build again"),
    );
    expect(called()).toEqual(['apt-get download -qq stamps']);
  });

  it('apt-get failing as root: the package lists refreshed and the download tried again', async () => {
    const src = tree(path.join(root, 'deb-src'), { 'usr/a.txt': 'a' });
    const deb = path.join(root, 'pkg.tar');
    execFileSync('tar', ['-cf', deb, '-C', src, '.']);
    // Empty package lists until `apt-get update` has run.
    const lists = path.join(root, 'lists-updated');
    fakeApt({}, `if [ "$1" = update ]; then touch '${lists}'; exit 0; fi\n[ -f '${lists}' ] || { echo "E: Unable to locate package $3" >&2; exit 100; }\ncp '${deb}' "$PWD/$3_1_all.deb"`);
    vi.spyOn(process, 'getuid').mockReturnValue(0);
    expect(await fetchDeb('stamps', 'no-such-probe', ['*.txt'])).toBe(key());
    expect(files(key())).toEqual(['.complete', 'usr/a.txt']);
    expect(called().filter((c) => c.startsWith('apt-get'))).toEqual(['apt-get download -qq stamps', 'apt-get update -qq', 'apt-get download -qq stamps']);
  });

  it('still failing after the refresh: the archive is needed', async () => {
    fakeApt({}, `[ "$1" = update ] && exit 0\necho "E: Unable to locate package $3" >&2; exit 100`);
    vi.spyOn(process, 'getuid').mockReturnValue(0);
    await expect(fetchDeb('stamps', 'no-such-probe', ['*'])).rejects.toThrow(
      new DataError("could not download Debian package stamps (E: Unable to locate package stamps); this build needs Debian's package archive"),
    );
  });

  it('apt-get that leaves no .deb', async () => {
    fakeApt({}, 'exit 0');
    await expect(fetchDeb('stamps', 'no-such-probe', ['*'])).rejects.toThrow(
      new DataError(`apt-get download stamps left no .deb in ${key()}; remove that folder and run the build again`),
    );
  });

  it('a .deb that does not unpack, and no dpkg-deb: one line each', async () => {
    fakeApt({});
    tool('dpkg-deb', 'echo "dpkg-deb: error: not a Debian format archive" >&2\nexit 2');
    const deb = path.join(key(), 'stamps_1_all.deb');
    const e = await fetchDeb('stamps', 'no-such-probe', ['*']).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(DataError);
    // tar, given nothing, fails too; either first line is the reason given.
    expect((e as Error).message).toMatch(new RegExp(`^could not unpack ${deb.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\((dpkg-deb: error: not a Debian format archive|tar: [^\\n]+)\\); remove it and run the build again$`));
    // No dpkg-deb on the PATH (tar there, alone in its own folder).
    fs.rmSync(path.join(bin, 'dpkg-deb'));
    fs.rmSync(key(), { recursive: true });
    const tarOnly = path.join(root, 'tar-only');
    fs.mkdirSync(tarOnly);
    fs.symlinkSync(execFileSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).trim(), path.join(tarOnly, 'tar'));
    process.env['PATH'] = `${bin}:${tarOnly}`;
    fs.writeFileSync(path.join(bin, 'apt-get'), fs.readFileSync(path.join(bin, 'apt-get'), 'utf8').replace('#!/bin/sh', '#!/bin/sh\nPATH=/usr/bin:/bin'));
    const e2 = await fetchDeb('stamps', 'no-such-probe', ['*']).catch((x: unknown) => x as Error);
    expect(e2).toBeInstanceOf(DataError);
    expect((e2 as Error).message).toBe(`dpkg-deb is needed to unpack ${deb} (spawn dpkg-deb ENOENT); install dpkg`);
  });

  it('no tar: one line, not a crash', async () => {
    fakeApt({ 'usr/a.txt': 'a' });
    // apt-get and dpkg-deb (the stand-ins) find cp and cat by their own PATH; fetch.ts finds no tar.
    for (const t of ['apt-get', 'dpkg-deb']) fs.writeFileSync(path.join(bin, t), fs.readFileSync(path.join(bin, t), 'utf8').replace('#!/bin/sh', '#!/bin/sh\nPATH=/usr/bin:/bin'));
    process.env['PATH'] = bin;
    const deb = path.join(key(), 'stamps_1_all.deb');
    await expect(fetchDeb('stamps', 'no-such-probe', ['*'])).rejects.toThrow(new DataError(`tar is needed to unpack ${deb} (spawn tar ENOENT); install tar`));
  });
});
