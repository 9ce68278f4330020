// The eval captions sheet (src/eval/sheet.ts) against its header: one row per picture (thumbnail,
// split · language and id, the caption in bold or "(no words)", the references as a list), every
// text escaped, the thumbnails the dataset's own pictures at 96 px; captions.json the records as
// given. The expected rows are written out by hand.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { captionSheetHtml, writeCaptionSheet, type CaptionRecord } from '../../../src/eval/sheet.ts';
import { tempDir } from '../data/fixtures.ts';
import { grey, writeEvalSet } from './eval-fixture.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const A: CaptionRecord = { split: 'test', item: 0, id: 'a<b>.png', caption: 'a dog & "cat"', references: ['r1 <i>', 'r2'] };
const B: CaptionRecord = { split: 'test-concept', item: 3, id: 'x', caption: '', references: [], lang: 'ru' };
const rowA = '<tr><td><img src="data:image/png;base64,AAA" width="96" height="96" alt=""></td><td class="id">test<br>a&lt;b&gt;.png</td><td class="cap">a dog &amp; &quot;cat&quot;</td><td><ul><li>r1 &lt;i&gt;</li><li>r2</li></ul></td></tr>';
const rowB = '<tr><td></td><td class="id">test-concept · ru<br>x</td><td class="cap"><i class="none">(no words)</i></td><td><ul></ul></td></tr>';

describe('captionSheetHtml', () => {
  it('writes one row per record, escaped, the language after the split, no picture where there is no thumbnail', () => {
    const html = captionSheetHtml('T <1> & "x"', [A, B], ['data:image/png;base64,AAA', null]);
    expect(html).toContain(`<tbody>\n${rowA}\n${rowB}\n</tbody>`);
    expect(html.startsWith('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>T &lt;1&gt; &amp; &quot;x&quot;</title>')).toBe(true);
    expect(html).toContain('<h1>T &lt;1&gt; &amp; &quot;x&quot;</h1>');
    expect(html).toContain("<p>2 pictures: the model's caption (greedy) in bold, the dataset's references beside it.</p>");
    expect(html).toContain('<style>\nbody{');
    expect(html.endsWith('</tbody></table></body></html>\n')).toBe(true);
    // An empty thumbnail (thumbnails() gives '' for a picture it cannot read) is no picture either.
    expect(captionSheetHtml('t', [B], [''])).toContain(`<tbody>\n${rowB}\n</tbody>`);
  });
});

describe('writeCaptionSheet', () => {
  it('writes captions.json as given and captions.html with each item’s own picture at 96 px, into a new folder', async () => {
    const data = tempDir();
    dirs.push(data);
    writeEvalSet(data, { test: { captions: [['zero'], ['one'], ['two']] } });
    const records: CaptionRecord[] = [
      { split: 'test', item: 2, id: 'test-2', caption: 'second', references: ['two'] },
      { split: 'test', item: 0, id: 'test-0', caption: 'first', references: ['zero'] },
      { split: 'test', item: 9, id: 'gone', caption: 'missing', references: [] },
    ];
    const out = path.join(data, 'new', 'sheet');
    await writeCaptionSheet(out, 'sheet', records, data);
    const json = fs.readFileSync(path.join(out, 'captions.json'), 'utf8');
    expect(json.startsWith('[\n {\n  "split": "test",\n  "item": 2,')).toBe(true);
    expect(json.endsWith(']\n')).toBe(true);
    expect(JSON.parse(json)).toEqual(records);
    const html = fs.readFileSync(path.join(out, 'captions.html'), 'utf8');
    const imgs = [...html.matchAll(/<img src="data:image\/png;base64,([^"]+)" width="96" height="96" alt="">/g)].map((m) => m[1]!);
    // Item 9 does not exist: its row has no picture.
    expect(imgs).toHaveLength(2);
    expect(html).toContain('<tr><td></td><td class="id">test<br>gone</td>');
    // Each thumbnail is its own item's flat grey, 96 × 96.
    for (const [k, item] of [[0, 2], [1, 0]] as const) {
      const { data: px, info } = await sharp(Buffer.from(imgs[k], 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([96, 96]);
      const centre = (48 * 96 + 48) * 3;
      expect([px[centre], px[centre + 1], px[centre + 2]]).toEqual([grey(item), grey(item), grey(item)]);
    }
  });
});
