// COCO caption annotations (annotations[] with image_id/caption, images[] with id/file_name) and
// Karpathy's split files (dataset_coco.json, dataset_flickr8k.json: images[] with filename,
// optional filepath, split and sentences[].raw).
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.ts';
import { readJson, type RawRecord } from './common.ts';

interface CocoJson {
  images?: { id: number | string; file_name: string }[];
  annotations?: { image_id: number | string; caption: string }[];
}

interface KarpathyJson {
  images?: { filename: string; filepath?: string; split?: string; sentences?: { raw?: string; tokens?: string[] }[] }[];
  dataset?: string;
}

/** Where the image files of a caption JSON live: the first candidate folder that has the first image. */
function imageRoot(jsonFile: string, firstImage: string | undefined, extra: string[] = []): string {
  const dir = path.dirname(jsonFile);
  const candidates = [dir, path.join(dir, 'images'), path.join(dir, 'Images'), path.dirname(dir), path.join(path.dirname(dir), 'images'), ...extra.map((e) => path.join(dir, e)), ...extra.map((e) => path.join(path.dirname(dir), e))];
  if (firstImage) for (const c of candidates) if (fs.existsSync(path.join(c, firstImage))) return c;
  return dir;
}

export function isKarpathy(json: unknown): boolean {
  const imgs = (json as KarpathyJson).images;
  return Array.isArray(imgs) && imgs.length > 0 && typeof imgs[0]?.filename === 'string' && Array.isArray(imgs[0]?.sentences);
}

export function isCoco(json: unknown): boolean {
  const j = json as CocoJson;
  return Array.isArray(j.annotations) && Array.isArray(j.images) && (j.annotations.length === 0 || typeof j.annotations[0]?.caption === 'string');
}

export function readCoco(file: string): RawRecord[] {
  const j = readJson<CocoJson>(file);
  if (!isCoco(j)) throw new DataError(`${file} is not a COCO caption file (needs images[] with file_name and annotations[] with image_id and caption)`);
  const byId = new Map<string, string>();
  for (const im of j.images!) byId.set(String(im.id), im.file_name);
  // COCO's own folders are named after the annotation file (captions_val2014.json → val2014/).
  const m = /captions_(\w+)\.json$/.exec(file);
  const root = imageRoot(file, j.images![0]?.file_name, m ? [m[1]!] : []);
  const out: RawRecord[] = [];
  for (const a of j.annotations!) {
    const name = byId.get(String(a.image_id));
    if (name !== undefined) out.push({ image: path.join(root, name), captions: [a.caption ?? ''] });
  }
  // Images with no annotation carry no caption: nothing to train on, nothing to report.
  return out;
}

export function readKarpathy(file: string): RawRecord[] {
  const j = readJson<KarpathyJson>(file);
  if (!isKarpathy(j)) throw new DataError(`${file} is not a Karpathy split file (needs images[] with filename, split and sentences)`);
  const first = j.images![0]!;
  const extra = ['Flicker8k_Dataset', 'Flickr8k_Dataset', 'flickr30k-images', 'Flickr30k_Dataset'];
  const root = imageRoot(file, path.join(first.filepath ?? '', first.filename), extra);
  return j.images!.map((im) => ({
    image: path.join(root, im.filepath ?? '', im.filename),
    captions: (im.sentences ?? []).map((s) => s.raw ?? (s.tokens ?? []).join(' ')),
    ...(im.split ? { split: im.split === 'restval' ? 'train' : im.split } : {}),
  }));
}
