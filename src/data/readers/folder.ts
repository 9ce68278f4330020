// A folder of images with captions.tsv (`image<TAB>caption` per line) or captions.jsonl
// ({"image": ..., "caption": ...} or {"image": ..., "captions": [...]} per line). An image may
// appear on several lines, one caption each.
import path from 'node:path';
import { Problems, readLines, type RawRecord } from './common.ts';

export function readCaptionsTsv(file: string, problems: Problems): RawRecord[] {
  const root = path.dirname(file);
  const out: RawRecord[] = [];
  for (const { line, no } of readLines(file, problems)) {
    const tab = line.indexOf('\t');
    if (tab < 0) {
      problems.add('lines without a tab', `${file}:${no}`);
      continue;
    }
    const image = line.slice(0, tab).trim();
    if (no === 1 && /^(image|file|filename|path)$/i.test(image)) continue; // a header row
    out.push({ image: path.resolve(root, image), captions: [line.slice(tab + 1)] });
  }
  return out;
}

export function readCaptionsJsonl(file: string, problems: Problems): RawRecord[] {
  const root = path.dirname(file);
  const out: RawRecord[] = [];
  for (const { line, no } of readLines(file, problems)) {
    let obj: { image?: unknown; file_name?: unknown; caption?: unknown; captions?: unknown; split?: unknown };
    try {
      obj = JSON.parse(line);
    } catch {
      problems.add('lines that are not JSON', `${file}:${no}`);
      continue;
    }
    const image = typeof obj.image === 'string' ? obj.image : typeof obj.file_name === 'string' ? obj.file_name : undefined;
    const caps = Array.isArray(obj.captions) ? obj.captions.filter((c): c is string => typeof c === 'string') : typeof obj.caption === 'string' ? [obj.caption] : [];
    if (!image) {
      problems.add('lines without an "image" field', `${file}:${no}`);
      continue;
    }
    if (caps.length === 0) {
      problems.add('empty captions', `${file}:${no}`);
      continue;
    }
    out.push({ image: path.resolve(root, image), captions: caps, ...(typeof obj.split === 'string' ? { split: obj.split } : {}) });
  }
  return out;
}
