// safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header length
// N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str:
// str}}, then the raw little-endian data, offsets relative to its start. The format has no
// checksum, so the reader checks everything it can (sizes, bounds, no gaps or overlaps): a
// truncated or foreign file fails with one line instead of loading garbage weights. Bytes in,
// bytes out, no files: the browser reads fetched checkpoints with it; safetensors.ts adds the files.
import { SafetensorsError } from './errors.ts';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
// Half floats have no JS typed array: they come back as their raw bits in a Uint16Array.
export type TensorData = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface Safetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

type Ctor = { new (buf: ArrayBuffer): TensorData; BYTES_PER_ELEMENT: number };
const CTORS: Record<Dtype, Ctor> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};
// Guards against reading a multi-gigabyte "header" from a file that is not safetensors at all.
const MAX_HEADER = 100 * 2 ** 20;

const numel = (shape: readonly number[]): number => shape.reduce((a, d) => a * d, 1);

/** The dtype a typed array is written as by default. */
function dtypeOf(data: TensorData): Dtype {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  throw new SafetensorsError('a Uint16Array is ambiguous (F16 or BF16): give the dtype');
}

/** Parses a whole safetensors image; `where` names it in errors. Tensors are copied out (aligned). */
export function parseSafetensors(bytes: Uint8Array, where = 'safetensors buffer'): Safetensors {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${where}: ${msg}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes is too short for a safetensors file (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER) fail(`header length ${n} is implausible: not a safetensors file`);
  if (8 + n > bytes.byteLength) fail(`header of ${n} bytes runs past the end of the ${bytes.byteLength}-byte file (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message}): corrupt or not a safetensors file`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Object.values(entry).some((v) => typeof v !== 'string')) {
        fail('__metadata__ must map strings to strings');
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e?.dtype as Dtype;
    if (typeof dtype !== 'string' || !(dtype in CTORS)) fail(`tensor ${name}: unsupported dtype ${JSON.stringify(e?.dtype)} (supported: ${Object.keys(CTORS).join(', ')})`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`tensor ${name}: shape must be a list of non-negative integers`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) || off[0] > off[1]) {
      fail(`tensor ${name}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = off as [number, number];
    const ctor = CTORS[dtype];
    const want = numel(shape as number[]) * ctor.BYTES_PER_ELEMENT;
    if (end - begin !== want) fail(`tensor ${name}: ${end - begin} bytes of data for ${dtype} ${JSON.stringify(shape)}, which needs ${want}`);
    if (end > dataLen) fail(`tensor ${name}: data ends at byte ${end} but the file has ${dataLen} data bytes (truncated?)`);
    spans.push([begin, end, name]);
    const copy = bytes.buffer.slice(bytes.byteOffset + dataStart + begin, bytes.byteOffset + dataStart + end) as ArrayBuffer;
    tensors.set(name, { dtype, shape: shape as number[], data: new ctor(copy) });
  }
  // The format requires the data to be covered exactly: a gap or overlap means a corrupt header.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== at) fail(`tensor ${name}: data starts at byte ${begin}, expected ${at} (${begin < at ? 'overlap' : 'gap'}): corrupt header`);
    at = end;
  }
  if (at !== dataLen) fail(`${dataLen - at} bytes after the last tensor: corrupt or not a safetensors file`);
  return { tensors, metadata };
}

/** A tensor to write: the dtype defaults from the typed array (give it for F16/BF16/BOOL). */
export interface TensorIn {
  dtype?: Dtype;
  shape: readonly number[];
  data: TensorData;
}

export interface Plan {
  header: Uint8Array;
  chunks: Uint8Array[];
}

export function planSafetensors(tensors: Iterable<[string, TensorIn]>, metadata?: Record<string, string>): Plan {
  const head: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) head['__metadata__'] = metadata;
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || name in head) throw new SafetensorsError(`tensor name ${name} is reserved or repeated`);
    const dtype = t.dtype ?? dtypeOf(t.data);
    const ctor = CTORS[dtype];
    if (!ctor || !(t.data instanceof ctor)) throw new SafetensorsError(`tensor ${name}: dtype ${dtype} does not match its ${t.data.constructor.name}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor ${name}: bad shape ${JSON.stringify(t.shape)}`);
    if (t.data.length !== numel(t.shape)) throw new SafetensorsError(`tensor ${name}: ${t.data.length} elements for shape ${JSON.stringify(t.shape)}`);
    head[name] = { dtype, shape: [...t.shape], data_offsets: [at, at + t.data.byteLength] };
    chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    at += t.data.byteLength;
  }
  // Pad the header with spaces to a multiple of 8, as the reference writer does, so that
  // readers mapping the file get aligned tensors.
  let json = JSON.stringify(head);
  json += ' '.repeat((8 - ((new TextEncoder().encode(json).length + 8) % 8)) % 8);
  const body = new TextEncoder().encode(json);
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  return { header, chunks };
}

export const entries = (t: Map<string, TensorIn> | Record<string, TensorIn>): Iterable<[string, TensorIn]> =>
  t instanceof Map ? t.entries() : Object.entries(t);

export function serializeSafetensors(tensors: Map<string, TensorIn> | Record<string, TensorIn>, metadata?: Record<string, string>): Uint8Array {
  const { header, chunks } = planSafetensors(entries(tensors), metadata);
  const out = new Uint8Array(header.length + chunks.reduce((s, c) => s + c.length, 0));
  out.set(header, 0);
  let at = header.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
