// `coca caption | retrieve | index build | classify` as a user meets them: output on good
// input; on bad input (missing file, corrupt picture, empty labels, unknown option, an index of
// other weights) one line saying what is wrong and a non-zero exit.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';

let dir: string;
let ck: string;
let other: string;
let pics: Awaited<ReturnType<typeof makePictures>>;

function coca(args: string[]) {
  const r = spawnSync(process.execPath, [path.resolve('bin/coca.js'), ...args], { encoding: 'utf8', cwd: dir, timeout: 120_000 });
  // Dawn prints adapter limit warnings on stderr; they are not coca's output.
  const errLines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'));
  return { status: r.status, stdout: r.stdout, errLines };
}

beforeAll(async () => {
  const gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-infer-cli-'));
  ck = path.join(dir, 'ck');
  other = path.join(dir, 'other');
  await makeCheckpoint(gpu, ck, 3);
  await makeCheckpoint(gpu, other, 4);
  pics = await makePictures(path.join(dir, 'pics'));
  fs.rmSync(pics.corrupt);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('coca caption', () => {
  it('--json gives per-token log-probs; --attention writes a picture', () => {
    const png = path.join(dir, 'att.png');
    const r = coca(['caption', pics.red, pics.blue, '--checkpoint', ck, '--beams', '2', '--max-len', '6', '--json', '--attention', png]);
    expect(r.errLines).toEqual([]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { captions: { image: string; score: number; tokens: { id: number; logprob: number }[] }[] };
    expect(out.captions).toHaveLength(2);
    for (const c of out.captions) {
      expect(c.tokens.length).toBeGreaterThan(0);
      const sum = c.tokens.reduce((a, t) => a + t.logprob, 0);
      expect(c.score).toBeCloseTo(sum / c.tokens.length, 10);
    }
    expect(fs.readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  });

  it.each([
    ['a missing file', () => ['caption', path.join(dir, 'missing.jpg'), '--checkpoint', ck], /^coca: .*missing\.jpg: no such file$/],
    ['a corrupt picture', () => ['caption', writeCorrupt(), '--checkpoint', ck], /^coca: cannot decode image .*broken\.png/],
    ['a missing checkpoint', () => ['caption', pics.red, '--checkpoint', path.join(dir, 'nothing')], /^coca: checkpoint .*nothing does not exist/],
    ['sampling with beams', () => ['caption', pics.red, '--checkpoint', ck, '--beams', '3', '--top-k', '5'], /^coca: sampling draws one caption per image/],
    ['too many beams', () => ['caption', pics.red, '--checkpoint', ck, '--beams', '100000'], /^coca: --beams must be an integer from 1 to 32, got 100000$/],
    ['empty labels', () => ['classify', pics.red, '--labels', ' , ', '--checkpoint', ck], /^coca: --labels holds no labels/],
    ['an index of other weights', () => ['retrieve', '--text', 'a dog', '--index', buildIndex(), '--checkpoint', other], /^coca: .* was built with another checkpoint/],
  ])('%s: one line, exit 1', (_what, args, message) => {
    const r = coca(args());
    expect(r.status).toBe(1);
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toMatch(message);
  });

  it('an unknown option: usage and exit 2', () => {
    const r = coca(['caption', pics.red, '--bogus', '3']);
    expect(r.status).toBe(2);
    expect(r.errLines.at(-1)).toMatch(/^coca: Unknown argument: bogus$/);
  });
});

describe('coca index build, retrieve, classify', () => {
  it('index a folder, then rank it by a text and rank texts by a picture', () => {
    const ix = buildIndex();
    const r = coca(['retrieve', '--text', 'a red square', '--index', ix, '-k', '2', '--json', '--html', path.join(dir, 'r.html')]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { score: number; path: string }[] };
    expect(out.results).toHaveLength(2);
    expect(out.results[0]!.score).toBeGreaterThanOrEqual(out.results[1]!.score);
    expect(fs.readFileSync(path.join(dir, 'r.html'), 'utf8')).toMatch(/data:image\/png;base64/);
    fs.writeFileSync(path.join(dir, 'texts.txt'), 'a red square\na blue circle\na dog\n');
    const q = coca(['retrieve', '--image', pics.red, '--texts', 'texts.txt', '--checkpoint', ck]);
    expect(q.status).toBe(0);
    expect(q.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('classify prints the top labels with probabilities', () => {
    const r = coca(['classify', pics.red, pics.wide, '--labels', 'red,blue,green', '--checkpoint', ck, '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { labels: { p: number }[] }[] };
    for (const res of out.results) expect(res.labels.reduce((a, l) => a + l.p, 0)).toBeCloseTo(1, 6);
  });
});

let built: string | null = null;
function buildIndex(): string {
  if (built) return built;
  const out = path.join(dir, 'index');
  const r = coca(['index', 'build', 'pics', '--checkpoint', ck, '--out', out]);
  expect(r.status, r.errLines.join('\n')).toBe(0);
  expect(r.stdout).toMatch(/^index .*index: 4 images of pics, 24-d/m);
  // Without a terminal, progress is plain lines (never \r-joined into one endless line).
  expect(r.errLines.join('\n')).not.toContain('\r');
  expect(r.errLines.at(-1)).toMatch(/^index 4\/4 \(100 %\)$/);
  return (built = out);
}

function writeCorrupt(): string {
  const f = path.join(dir, 'broken.png');
  fs.writeFileSync(f, Buffer.from('\x89PNG\r\n\x1a\nnot really a png'));
  return f;
}
