// Fetches the large art packages on demand into the cache, so that installing coca does not pull
// them: npm tarballs with `npm pack`, Debian packages with `apt-get download`, each unpacked once
// (only the members a build reads) and marked complete so an interrupted unpack is redone.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DataError } from './errors.ts';
import { sourcesDir } from './paths.ts';

const run = promisify(execFile);

export interface FetchOptions {
  /** Called with a one-line note when something is downloaded or unpacked. */
  log?: (line: string) => void;
}

function doneMarker(dir: string): string {
  return path.join(dir, '.complete');
}

/**
 * The unpacked `package/` folder of an npm package, fetched if missing. `members` are tar
 * wildcards inside the tarball (e.g. `package/img/google/64/*`); omit to unpack everything.
 */
export async function fetchNpm(name: string, version: string, members: string[] = [], opts: FetchOptions = {}): Promise<string> {
  const key = `npm-${name.replace(/^@/, '').replace(/\//g, '-')}-${version}`;
  const dir = path.join(sourcesDir(), key);
  // A cache unpacked for fewer members (an older build read only package/en/data.json) is
  // fetched again rather than read as if the new members were missing from the package.
  const literal = members.filter((m) => !/[*?[]/.test(m));
  if (fs.existsSync(doneMarker(dir)) && literal.every((m) => fs.existsSync(path.join(dir, m)))) return path.join(dir, 'package');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  opts.log?.(`fetching ${name}@${version} from the npm registry`);
  let tgz: string;
  try {
    const { stdout } = await run('npm', ['pack', `${name}@${version}`, '--pack-destination', dir, '--silent', '--no-audit', '--no-fund'], {
      maxBuffer: 1 << 24,
    });
    tgz = path.join(dir, stdout.trim().split('\n').pop()!.trim());
  } catch (e) {
    throw new DataError(`could not fetch ${name}@${version} with npm pack (${firstLine(e)}); check that the npm registry is reachable, then run the build again`);
  }
  await untar(['-xzf', tgz, '-C', dir, '--wildcards', ...members]);
  fs.rmSync(tgz);
  fs.writeFileSync(doneMarker(dir), `${name}@${version}\n`);
  return path.join(dir, 'package');
}

/**
 * The root of an unpacked Debian package (its files under usr/...), fetched if missing. When the
 * package is already installed on this machine, `/` is returned and nothing is downloaded.
 */
export async function fetchDeb(name: string, probe: string, members: string[], opts: FetchOptions = {}): Promise<string> {
  if (fs.existsSync(path.join('/', probe))) return '/';
  const dir = path.join(sourcesDir(), `deb-${name}`);
  if (fs.existsSync(doneMarker(dir))) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  opts.log?.(`fetching Debian package ${name}`);
  const download = () => run('apt-get', ['download', '-qq', name], { cwd: dir, maxBuffer: 1 << 24 });
  try {
    await download();
  } catch (first) {
    if ((first as { code?: string }).code === 'ENOENT') {
      throw new DataError(`the built-in set needs Debian's apt-get and dpkg-deb to fetch ${name}; build it on Debian or Ubuntu and copy the built folder here, or pass --data with your own dataset`);
    }
    // A fresh machine often has empty package lists; refreshing them needs root.
    if (process.getuid?.() !== 0) {
      throw new DataError(`could not download Debian package ${name} (${firstLine(first)}); run 'sudo apt-get update' or 'sudo apt-get install ${name}', then the build again`);
    }
    try {
      await run('apt-get', ['update', '-qq'], { maxBuffer: 1 << 24 });
      await download();
    } catch (e) {
      throw new DataError(`could not download Debian package ${name} (${firstLine(e)}); this build needs Debian's package archive`);
    }
  }
  const deb = fs.readdirSync(dir).find((f) => f.endsWith('.deb'));
  if (!deb) throw new DataError(`apt-get download ${name} left no .deb in ${dir}; remove that folder and run the build again`);
  await pipeDebToTar(path.join(dir, deb), dir, members);
  fs.rmSync(path.join(dir, deb));
  fs.writeFileSync(doneMarker(dir), `${name}\n`);
  return dir;
}

async function untar(args: string[]): Promise<void> {
  try {
    await run('tar', args, { maxBuffer: 1 << 24 });
  } catch (e) {
    throw new DataError(`could not unpack ${args[1]} (${firstLine(e)}); remove it and run the build again`);
  }
}

function pipeDebToTar(deb: string, dest: string, members: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const dpkg = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', dest, '--wildcards', ...members], { stdio: ['pipe', 'ignore', 'pipe'] });
    dpkg.stdout.pipe(tar.stdin);
    let err = '';
    dpkg.stderr.on('data', (d: Buffer) => (err += d.toString()));
    tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
    tar.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new DataError(`could not unpack ${deb} (${err.trim().split('\n')[0] ?? `exit ${code}`}); remove it and run the build again`));
    });
    dpkg.on('error', (e) => reject(new DataError(`dpkg-deb is needed to unpack ${deb} (${e.message}); install dpkg`)));
    // Without this, a missing tar is an unhandled 'error' event: the build crashes with a stack.
    tar.on('error', (e) => reject(new DataError(`tar is needed to unpack ${deb} (${e.message}); install tar`)));
  });
}

function firstLine(e: unknown): string {
  const err = e as { stderr?: string; message?: string };
  const text = (err.stderr && err.stderr.trim()) || err.message || String(e);
  return text.split('\n')[0]!.trim();
}
