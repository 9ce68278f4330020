// Conceptual-Captions-style TSV: `caption<TAB>path-or-url`. Only local paths can be used here;
// URLs are counted and reported, since coca fetches nothing from the web.
import path from 'node:path';
import { Problems, readLines, type RawRecord } from './common.ts';

export function readCaptionUrlTsv(file: string, problems: Problems): RawRecord[] {
  const root = path.dirname(file);
  const out: RawRecord[] = [];
  for (const { line, no } of readLines(file, problems)) {
    const tab = line.lastIndexOf('\t');
    if (tab < 0) {
      problems.add('lines without a tab', `${file}:${no}`);
      continue;
    }
    const where = line.slice(tab + 1).trim();
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(where)) {
      problems.add('URLs (not fetchable: download the images and put local paths in the file)', `${file}:${no}`);
      continue;
    }
    out.push({ image: path.resolve(root, where), captions: [line.slice(0, tab)] });
  }
  return out;
}
