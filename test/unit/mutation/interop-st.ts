// Safetensors files read and written by hand for the interop tests (header JSON + little-endian
// float32), so no expected value depends on coca's own reader or writer; and open_clip's fixture.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

export const FX = path.join(import.meta.dirname, '..', '..', 'fixtures', 'openclip');
export const HUB = JSON.parse(fs.readFileSync(path.join(FX, 'open_clip_config.json'), 'utf8')) as {
  model_cfg: Record<string, Record<string, unknown>>;
  preprocess_cfg: Record<string, unknown>;
};
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

export interface T {
  shape: number[];
  data: Float32Array;
}
/** A safetensors file read by hand: F32 tensors and the metadata. */
export function readSt(file: string): { meta: Record<string, string> | undefined; tensors: Map<string, T> } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const tensors = new Map<string, T>();
  for (const [k, e] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const v = e as Entry;
    expect(v.dtype).toBe('F32');
    const bytes = buf.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]);
    tensors.set(k, { shape: v.shape, data: new Float32Array(Uint8Array.from(bytes).buffer) });
  }
  return { meta: header['__metadata__'] as Record<string, string> | undefined, tensors };
}
/** A safetensors file written by hand (F32, header padded with spaces to 8 bytes). */
export function writeSt(file: string, tensors: Map<string, T>): void {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [k, t] of tensors) {
    header[k] = { dtype: 'F32', shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...[...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]));
}
export const FIXTURE = readSt(path.join(FX, 'open_clip_model.safetensors')).tensors;
/** The fixture's tensors with every dimension of 23 (its vocabulary) made `vocab`, zero-filled. */
export function withVocab(vocab: number): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, t] of FIXTURE) {
    const shape = t.shape.map((d) => (d === 23 ? vocab : d));
    out.set(k, shape.join() === t.shape.join() ? t : { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  }
  return out;
}
export const copy = (m: Map<string, T>) => new Map([...m].map(([k, t]) => [k, { shape: [...t.shape], data: t.data.slice() }]));

