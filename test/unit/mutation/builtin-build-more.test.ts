// buildBuiltin on what builtin-build.test.ts's build does not have: a multilingual preset (the
// tokenizer learns every language's train captions and gets one token per language; items carry
// their translations), skin tones kept, Google's art, every game icon and every Fashion-MNIST
// picture, a stale temporary folder of this process, the build's timing, and a source set whose
// every picture fails (an empty training split is refused, nothing left behind). Offline: the
// sources are miniature packages in a cache marked complete (builtin-build-fixture.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBuiltin, checkBuildOut, type BuildPreset } from '../../../src/data/builtin/build.ts';
import { FMNIST_CLASSES } from '../../../src/data/builtin/fmnist.ts';
import { DataError } from '../../../src/data/errors.ts';
import { hashString } from '../../../src/data/rng.ts';
import { FORMAT } from '../../../src/data/store.ts';
import { readItems, writeMiniatureSources, type Item } from './builtin-build-fixture.ts';

let root: string;
const saved = { cache: process.env['COCA_CACHE'], path: process.env['PATH'] };
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-build-more-'));
  process.env['COCA_CACHE'] = path.join(root, 'cache');
  process.env['PATH'] = ''; // nothing may be fetched
});
afterEach(() => {
  process.env['PATH'] = saved.path;
  if (saved.cache === undefined) delete process.env['COCA_CACHE'];
  else process.env['COCA_CACHE'] = saved.cache;
  fs.rmSync(root, { recursive: true, force: true });
});

const installed = fs.existsSync('/usr/share/tuxpaint/stamps') || fs.existsSync('/usr/share/datasets/fashion-mnist');

describe.skipIf(installed)('buildBuiltin: languages, tones, every icon and picture', () => {
  it('learns the tokenizer on every language of the train captions, keeps tones and Google art, every icon and Fashion-MNIST picture; clears a stale temporary folder', async () => {
    await writeMiniatureSources(path.join(root, 'cache'));
    const preset: BuildPreset = { name: 'builtin-ru', sizes: [4], emojiStyles: ['google', 'twitter', 'openmoji', 'fluent'], tones: true, vocabSize: 300, multilingualVocabSize: 400, fmnist: 5, languages: ['en', 'ru'] };
    const out = path.join(root, 'out');
    // What an interrupted build of this process would have left: it must not reach the new build.
    const stale = `${out}.tmp-${process.pid}`;
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, 'left-over.jsonl'), 'from an interrupted build\n');
    const log: string[] = [];
    const t0 = performance.now();
    const { manifest } = await buildBuiltin({ preset, out, seed: 3, log: (l) => log.push(l) });
    const elapsed = (performance.now() - t0) / 1000;

    expect(fs.readdirSync(out)).not.toContain('left-over.jsonl');
    expect(fs.readdirSync(root).sort()).toEqual(['cache', 'out']);
    const items = Object.fromEntries(['train', 'val', 'test-concept', 'test-style', 'test-fmnist'].map((s) => [s, readItems(path.join(out, `${s}.jsonl`))])) as Record<string, Item[]>;
    const seen = [...items['train']!, ...items['val']!, ...items['test-concept']!];
    // Tones kept (the light-skinned wave of each datasource), Google's art beside Twemoji's, all three icons.
    const emoji = ['1f44b', '1f44b-1f3fb', '1f436', '1f431'];
    expect(seen.map((i) => i.id).sort()).toEqual([...emoji.map((e) => `google/${e}`), ...emoji.map((e) => `twitter/${e}`), 'openmoji/1f436', 'tuxpaint/nature/tree', 'game-icons/axe-in-stump', 'game-icons/sitting-dog', 'game-icons/tall-tower'].sort());

    // Russian names where emojibase and Tux Paint have them, in i18n; English stays the caption.
    const russian: Record<string, string> = { '1f436': 'морда собаки', '1f431': 'морда кошки', 'nature/tree': 'дерево' };
    for (const item of [...seen, ...items['test-style']!]) {
      const ru = russian[item.id.slice(item.id.indexOf('/') + 1)];
      expect(item.i18n, item.id).toEqual(ru === undefined ? undefined : { ru: [ru] });
    }
    const trainCaptions = items['train']!.reduce((n, i) => n + 1 + Object.keys(i.i18n ?? {}).length, 0);
    expect(items['train']!.some((i) => i.i18n)).toBe(true); // the seed puts a translated concept on the train side
    expect(log).toContain(`learning a 400-token byte-level BPE on ${trainCaptions} train captions in en, ru`);
    const tokenizer = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')) as { added_tokens: { content: string }[] };
    expect(tokenizer.added_tokens.map((t) => t.content)).toEqual(expect.arrayContaining(['[lang:en]', '[lang:ru]']));
    expect(manifest.languages).toEqual(['en', 'ru']);
    // manifest.json: the manifest returned, as a text file (a final newline).
    const text = fs.readFileSync(path.join(out, 'manifest.json'), 'utf8');
    expect(JSON.parse(text)).toEqual(manifest);
    expect(text.endsWith('}\n')).toBe(true);
    expect(manifest.tokenizer.vocabSize).toBeGreaterThan(259);
    expect(manifest.tokenizer.vocabSize).toBeLessThanOrEqual(400);

    // Every Fashion-MNIST picture when the preset asks for at least as many as there are, in order.
    const labels = [0, 1, 2, 3, 9];
    expect(items['test-fmnist']).toEqual(labels.map((l, i) => ({ id: `fmnist/${i}`, captions: [FMNIST_CLASSES[l]], label: l, style: 'fashion-mnist' })));
    // Each its own picture: the five sources' grey levels differ (12·(4i … 4i + 3)), so the five stored pictures do.
    const fm = fs.readFileSync(path.join(out, 'test-fmnist.4px.u8'));
    const pictures = [0, 1, 2, 3, 4].map((i) => fm.subarray(i * 48, (i + 1) * 48).toString('hex'));
    expect(new Set(pictures).size).toBe(5);
    expect(manifest.sources.map((s) => [s.name, s.pairs])).toEqual([
      ['emojibase-data', 0],
      ['openmoji', 1],
      ['emoji-datasource-google', 4],
      ['emoji-datasource-twitter', 4],
      ['@lobehub/fluent-emoji-3d', items['test-style']!.length],
      ['tuxpaint-stamps-default', 1],
      ['@iconify-json/game-icons', 3],
      ['dataset-fashion-mnist', 5],
    ]);
    // The build's time in seconds, to a tenth, within what the test saw.
    expect(manifest.build.seconds).toBeGreaterThanOrEqual(0);
    expect(manifest.build.seconds).toBeLessThanOrEqual(elapsed + 0.05);
    expect(Math.abs(manifest.build.seconds * 10 - Math.round(manifest.build.seconds * 10))).toBeLessThan(1e-9);
    expect(manifest.build.skipped).toBe(0);
    expect(log.some((l) => l.startsWith('warning'))).toBe(false);
    // Every picture written (no concurrency given: the defaults decode them), at count × 4² × 3 bytes.
    for (const [split, list] of Object.entries(items)) expect(fs.statSync(path.join(out, `${split}.4px.u8`)).size, split).toBe(list.length * 4 * 4 * 3);
    // All icons kept: in each split as the package lists them (by name), no seeded reordering.
    for (const list of Object.values(items)) {
      const icons = list.filter((i) => i.id.startsWith('game-icons/')).map((i) => i.id);
      expect(icons).toEqual([...icons].sort());
    }
    expect(seen.filter((i) => i.id.startsWith('game-icons/')).length).toBe(3);
  });

  it('keeps the game icons of least seeded hash; warns of the undecodable pictures naming the first three; refuses to replace what another command wrote meanwhile, or a build beside files of its own', async () => {
    const slugs = ['acorn', 'bat', 'castle', 'dragon', 'eagle', 'forge'];
    await writeMiniatureSources(path.join(root, 'cache'), { broken: true, noRussianStamp: true, icons: slugs });
    const preset: BuildPreset = { name: 'builtin-icons', sizes: [4], emojiStyles: ['google', 'twitter'], tones: false, gameIcons: 4, vocabSize: 300, multilingualVocabSize: 400, fmnist: 1, languages: ['en'] };
    // Into folders that do not exist yet: the build makes them.
    const out = path.join(root, 'new', 'deeper', 'out');
    const log: string[] = [];
    const { manifest } = await buildBuiltin({ preset, out, seed: 6, log: (l) => log.push(l) });
    const ids = ['train', 'val', 'test-concept'].flatMap((s) => readItems(path.join(out, `${s}.jsonl`)).map((i) => i.id));
    // The four of least hashString(id, seed), written out here, not the package's first four.
    const hashed = slugs.map((s) => `game-icons/${s}`).sort((a, b) => hashString(a, 6) - hashString(b, 6));
    expect(ids.sort()).toEqual(hashed.slice(0, 4).sort());
    // English only: no language token in the tokenizer.
    const tokenizer = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')) as { added_tokens: { content: string }[] };
    expect(tokenizer.added_tokens.filter((t) => t.content.startsWith('[lang:'))).toEqual([]);
    expect(manifest.languages).toEqual(['en']);
    expect(hashed.slice(0, 4).sort()).not.toEqual(hashed.slice(0, 4).map((_, i) => `game-icons/${slugs[i]}`)); // not vacuous
    // Google's and Twemoji's three emoji each, and the stamp: 7 undecodable, the first 3 named.
    // One Fashion-MNIST picture of five: the one of least hashString(`fm${i}`, seed), computed here.
    const fmPick = [0, 1, 2, 3, 4].sort((a, b) => hashString(`fm${a}`, 6) - hashString(`fm${b}`, 6))[0]!;
    expect(fmPick).not.toBe(0); // not vacuous
    expect(readItems(path.join(out, 'test-fmnist.jsonl')).map((i) => i.id)).toEqual([`fmnist/${fmPick}`]);
    expect(manifest.build.skipped).toBe(7);
    const warnings = log.filter((l) => l.startsWith('warning'));
    expect(warnings).toHaveLength(1);
    const [, count, first] = /^warning: skipped (\d+) pictures that could not be decoded, first: (.+)$/.exec(warnings[0]!)!;
    expect(count).toBe('7');
    expect(first!.split('; ').map((x) => x.slice(0, x.indexOf(' ('))).every((id) => /^(google|twitter)\/1f|^tuxpaint\//.test(id))).toBe(true);
    expect(first!.split('; ')).toHaveLength(3);

    // Four files a build does not write: the build stays, the message names three of them.
    const mine = ['a.txt', 'b.txt', 'c.txt', 'd.txt'];
    for (const f of mine) fs.writeFileSync(path.join(out, f), f);
    const err = await buildBuiltin({ preset, out, seed: 6 }).then(() => null, (e: Error) => e);
    const listed = /holds files a build does not write \((.+)\); move them out/.exec(err?.message ?? '')?.[1]?.split(', ');
    expect(listed).toHaveLength(3);
    for (const f of listed ?? []) expect(mine).toContain(f);
    expect(fs.readdirSync(root).sort()).toEqual(['cache', 'new']);
    expect(fs.readdirSync(path.join(root, 'new', 'deeper'))).toEqual(['out']);

    // Another command's output appearing at --out while the build runs is not replaced.
    const other = path.join(root, 'other');
    let claimed = false;
    const claim = () => {
      if (claimed) return;
      claimed = true;
      fs.mkdirSync(other);
      fs.writeFileSync(path.join(other, '.coca-output.json'), JSON.stringify({ command: 'coca train' }));
    };
    await expect(buildBuiltin({ preset, out: other, seed: 6, progress: claim })).rejects.toThrow(`--out ${other} holds the output of 'coca train', not of 'coca data build'; name a new folder`);
    expect(claimed).toBe(true);
    expect(fs.readdirSync(other)).toEqual(['.coca-output.json']);
    expect(fs.readdirSync(root).sort()).toEqual(['cache', 'new', 'other']);
  });

  it("passes its log to the fetches: a source missing from the cache is announced before npm is asked for it (no npm here, so the build stops, leaving nothing)", async () => {
    await writeMiniatureSources(path.join(root, 'cache'), { without: ['npm-iconify-json-game-icons-1.2.4'] });
    const preset: BuildPreset = { name: 'builtin-fetch', sizes: [4], emojiStyles: ['twitter'], tones: false, vocabSize: 300, multilingualVocabSize: 400, fmnist: 2, languages: ['en'] };
    const log: string[] = [];
    await expect(buildBuiltin({ preset, out: path.join(root, 'out'), seed: 3, log: (l) => log.push(l) })).rejects.toThrow(/^could not fetch @iconify-json\/game-icons@1\.2\.4 with npm pack /);
    expect(log).toEqual(['fetching @iconify-json/game-icons@1.2.4 from the npm registry']);
    expect(fs.readdirSync(root)).toEqual(['cache']);
  });

  it('an --out whose temporary sibling is a name too long for the file system: one line naming it, nothing left behind', async () => {
    await writeMiniatureSources(path.join(root, 'cache'));
    const preset: BuildPreset = { name: 'builtin-long', sizes: [4], emojiStyles: ['twitter'], tones: false, vocabSize: 300, multilingualVocabSize: 400, fmnist: 2, languages: ['en'] };
    // 250 characters pass as a folder name (at most 255); with ".tmp-<pid>" added they do not.
    const out = path.join(root, 'o'.repeat(250));
    const tmp = `${out}.tmp-${process.pid}`;
    const err = await buildBuiltin({ preset, out, seed: 3 }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err!.message.startsWith(`cannot create ${tmp} (ENAMETOOLONG`)).toBe(true);
    expect(err!.message).toMatch(/^[^\n]*\); choose an --out you can write to$/);
    expect(fs.readdirSync(root)).toEqual(['cache']);
  });

  it('refuses a build whose training split came out empty (every picture undecodable), leaving nothing behind', async () => {
    await writeMiniatureSources(path.join(root, 'cache'), { broken: true, noRussianStamp: true });
    const preset: BuildPreset = { name: 'builtin-empty', sizes: [4], emojiStyles: ['twitter', 'openmoji'], tones: false, gameIcons: 0, vocabSize: 300, multilingualVocabSize: 400, fmnist: 2, languages: ['en'] };
    const out = path.join(root, 'out');
    await expect(buildBuiltin({ preset, out, seed: 3 })).rejects.toThrow(/^the built-in training split came out empty; check the fetched sources under the cache folder$/);
    expect(fs.readdirSync(root)).toEqual(['cache']);
  });

  it('--out may be a build from before the output marker (a manifest.json of the dataset format), not a folder with any other manifest', () => {
    const legacy = path.join(root, 'legacy');
    fs.mkdirSync(legacy);
    fs.writeFileSync(path.join(legacy, 'manifest.json'), JSON.stringify({ format: FORMAT, name: 'builtin-small' }));
    fs.writeFileSync(path.join(legacy, 'train.jsonl'), '');
    expect(checkBuildOut(legacy)).toBe(fs.realpathSync(legacy));
    const other = path.join(root, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'manifest.json'), JSON.stringify({ format: 'something-else' }));
    expect(() => checkBuildOut(other)).toThrow(`--out ${other} already holds files that 'coca data build' did not write (manifest.json); name a new or empty folder, nothing was changed`);
  });
});
