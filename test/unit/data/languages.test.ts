// Captions in several languages: the language tokens of a multilingual tokenizer, the loader's
// choice of caption language, the split that keeps a concept on one side in every language, and a
// tokenizer without language tokens left exactly as it was.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { emojiSources } from '../../../src/data/builtin/emoji.ts';
import { sourcesDir } from '../../../src/data/paths.ts';
import { fetchNpm } from '../../../src/data/fetch.ts';
import { FORMAT, FORMAT_VERSION } from '../../../src/data/store.ts';
import { sameBuild } from '../../../src/cli/data.ts';
import { splitPairs, storedItem } from '../../../src/data/builtin/build.ts';
import { readStampText } from '../../../src/data/builtin/tuxpaint.ts';
import type { SourcePair } from '../../../src/data/builtin/types.ts';
import { detectLanguage } from '../../../src/data/lang.ts';
import { queryLanguage } from '../../../src/infer/language.ts';
import { BatchLoader } from '../../../src/data/loader.ts';
import { groupItems } from '../../../src/data/split.ts';
import { normaliseCaption } from '../../../src/data/text.ts';
import { DataError } from '../../../src/data/errors.ts';
import { trainTokenizer, type Tokenizer } from '../../../src/data/tokenizer.ts';
import { MemoryDataset, testPreprocess } from './fixtures.ts';

const EN = ['dog face', 'cat face', 'hot dog', 'man firefighter', 'flag: iceland', 'waving hand: light skin tone'];
const RU = ['морда собаки', 'морда кошки', 'хот-дог', 'пожарный-мужчина', 'флаг: исландия', 'машет рукой: очень светлый тон кожи'];
const ZH = ['狗脸', '猫脸', '热狗', '男消防员', '旗: 冰岛', '挥手: 较浅肤色'];
const MS = ['muka anjing', 'muka kucing', 'hot dog', 'ahli bomba lelaki', 'bendera: iceland', 'lambai tangan: ton kulit cerah'];

describe('multilingual tokenizer', () => {
  let multi: Tokenizer;
  let english: Tokenizer;
  beforeAll(() => {
    const corpus = Array.from({ length: 10 }, () => [...EN, ...RU, ...ZH, ...MS]).flat();
    multi = trainTokenizer(corpus, 700, ['en', 'ru', 'zh', 'ms']);
    english = trainTokenizer(Array.from({ length: 10 }, () => EN).flat(), 400);
  });

  it('has one token per language after the merges, and keeps the specials at 0, 1, 2', () => {
    expect(multi.languages).toEqual(['en', 'ru', 'zh', 'ms']);
    expect([multi.padId, multi.bosId, multi.eosId]).toEqual([0, 1, 2]);
    const ids = multi.languages.map((l) => multi.languagePrefix(l)[0]!);
    // The last four ids, in order, one each.
    expect(ids).toEqual([0, 1, 2, 3].map((k) => multi.vocabSize - 4 + k));
    expect(multi.vocabSize).toBeLessThanOrEqual(700);
    expect(english.languages).toEqual([]);
  });

  it('round-trips Cyrillic, Chinese and Malay captions (and unseen text in them)', () => {
    const unseen = ['Собака на доске для серфинга', '一只狗在冲浪板上', 'anjing di atas papan luncur', 'Ёж и щётка', '繁體與简体'];
    for (const [lang, texts] of [['ru', RU], ['zh', ZH], ['ms', MS], ['en', EN], ['ru', unseen], ['zh', unseen]] as const) {
      for (const t of texts) expect(multi.decode(multi.encode(t, undefined, lang))).toBe(normaliseCaption(t));
    }
  });

  it('puts the language token right after [SOT]: English when none is given', () => {
    const ru = multi.encode('морда собаки', 32, 'ru');
    expect(ru[0]).toBe(multi.bosId);
    expect(ru[1]).toBe(multi.vocabSize - 3);
    expect(ru[ru.length - 1]).toBe(multi.eosId);
    expect(multi.encode('dog face')[1]).toBe(multi.vocabSize - 4);
    expect(multi.encode('狗脸', 32, 'zh')[1]).toBe(multi.vocabSize - 2);
    // The body is the same ids whatever the language token.
    expect(multi.encode('hot dog', 32, 'ms').slice(2)).toEqual(multi.encode('hot dog', 32, 'en').slice(2));
    // Truncation keeps [SOT] [lang] … [EOT] within the context.
    const cut = multi.encode('машет рукой: очень светлый тон кожи', 5, 'ru');
    expect(cut.length).toBe(5);
    expect([cut[0], cut[1], cut[4]]).toEqual([multi.bosId, multi.vocabSize - 3, multi.eosId]);
    const rows = multi.encodeBatch(['dog face', 'морда собаки'], 8, ['en', 'ru']);
    expect([rows[1], rows[9]]).toEqual([multi.vocabSize - 4, multi.vocabSize - 3]);
  });

  it('never reads a language token typed in a caption, and searches start with it and never generate one', () => {
    const ids = multi.encode('a [lang:ru] b', undefined, 'en');
    expect(ids.filter((i) => i >= multi.vocabSize - 4)).toEqual([multi.vocabSize - 4]);
    expect(multi.decode([multi.bosId, multi.vocabSize - 3, ...multi.encode('морда', undefined, 'ru').slice(2)])).toBe('морда');
    const s = multi.searchIds('zh');
    expect(s.prefix).toEqual([multi.vocabSize - 2]);
    expect(s.banned?.sort()).toEqual([0, 1, 2, 3].map((k) => multi.vocabSize - 4 + k));
  });

  it('refuses a language it has no token for in one line that names those it has', () => {
    expect(() => multi.encode('x', 8, 'id')).toThrow(DataError);
    expect(() => multi.searchIds('fr')).toThrow(/^this model's tokenizer has no language 'fr'; it has en, ru, zh, ms$/);
  });

  it('leaves a tokenizer without language tokens unchanged: no token, English accepted, others refused', () => {
    const plain = english.encode('dog face', 16);
    expect(english.encode('dog face', 16, 'en')).toEqual(plain);
    expect(plain[0]).toBe(english.bosId);
    expect(english.decode(plain)).toBe('dog face');
    expect(english.searchIds()).toEqual({ sot: 1, eot: 2, pad: 0 });
    expect(english.searchIds('en')).toEqual({ sot: 1, eot: 2, pad: 0 });
    expect(() => english.searchIds('ru')).toThrow(DataError);
    const msg = (() => {
      try {
        english.encode('морда', 8, 'ru');
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(msg).toMatch(/no language tokens/);
    expect(msg.split('\n')).toHaveLength(1);
  });
});

describe('script detection for queries', () => {
  it('tells Cyrillic and Han, and leaves Latin script undecided', () => {
    expect(detectLanguage('собака')).toBe('ru');
    expect(detectLanguage('狗')).toBe('zh');
    expect(detectLanguage('dog')).toBeUndefined();
    expect(detectLanguage('anjing')).toBeUndefined();
    expect(detectLanguage('hot-dog хот-дог')).toBe('ru');
  });

  it("picks a query's language: --lang first, then the script where the model has it, else English; none for a model without language tokens", () => {
    const multi = trainTokenizer([...EN, ...RU, ...ZH, ...MS], 500, ['en', 'ru', 'zh', 'ms']);
    const enRu = trainTokenizer([...EN, ...RU], 500, ['en', 'ru']);
    const plain = trainTokenizer(EN, 400);
    expect(queryLanguage(multi, 'собака')).toBe('ru');
    expect(queryLanguage(multi, '狗')).toBe('zh');
    expect(queryLanguage(multi, 'anjing')).toBe('en');
    expect(queryLanguage(multi, 'anjing', 'ms')).toBe('ms');
    expect(queryLanguage(multi, 'собака', 'en')).toBe('en');
    expect(queryLanguage(enRu, '狗')).toBe('en');
    expect(queryLanguage(plain, 'собака')).toBeUndefined();
    expect(queryLanguage(plain, 'dog', 'en')).toBe('en');
    expect(() => queryLanguage(plain, 'собака', 'ru')).toThrow(/no language tokens/);
    expect(() => queryLanguage(multi, 'x', 'id')).toThrow(/no language 'id'; it has en, ru, zh, ms/);
  });
});

/** Items whose captions exist in English and, for even items, in Russian and Chinese. */
class TranslatedDataset extends MemoryDataset {
  readonly languages = ['en', 'ru', 'zh'];
  captionsIn(i: number, lang: string): readonly string[] {
    if (lang === 'en') return this.captions(i);
    return i % 2 === 0 ? [`${lang === 'ru' ? 'предмет' : '物品'} ${i}`] : [];
  }
}

describe('loader with caption languages', () => {
  let multi: Tokenizer;
  let english: Tokenizer;
  beforeAll(() => {
    const corpus = Array.from({ length: 40 }, (_, i) => [`item ${i} caption 0`, `предмет ${i}`, `物品 ${i}`]).flat();
    multi = trainTokenizer(corpus, 600, ['en', 'ru', 'zh', 'ms']);
    english = trainTokenizer(corpus.filter((c) => c.startsWith('item')), 400);
  });
  const opts = (tokenizer: Tokenizer, train = true) => ({ batchSize: 8, contextLength: 12, tokenizer, preprocess: testPreprocess(8), seed: 3, train, workers: 0 });

  it('draws captions in every language an item has, each with its own token after [SOT]', async () => {
    const ds = new TranslatedDataset(16);
    const loader = new BatchLoader(ds, opts(multi));
    const seen = new Set<string>();
    for (let k = 0; k < 6; k++) {
      const b = await loader.next();
      for (let r = 0; r < b.rows; r++) {
        const i = b.indices[r]!;
        const lang = b.langs[r]!;
        seen.add(lang);
        expect(ds.captionsIn(i, lang)).toContain(b.captions[r]);
        const row = b.tokens.subarray(r * 12, (r + 1) * 12);
        expect(row[1]).toBe(multi.languagePrefix(lang)[0]);
        expect(multi.decode(row)).toBe(b.captions[r]);
        // Odd items have no translation: always English.
        if (i % 2 === 1) expect(lang).toBe('en');
      }
    }
    expect([...seen].sort()).toEqual(['en', 'ru', 'zh']);
    await loader.close();
  });

  it('evaluates on the first English caption, and an English tokenizer trains as if there were no translations', async () => {
    const ds = new TranslatedDataset(16);
    const ev = await new BatchLoader(ds, opts(multi, false)).next();
    expect(ev.langs.every((l) => l === 'en')).toBe(true);
    expect(ev.captions).toEqual(Array.from(ev.indices, (i) => ds.captions(i)[0]));
    const a = await new BatchLoader(ds, opts(english)).next();
    const b = await new BatchLoader(new MemoryDataset(16), opts(english)).next();
    expect(a.captions).toEqual(b.captions);
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(a.langs.every((l) => l === 'en')).toBe(true);
  });
});

describe('split by concept, then expand languages', () => {
  const pair = (id: string, caption: string, translations?: Record<string, string>, style = 'twitter'): SourcePair => ({ id, style, caption, link: id, tone: false, image: { path: `${id}.png` }, ...(translations ? { translations } : {}) });

  it('joins two concepts whose English names differ but whose translation is the same', () => {
    const groups = groupItems([pair('a', 'sofa', { ru: 'диван' }), pair('b', 'couch', { ru: 'Диван' }), pair('c', 'chair', { ru: 'стул' })]);
    expect(groups[0]).toBe(groups[1]);
    expect(groups[2]).not.toBe(groups[0]);
  });

  it('keeps every language of a held-out concept out of train, and stores translations beside the English caption', () => {
    const pairs: SourcePair[] = [];
    for (let c = 0; c < 400; c++) {
      // Every tenth concept shares its Russian name with the next one.
      const ru = `предмет ${c % 10 === 0 ? c + 1 : c}`;
      for (const style of ['twitter', 'openmoji', 'fluent']) pairs.push({ ...pair(`${style}/${c}`, `thing ${c}`, { ru, zh: `东西 ${c}` }, style), link: `emoji:${c}` });
    }
    const s = splitPairs(pairs, 5);
    for (const lang of ['ru', 'zh']) {
      const train = new Set(s.train.map((p) => p.translations![lang]));
      for (const held of [...s.val, ...s['test-concept']]) expect(train.has(held.translations![lang]), `${lang} ${held.translations![lang]}`).toBe(false);
    }
    const item = storedItem(s['test-concept'][0]!);
    expect(item.captions).toEqual([s['test-concept'][0]!.caption]);
    expect(Object.keys(item.i18n!).sort()).toEqual(['ru', 'zh']);
    expect(storedItem({ ...s.train[0]!, translations: undefined }).i18n).toBeUndefined();
  });
});

describe('Tux Paint translations', () => {
  it('takes ru, zh_CN (as zh) and ms lines, and nothing for a language the file lacks', () => {
    const txt = 'A US 25 cent piece ($.25) called a quarter.\nms.utf8=Sekeping duit 25 sen US($.25) dipanggil quarter.\nru.utf8=25 центов США («четвертак»).\nzh_TW.utf8=美國的二角五分錢\nzh_CN.utf8=美元二十五分硬币。\n';
    expect(readStampText(txt, ['en', 'ru', 'zh', 'ms'])).toEqual({
      caption: 'a us 25 cent piece ($.25) called a quarter.',
      translations: { ru: '25 центов сша («четвертак»).', zh: '美元二十五分硬币。', ms: 'sekeping duit 25 sen us($.25) dipanggil quarter.' },
    });
    expect(readStampText('A cat.\nru.utf8=Кошка.\n', ['en', 'zh']).translations).toEqual({});
  });
});

// The real sources, where set-up has fetched them (CI always has): the labels must be the
// emojibase locale files' own, read here straight from the package rather than through emoji.ts.
const emojibaseDir = path.join(sourcesDir(), 'npm-emojibase-data-17.0.0', 'package');
const fetched = ['ru', 'zh', 'ms'].every((l) => fs.existsSync(path.join(emojibaseDir, l, 'data.json'))) && fs.existsSync(path.join(sourcesDir(), 'npm-emoji-datasource-twitter-16.0.0', '.complete'));

describe.skipIf(!fetched && !process.env.CI)('emoji captions from the emojibase-data locales', () => {
  it('gives each Twemoji picture its CLDR name in ru, zh and ms, as the locale files have it', async () => {
    const { pairs } = await emojiSources(['twitter'], {}, ['en', 'ru', 'zh', 'ms']);
    const byLang: Record<string, Map<string, string>> = {};
    for (const lang of ['en', 'ru', 'zh', 'ms']) {
      const entries = JSON.parse(fs.readFileSync(path.join(emojibaseDir, lang, 'data.json'), 'utf8')) as { hexcode: string; label: string; skins?: { hexcode: string; label: string }[] }[];
      const m = new Map<string, string>();
      for (const e of entries) for (const v of [e, ...(e.skins ?? [])]) m.set(v.hexcode.toLowerCase().replace(/-fe0f/g, ''), v.label);
      byLang[lang] = m;
    }
    const dog = pairs.find((p) => p.id === 'twitter/1f436')!;
    expect(dog.caption).toBe('dog face');
    expect(dog.translations).toEqual({ ru: 'морда собаки', zh: '狗脸', ms: 'muka anjing' });
    let checked = 0;
    for (const p of pairs) {
      const hex = p.id.slice('twitter/'.length);
      if (!byLang['en']!.has(hex)) continue;
      for (const lang of ['ru', 'zh', 'ms']) expect(p.translations?.[lang], `${p.id} ${lang}`).toBe(normaliseCaption(byLang[lang]!.get(hex)!));
      checked++;
    }
    expect(checked).toBeGreaterThan(3000);
  });

  it('gives no translation when the build asks for English only', async () => {
    const { pairs } = await emojiSources(['twitter'], {}, ['en']);
    expect(pairs.length).toBeGreaterThan(3000);
    expect(pairs.some((p) => p.translations)).toBe(false);
  });
});

describe('coca data build --if-missing and languages', () => {
  it('keeps a build made with the languages asked for, and redoes one from before languages (English only) when more are asked', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-if-missing-'));
    try {
      const manifest = { format: FORMAT, version: FORMAT_VERSION, name: 'builtin', imageSizes: [64], splits: {}, mean: [0, 0, 0], std: [1, 1, 1], seed: 0, sources: [], build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: 'builtin' }, tokenizer: { file: 'tokenizer.json', vocabSize: 2048 } };
      fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
      expect(sameBuild(dir, 'builtin', 0, ['en'])).toBe(true);
      expect(sameBuild(dir, 'builtin', 0, ['en', 'ru', 'zh', 'ms'])).toBe(false);
      fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...manifest, languages: ['en', 'ru', 'zh', 'ms'] }));
      expect(sameBuild(dir, 'builtin', 0, ['en', 'ru', 'zh', 'ms'])).toBe(true);
      expect(sameBuild(dir, 'builtin', 0, ['en'])).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a source cache unpacked for fewer files', () => {
  it('is fetched again when a file now asked for is missing (an older build unpacked only en/data.json)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-fetch-'));
    const saved = { cache: process.env['COCA_CACHE'], path: process.env['PATH'] };
    try {
      process.env['COCA_CACHE'] = root;
      const dir = path.join(root, 'sources', 'npm-emojibase-data-17.0.0');
      fs.mkdirSync(path.join(dir, 'package', 'en'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'package', 'en', 'data.json'), '[]');
      fs.writeFileSync(path.join(dir, '.complete'), 'emojibase-data@17.0.0\n');
      expect(await fetchNpm('emojibase-data', '17.0.0', ['package/en/data.json'])).toBe(path.join(dir, 'package'));
      // Without npm on the PATH the refetch can only fail: what matters is that it is tried.
      process.env['PATH'] = '';
      await expect(fetchNpm('emojibase-data', '17.0.0', ['package/en/data.json', 'package/ru/data.json'])).rejects.toThrow(/could not fetch emojibase-data@17\.0\.0/);
    } finally {
      process.env['PATH'] = saved.path;
      if (saved.cache === undefined) delete process.env['COCA_CACHE'];
      else process.env['COCA_CACHE'] = saved.cache;
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
