// Where coca keeps its cache (src/data/paths.ts) and the bounded async map (src/data/pool.ts),
// against their headers: COCA_CACHE resolved, a leading ~ as the home folder and only then, the
// repository's .cache/coca otherwise; mapLimit with never more than `limit` calls in flight, each
// index once, results in index order whatever order the calls finish in.
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinDir, cacheRoot, sourcesDir } from '../../../src/data/paths.ts';
import { mapLimit } from '../../../src/data/pool.ts';

describe('the cache folder', () => {
  const saved = process.env['COCA_CACHE'];
  afterEach(() => {
    if (saved === undefined) delete process.env['COCA_CACHE'];
    else process.env['COCA_CACHE'] = saved;
  });

  it('is COCA_CACHE resolved, with a leading ~ for the home folder', () => {
    const cases: [string, string][] = [
      ['/srv/coca-cache', '/srv/coca-cache'],
      ['rel/cache', path.resolve('rel/cache')],
      ['~', os.homedir()],
      ['~/c', path.join(os.homedir(), 'c')],
      // Only a whole leading ~ is the home folder.
      ['~other/c', path.resolve('~other/c')],
      ['/a/~/b', '/a/~/b'],
    ];
    for (const [env, want] of cases) {
      process.env['COCA_CACHE'] = env;
      expect(cacheRoot(), env).toBe(want);
    }
    process.env['COCA_CACHE'] = '/srv/c';
    expect([sourcesDir(), builtinDir(false), builtinDir(true)]).toEqual(['/srv/c/sources', '/srv/c/data/builtin', '/srv/c/data/builtin-small']);
  });

  it("is the repository's .cache/coca when COCA_CACHE is unset or empty", () => {
    const repo = path.resolve(import.meta.dirname, '../../..');
    delete process.env['COCA_CACHE'];
    expect(cacheRoot()).toBe(path.join(repo, '.cache', 'coca'));
    process.env['COCA_CACHE'] = '';
    expect(cacheRoot()).toBe(path.join(repo, '.cache', 'coca'));
  });
});

describe('mapLimit', () => {
  /** Runs mapLimit over n calls that finish in reverse order, recording how many were in flight at most. */
  async function run(n: number, limit: number) {
    let inFlight = 0;
    let most = 0;
    const calls: number[] = [];
    const out = await mapLimit(n, limit, async (i) => {
      calls.push(i);
      most = Math.max(most, ++inFlight);
      // Later indices finish sooner.
      await new Promise((r) => setTimeout(r, 2 * (n - i)));
      inFlight--;
      return `r${i}`;
    });
    return { out, most, calls };
  }

  it('keeps at most `limit` calls in flight, calls each index once, and returns results in index order', async () => {
    const a = await run(7, 3);
    expect(a.out).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(a.most).toBe(3);
    expect([...a.calls].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // The first `limit` start at once, in order.
    expect(a.calls.slice(0, 3)).toEqual([0, 1, 2]);
    const b = await run(2, 5);
    expect([b.out, b.most]).toEqual([['r0', 'r1'], 2]);
    const c = await run(0, 4);
    expect([c.out, c.calls]).toEqual([[], []]);
    const d = await run(4, 1);
    expect([d.out, d.most, d.calls]).toEqual([['r0', 'r1', 'r2', 'r3'], 1, [0, 1, 2, 3]]);
  });
});
