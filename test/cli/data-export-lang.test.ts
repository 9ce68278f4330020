// `coca data export --lang` (issue 21): a built set's pictures with their captions in another
// language, drawn among the pictures that have one; a language the set lacks is one line naming
// those it has, and nothing is written; English stays the default. No GPU: a 16 px built set
// written here (Russian on even items, Chinese on the first three), and an English-only one.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { dataCommand } from '../../src/cli/data.ts';
import { FORMAT, FORMAT_VERSION, ImageWriter, imageFile, writeItems, type StoredItem } from '../../src/data/store.ts';
import { CAPTIONS, CAPTIONS_RU, CAPTIONS_ZH } from '../infer/fixture.ts';
import { patternPixels } from '../unit/data/fixtures.ts';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'coca.js');
const N = 9;
let dir: string;

function writeSet(folder: string, languages: string[] | undefined): void {
  fs.mkdirSync(folder, { recursive: true });
  const w = new ImageWriter(imageFile(folder, 'test-concept', 16), 16);
  const items: StoredItem[] = [];
  for (let i = 0; i < N; i++) {
    w.write(patternPixels(16, 16, i * 29), i);
    const i18n: Record<string, string[]> = {};
    if (languages?.includes('ru') && i % 2 === 0) i18n['ru'] = [CAPTIONS_RU[i % 8]!];
    if (languages?.includes('zh') && i < 3) i18n['zh'] = [CAPTIONS_ZH[i % 8]!];
    items.push({ id: `test-concept/${i}`, captions: [CAPTIONS[i % 8]!], ...(Object.keys(i18n).length ? { i18n } : {}) });
  }
  w.close();
  writeItems(folder, 'test-concept', items);
  const manifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    name: path.basename(folder),
    imageSizes: [16],
    splits: { 'test-concept': { count: N, about: 'fixture' } },
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    seed: 0,
    sources: [],
    build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: 'fixture' },
    tokenizer: { file: 'tokenizer.json', vocabSize: 0 },
    ...(languages ? { languages } : {}),
  };
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify(manifest));
}

function coca(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, errLines: r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:') && !l.includes('--trace-warnings')) };
}

/** The command in this process (a spawn costs seconds): what it printed, or the error it threw. */
async function inProcess(args: string[]): Promise<{ stdout: string; error?: Error }> {
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void printed.push(a.join(' ')));
  const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    const abs = args.map((a, i) => (args[i - 1] === '--data' || args[i - 1] === '--out' ? path.join(dir, a) : a));
    await yargs().command(dataCommand).strict().fail((msg, err) => { throw err ?? new Error(msg); }).parseAsync(['data', 'export', ...abs]);
    return { stdout: printed.join('\n') };
  } catch (e) {
    return { stdout: printed.join('\n'), error: e as Error };
  } finally {
    log.mockRestore();
    quiet.mockRestore();
  }
}

/** captions.tsv as [item number, caption] rows. */
function exported(out: string): [number, string][] {
  return fs
    .readFileSync(path.join(dir, out, 'captions.tsv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [name, caption] = l.split('\t');
      expect(fs.existsSync(path.join(dir, out, name!)), name).toBe(true);
      return [Number(/^test-concept-(\d+)\.png$/.exec(name!)![1]), caption!];
    });
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-export-lang-'));
  writeSet(path.join(dir, 'multi'), ['en', 'ru', 'zh']);
  writeSet(path.join(dir, 'plain'), undefined);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('coca data export --lang', () => {
  it('writes the pictures with their Russian captions, drawn among those that have one', async () => {
    const r = await inProcess(['--data', 'multi', '--lang', 'ru', '--count', '4', '--out', 'ru']);
    expect(r.error).toBeUndefined();
    const rows = exported('ru');
    expect(rows).toHaveLength(4);
    for (const [i, caption] of rows) {
      expect(i % 2, `item ${i} has no Russian caption`).toBe(0);
      expect(caption).toBe(CAPTIONS_RU[i % 8]);
    }
    expect(r.stdout).toContain(`(${rows[0]![1]})`);
  });

  it('gives no more pictures than have a caption in the language', async () => {
    const r = await inProcess(['--data', 'multi', '--lang', 'zh', '--count', '5', '--out', 'zh']);
    expect(r.error).toBeUndefined();
    const rows = exported('zh').sort((a, b) => a[0] - b[0]);
    expect(rows).toEqual([0, 1, 2].map((i) => [i, CAPTIONS_ZH[i]]));
  });

  it('stays English by default', async () => {
    const r = await inProcess(['--data', 'multi', '--count', '3', '--out', 'en']);
    expect(r.error).toBeUndefined();
    for (const [i, caption] of exported('en')) expect(caption).toBe(CAPTIONS[i % 8]);
  });

  it("refuses a language the set lacks in one line naming those it has, writing nothing; --help names the option and its default", async () => {
    const fr = coca(['data', 'export', '--data', 'multi', '--lang', 'fr', '--out', 'fr']);
    expect(fr.status).not.toBe(0);
    expect(fr.errLines).toEqual(['coca: --lang fr: multi has captions in en, ru, zh; nothing was written']);
    expect(fs.existsSync(path.join(dir, 'fr'))).toBe(false);
    const ru = await inProcess(['--data', 'plain', '--lang', 'ru', '--out', 'plain-ru']);
    expect(ru.error?.message).toMatch(/^--lang ru: .*plain has captions in en; the built-in set has en, ru, zh, ms when built with them \(coca data build --languages en,ru,zh,ms\); nothing was written$/);
    expect(ru.error?.message.split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, 'plain-ru'))).toBe(false);
    const help = coca(['data', 'export', '--help']);
    expect(help.stdout).toMatch(/--lang\s+caption language of captions\.tsv[^]*en, ru, zh, ms[^]*\[default: "en"\]/);
  });
});
