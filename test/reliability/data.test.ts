// Honest data (issue 14): pictures that cannot be decoded are counted and reported in one line
// with the first paths, not silently replaced by other pictures (and --strict stops at the
// first); the train/val/test split of a user's folder depends only on paths inside the folder.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainTokenizer } from '../../src/data/index.ts';
import { openUserDataset } from '../../src/data/readers/index.ts';
import { testGpu } from '../helpers/gpu.ts';
import { CAPTIONS, makeCheckpoint } from '../infer/fixture.ts';

let dir: string;
let ck: string;
let mixed: string;
const GOOD = 8;
const TRUNCATED = 4;

function coca(args: string[]) {
  const r = spawnSync(process.execPath, [path.resolve('bin/coca.js'), ...args], { encoding: 'utf8', timeout: 300_000 });
  // Dawn prints adapter limit warnings on stderr; they are not coca's output.
  const errLines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'));
  return { status: r.status, stdout: r.stdout, errLines };
}

/** A noisy picture (so no two are alike), as PNG bytes. */
async function picture(seed: number, side = 24): Promise<Buffer> {
  const px = Buffer.alloc(side * side * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7919 + seed * 104729) % 251;
  return sharp(px, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-data-honest-'));
  ck = path.join(dir, 'ck');
  await makeCheckpoint(await testGpu(), ck, 3);
  // A folder of GOOD pictures and TRUNCATED ones: their headers read (so opening the dataset
  // accepts them), their pixel data stops half way.
  mixed = path.join(dir, 'mixed');
  fs.mkdirSync(mixed);
  const lines: string[] = [];
  for (let i = 0; i < GOOD + TRUNCATED; i++) {
    const name = `${String(i).padStart(2, '0')}${i >= GOOD ? '-truncated' : ''}.png`;
    const png = await picture(i);
    fs.writeFileSync(path.join(mixed, name), i >= GOOD ? png.subarray(0, Math.floor(png.length / 2)) : png);
    lines.push(`${name}\t${CAPTIONS[i % CAPTIONS.length]}`);
  }
  fs.writeFileSync(path.join(mixed, 'captions.tsv'), lines.join('\n') + '\n');
  trainTokenizer(CAPTIONS, 300).save(path.join(mixed, 'tokenizer.json'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const decodeLine = (lines: string[]) => lines.filter((l) => /could not be decoded/.test(l));

describe('pictures that cannot be decoded', () => {
  it('coca eval counts them, names the first, and evaluates only the others', () => {
    const json = path.join(dir, 'eval.json');
    const r = coca(['eval', ck, '--data', mixed, '--split', 'all', '--no-baselines', '--max-len', '4', '--json', json]);
    expect(r.status, r.errLines.join('\n')).toBe(0);
    const warned = decodeLine(r.errLines);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(new RegExp(`\\b${TRUNCATED} of ${GOOD + TRUNCATED}\\b`));
    expect(warned[0]).toContain('08-truncated.png');
    const out = JSON.parse(fs.readFileSync(json, 'utf8')) as { sections: { title: string; sizes: { images: number } }[] };
    expect(out.sections[0]!.sizes.images).toBe(GOOD);
  });

  it("coca eval --captions writes each picture's greedy caption beside its references, the same caption `coca caption --beams 1` gives that file", async () => {
    const out = path.join(dir, 'sheet');
    const r = coca(['eval', ck, '--data', mixed, '--split', 'all', '--no-baselines', '--max-len', '4', '--captions', out]);
    expect(r.status, r.errLines.join('\n')).toBe(0);
    const records = JSON.parse(fs.readFileSync(path.join(out, 'captions.json'), 'utf8')) as { split: string; id: string; caption: string; references: string[] }[];
    // Only the decodable pictures, each with the caption its line of captions.tsv gives it.
    expect(records.map((x) => path.relative(mixed, x.id)).sort()).toEqual(Array.from({ length: GOOD }, (_, i) => `${String(i).padStart(2, '0')}.png`));
    for (const x of records) {
      expect(x.split).toBe('all');
      expect(x.references).toEqual([CAPTIONS[Number(path.basename(x.id).slice(0, 2)) % CAPTIONS.length]]);
    }
    // A model that said nothing would make the comparison below empty.
    expect(records.slice(0, 3).every((x) => x.caption.length > 0)).toBe(true);
    const files = records.slice(0, 3).map((x) => x.id);
    const direct = coca(['caption', '--checkpoint', ck, '--beams', '1', '--max-len', '4', ...files]);
    expect(direct.status, direct.errLines.join('\n')).toBe(0);
    const said = new Map(direct.stdout.trim().split('\n').map((l) => l.split('\t') as [string, string]).map(([f, c]) => [path.basename(f), c]));
    for (const x of records.slice(0, 3)) expect(x.caption).toBe(said.get(path.basename(x.id)));
    const html = fs.readFileSync(path.join(out, 'captions.html'), 'utf8');
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(GOOD);
    for (const x of records) expect(html).toContain(x.references[0]!.replace(/&/g, '&amp;'));
    // The sheet's folder is the command's own: a second run may write it again, a user's folder may not be used.
    expect(coca(['eval', ck, '--data', mixed, '--split', 'all', '--no-baselines', '--max-len', '2', '--max-items', '2', '--captions', out]).status).toBe(0);
    const refused = coca(['eval', ck, '--data', mixed, '--split', 'all', '--no-baselines', '--max-len', '2', '--captions', mixed]);
    expect(refused.status).not.toBe(0);
    expect(refused.errLines.at(-1)).toMatch(/--captions/);
  });

  it('coca eval --strict stops at the first, in one line, with a non-zero exit', () => {
    const r = coca(['eval', ck, '--data', mixed, '--split', 'all', '--no-baselines', '--max-len', '4', '--strict']);
    expect(r.status).not.toBe(0);
    expect(r.errLines.filter((l) => !/^coca eval:/.test(l))).toHaveLength(1);
    expect(r.errLines.join('\n')).toMatch(/-truncated\.png/);
  });

  it('coca train counts them in one line with the first paths; --strict stops', () => {
    const config = path.join(dir, 'micro.json');
    fs.copyFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), config);
    // The folder's own split puts most pictures in train; 6 steps of 2 draw every one of them.
    const args = ['train', '--config', config, '--data', mixed, '--steps', '6', '--batch', '2', '--val-every', '1000'];
    const r = coca([...args, '--out', path.join(dir, 'run')]);
    expect(r.status, r.errLines.join('\n')).toBe(0);
    const all = [...r.stdout.split('\n'), ...r.errLines];
    const warned = all.filter((l) => /\d+ pictures? could not be decoded/.test(l));
    expect(warned.length).toBeGreaterThan(0);
    expect(warned.at(-1)).toMatch(/-truncated\.png/);
    const strict = coca([...args, '--out', path.join(dir, 'run-strict'), '--strict']);
    expect(strict.status).not.toBe(0);
    expect(strict.errLines.join('\n')).toMatch(/-truncated\.png/);
    expect(strict.errLines.filter((l) => /^\s+at /.test(l))).toEqual([]);
  });
});

describe('splits of a user folder', () => {
  it('are the same wherever the folder lies: copied or moved', async () => {
    const a = path.join(dir, 'place-a', 'set');
    fs.mkdirSync(path.join(a, 'pics'), { recursive: true });
    const png = await picture(1, 4);
    const lines: string[] = [];
    for (let i = 0; i < 80; i++) {
      fs.writeFileSync(path.join(a, 'pics', `p${i}.png`), png);
      lines.push(`pics/p${i}.png\tpicture number ${i}`);
    }
    fs.writeFileSync(path.join(a, 'captions.tsv'), lines.join('\n') + '\n');
    const splits = async (root: string) => {
      const out: Record<string, string[]> = {};
      for (const split of ['train', 'val', 'test']) {
        const ds = await openUserDataset(root, { split, imageSize: 8, seed: 0, warn: () => {} }).catch(() => null);
        out[split] = ds ? Array.from({ length: ds.length }, (_, i) => path.relative(root, ds.meta(i).id)).sort() : [];
      }
      return out;
    };
    const here = await splits(a);
    expect(here['test']!.length + here['val']!.length).toBeGreaterThan(0);
    const copied = path.join(dir, 'elsewhere', 'deeper', 'copy');
    fs.cpSync(a, copied, { recursive: true });
    expect(await splits(copied)).toEqual(here);
    const moved = path.join(dir, 'moved');
    fs.renameSync(a, moved);
    expect(await splits(moved)).toEqual(here);
  });
});
