// Where coca keeps what it fetches and builds. One root, overridable with COCA_CACHE, so CI and
// users can point it at a disk with room; by default it lives in the repository's ignored .cache/.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function cacheRoot(): string {
  const env = process.env['COCA_CACHE'];
  if (env) return path.resolve(env.replace(/^~(?=$|\/)/, os.homedir()));
  return path.join(repoRoot, '.cache', 'coca');
}

/** Extracted source packages (npm tarballs, Debian packages). */
export function sourcesDir(): string {
  return path.join(cacheRoot(), 'sources');
}

/** Built datasets: `builtin` (full) and `builtin-small`. */
export function builtinDir(small: boolean): string {
  return path.join(cacheRoot(), 'data', small ? 'builtin-small' : 'builtin');
}
