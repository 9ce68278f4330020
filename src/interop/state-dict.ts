// An open_clip checkpoint file as a state dict of float32 tensors, whatever it was written as:
// safetensors (open_clip_model.safetensors), a PyTorch zip archive holding the state dict
// (open_clip_pytorch_model.bin) or open_clip's training checkpoint ({epoch, state_dict, optimizer},
// epoch_N.pt, with DDP's 'module.' prefixes). The format is told by the file's first bytes, not its
// name. Half and bfloat16 weights are widened to float32.
import fs from 'node:fs';
import { halfToFloat } from '../model/half.ts';
import { readSafetensors, type Tensor as StTensor } from '../model/safetensors.ts';
import { InteropError } from './errors.ts';
import { unpickle, type PyDict, type StorageRef, type TensorRef } from './pickle.ts';
import { ZipReader } from './zip.ts';

export interface F32Tensor {
  shape: number[];
  data: Float32Array;
  /** The dtype in the file. */
  dtype: string;
}

export type StateDict = Map<string, F32Tensor>;

function widen(dtype: string, bits: Uint16Array): Float32Array {
  if (dtype === 'F16') return Float32Array.from(bits, halfToFloat);
  const out = new Float32Array(bits.length);
  new Uint32Array(out.buffer).set(Uint32Array.from(bits, (b) => b << 16));
  return out;
}

function fromSafetensors(file: string): StateDict {
  const out: StateDict = new Map();
  let tensors: Map<string, StTensor>;
  try {
    tensors = readSafetensors(file).tensors;
  } catch (e) {
    throw new InteropError(`${(e as Error).message}; download the checkpoint again`);
  }
  for (const [name, t] of tensors) {
    const data = t.data instanceof Float32Array ? t.data : t.data instanceof Float64Array ? Float32Array.from(t.data) : t.dtype === 'F16' || t.dtype === 'BF16' ? widen(t.dtype, t.data as Uint16Array) : null;
    if (!data) throw new InteropError(`${file}: tensor "${name}" is ${t.dtype}; an open_clip model's weights are floating point: this is not a model checkpoint`);
    out.set(name, { shape: t.shape, data, dtype: t.dtype });
  }
  return out;
}

const STORAGE_DTYPE: Record<string, { dtype: string; bytes: number }> = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  DoubleStorage: { dtype: 'F64', bytes: 8 },
};

/** The tensor's elements in row-major order, from its storage's bytes (any strides). */
function materialise(t: TensorRef, bytes: Buffer, name: string, file: string): F32Tensor {
  const kind = STORAGE_DTYPE[t.storage.type];
  if (!kind) throw new InteropError(`${file}: tensor "${name}" is a ${t.storage.type}; an open_clip model's weights are floating point: this is not a model checkpoint`);
  const numel = t.size.reduce((a, b) => a * b, 1);
  if (bytes.length < t.storage.numel * kind.bytes) throw new InteropError(`${file}: the storage of "${name}" holds ${bytes.length} bytes, fewer than its ${t.storage.numel} elements; the file is truncated or damaged: download it again`);
  const read = (i: number): number => {
    const o = i * kind.bytes;
    if (kind.dtype === 'F32') return bytes.readFloatLE(o);
    if (kind.dtype === 'F64') return bytes.readDoubleLE(o);
    const h = bytes.readUInt16LE(o);
    return kind.dtype === 'F16' ? halfToFloat(h) : new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
  };
  const out = new Float32Array(numel);
  const idx = new Array<number>(t.size.length).fill(0);
  let last = t.offset;
  for (let k = 0; k < t.size.length; k++) last += Math.max(0, t.size[k]! - 1) * t.stride[k]!;
  if (numel > 0 && (t.offset < 0 || last >= t.storage.numel)) throw new InteropError(`${file}: tensor "${name}" reaches past its storage; the file is damaged`);
  // The usual case, a contiguous float32 tensor: one copy (little-endian, checked by the caller).
  let contiguous = true;
  for (let k = t.size.length - 1, s = 1; k >= 0; s *= t.size[k]!, k--) if (t.size[k]! > 1 && t.stride[k] !== s) contiguous = false;
  if (contiguous && kind.dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes.subarray(t.offset * 4, (t.offset + numel) * 4));
    return { shape: t.size, data: out, dtype: kind.dtype };
  }
  for (let i = 0; i < numel; i++) {
    let at = t.offset;
    for (let k = 0; k < idx.length; k++) at += idx[k]! * t.stride[k]!;
    out[i] = read(at);
    for (let k = idx.length - 1; k >= 0; k--) {
      if (++idx[k]! < t.size[k]!) break;
      idx[k] = 0;
    }
  }
  return { shape: t.size, data: out, dtype: kind.dtype };
}

function isTensor(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as TensorRef).kind === 'tensor';
}

function fromTorchZip(file: string): StateDict {
  const zip = ZipReader.open(file);
  try {
    const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (!pkl) throw new InteropError(`${file} is a zip archive but not one torch.save wrote (no <name>/data.pkl); pass an open_clip checkpoint`);
    const prefix = pkl.slice(0, -'data.pkl'.length);
    const order = zip.entries.has(`${prefix}byteorder`) ? zip.read(`${prefix}byteorder`).toString() : 'little';
    if (order !== 'little') throw new InteropError(`${file} was saved on a ${order}-endian machine; load and re-save it with torch on a little-endian one`);
    let root = unpickle(zip.read(pkl), file);
    // open_clip's training checkpoint keeps the weights under state_dict, the optimizer beside them.
    if (root instanceof Map && root.get('state_dict') instanceof Map) root = root.get('state_dict');
    if (!(root instanceof Map)) throw new InteropError(`${file} holds no state dict (a dict of tensors); pass open_clip's model checkpoint`);
    const entries = [...(root as PyDict)].filter(([, v]) => isTensor(v)) as [string, TensorRef][];
    if (entries.length === 0) throw new InteropError(`${file} holds a dict without tensors; pass open_clip's model checkpoint`);
    const storages = new Map<string, Buffer>();
    const bytesOf = (s: StorageRef) => {
      let b = storages.get(s.key);
      if (!b) storages.set(s.key, (b = zip.read(`${prefix}data/${s.key}`)));
      return b;
    };
    const out: StateDict = new Map();
    for (const [name, t] of entries) out.set(String(name), materialise(t, bytesOf(t.storage), String(name), file));
    return out;
  } finally {
    zip.close();
  }
}

/** The state dict in `file`, names as stored less DDP's 'module.' prefix when every name has it. */
export function readStateDict(file: string): StateDict {
  let head: Buffer;
  const fd = fs.openSync(file, 'r');
  try {
    head = Buffer.alloc(16);
    head = head.subarray(0, fs.readSync(fd, head, 0, 16, 0));
  } finally {
    fs.closeSync(fd);
  }
  let sd: StateDict;
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50) sd = fromTorchZip(file);
  else if (head.length >= 9 && head[8] === 0x7b) sd = fromSafetensors(file);
  else if (head.length >= 2 && head[0] === 0x80 && head[1]! <= 5) {
    throw new InteropError(`${file} is in PyTorch's legacy format (torch < 1.6), which can only be read by running it; re-save it in torch ≥ 1.6 with torch.save(torch.load(f, weights_only=True), f2)`);
  } else throw new InteropError(`${file} is neither safetensors nor a PyTorch zip archive (${head.length < 16 ? 'too short; truncated?' : 'unknown first bytes'}); pass open_clip_model.safetensors, open_clip_pytorch_model.bin or a .pt checkpoint`);
  const names = [...sd.keys()];
  if (names.length > 0 && names.every((n) => n.startsWith('module.'))) sd = new Map([...sd].map(([k, v]) => [k.slice('module.'.length), v]));
  return sd;
}
