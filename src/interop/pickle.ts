// A restricted unpickler for the pickles torch.save writes. Python's pickle runs whatever callable
// a file names (GLOBAL + REDUCE), so reading a downloaded .bin/.pt with it is running the
// downloader's code. This reader implements the opcodes of protocols 2-5 as data and knows a short
// list of callables, each written here in TypeScript (an OrderedDict, torch's tensor and parameter
// rebuilders, its storage types); a pickle naming anything else is refused before anything runs.
// No npm library: the most used JS unpickler (pickleparser 0.2.1) would still need the same two
// things written here, a closed list of callables with everything else refused and torch's
// persistent storage ids, and the opcodes torch writes are few; a small reader with no dependency
// and nothing permissive by default was preferred.
import { InteropError } from './errors.ts';

/** A tensor as torch.save describes it: a view (offset, size, stride) of a storage held in the archive. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

export interface StorageRef {
  kind: 'storage';
  /** torch's storage class name, e.g. FloatStorage. */
  type: string;
  /** The archive entry data/<key>. */
  key: string;
  numel: number;
}

/** A Python dict (OrderedDict included); keys may be strings or numbers. */
export type PyDict = Map<unknown, unknown>;

export const STORAGE_TYPES = ['FloatStorage', 'HalfStorage', 'BFloat16Storage', 'DoubleStorage', 'LongStorage', 'IntStorage', 'ShortStorage', 'CharStorage', 'ByteStorage', 'BoolStorage'] as const;

type Callable = (args: unknown[]) => unknown;
class Global {
  constructor(
    readonly name: string,
    readonly call: Callable | null,
  ) {}
}
class Mark {}
const MARK = new Mark();

/** A callable's arguments that make no sense; unpickle names the file and says what to do. */
class BadArguments extends Error {}

const numbers = (v: unknown, what: string): number[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new BadArguments(`${what} is not a tuple of integers`);
  return v as number[];
};

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage && (storage as StorageRef).kind === 'storage')) throw new BadArguments('a tensor is rebuilt from something that is not a storage');
  return { kind: 'tensor', storage: storage as StorageRef, offset: Number(offset), size: numbers(size, 'a tensor size'), stride: numbers(stride, 'a tensor stride') };
}

/** The callables a torch checkpoint may name, by module.name. */
const ALLOWED: Record<string, Callable | null> = {
  'collections.OrderedDict': () => new Map(),
  'torch._utils._rebuild_tensor_v2': rebuildTensor,
  'torch._utils._rebuild_parameter': (a) => a[0],
  'torch._utils._rebuild_parameter_with_state': (a) => a[0],
  // Tensor subclasses (torch ≥ 2.0): (rebuild function, type, its arguments, state).
  'torch._tensor._rebuild_from_type_v2': (a) => {
    const [fn, , args] = a as [Global, unknown, unknown[]];
    if (!(fn instanceof Global) || !fn.call) throw new BadArguments('_rebuild_from_type_v2 names no known rebuild function');
    return fn.call(args);
  },
  'torch.Tensor': null,
  'torch.nn.parameter.Parameter': null,
  'torch.device': (a) => `device(${String(a[0])})`,
  // Bytes under protocol 2 are pickled as _codecs.encode(text, 'latin1').
  '_codecs.encode': (a) => Buffer.from(String(a[0]), 'latin1'),
  ...Object.fromEntries(STORAGE_TYPES.map((t) => [`torch.${t}`, null])),
};

/** What a refused pickle asked to call, for the one-line message. */
export class PickleCodeError extends InteropError {
  override name = 'PickleCodeError';
  constructor(
    readonly callable: string,
    where: string,
  ) {
    super(`${where}: the pickle asks to run ${callable}, which no checkpoint needs; refused before running anything (only tensors, dicts, lists and numbers are read): do not load this file with torch.load either`);
  }
}

/**
 * The object a pickle holds. `where` names the file in messages. Persistent ids (torch's storages)
 * become StorageRef; dicts become Map; tuples and lists arrays; strings, numbers, booleans, None
 * (null) as themselves.
 */
export function unpickle(bytes: Uint8Array, where: string): unknown {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const fail = (why: string): never => {
    throw new InteropError(`${where}: ${why}; the file is damaged or not a PyTorch checkpoint`);
  };
  const need = (n: number) => {
    if (p + n > buf.length) fail('the pickle ends in the middle of an instruction (truncated)');
  };
  const u8 = () => (need(1), buf[p++]!);
  const u16 = () => (need(2), (p += 2), buf.readUInt16LE(p - 2));
  const u32 = () => (need(4), (p += 4), buf.readUInt32LE(p - 4));
  const i32 = () => (need(4), (p += 4), buf.readInt32LE(p - 4));
  const u64 = () => (need(8), (p += 8), Number(buf.readBigUInt64LE(p - 8)));
  const take = (n: number) => (need(n), (p += n), buf.subarray(p - n, p));
  const line = () => {
    const end = buf.indexOf(0x0a, p);
    if (end < 0) fail('a text instruction has no end of line');
    const s = buf.toString('utf8', p, end);
    p = end + 1;
    return s;
  };
  const pop = () => (stack.length === 0 ? fail('the pickle pops an empty stack') : stack.pop());
  const top = () => (stack.length === 0 ? fail('the pickle reads an empty stack') : stack[stack.length - 1]);
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('the pickle closes a mark it never opened');
    return stack.splice(m!);
  };
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    if (!(full in ALLOWED)) throw new PickleCodeError(full, where);
    return new Global(full, ALLOWED[full]!);
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof Global) || !fn.call) throw new PickleCodeError(fn instanceof Global ? fn.name : 'a value that is not a function', where);
    if (!Array.isArray(args)) fail('a call without an argument tuple');
    try {
      return fn.call(args as unknown[]);
    } catch (e) {
      if (e instanceof BadArguments) fail(e.message);
      throw e;
    }
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof Map)) fail('items set on something that is not a dict');
    // Python's unpickler raises on a key without a value (IndexError); it is not dropped.
    if (kv.length % 2 !== 0) fail('a dict key without a value');
    for (let i = 0; i < kv.length; i += 2) (d as PyDict).set(kv[i], kv[i + 1]);
  };
  const append = (l: unknown, xs: unknown[]) => {
    if (!Array.isArray(l)) fail('items appended to something that is not a list');
    (l as unknown[]).push(...xs);
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const xs = popMark(); const s = top(); if (!(s instanceof Set)) fail('items added to something that is not a set'); xs.forEach((x) => (s as Set<unknown>).add(x)); break; } // ADDITEMS
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const d = new Map(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const xs = popMark(); append(top(), xs); break; } // APPENDS
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { const k = op === 0x68 ? u8() : u32(); if (!memo.has(k)) fail(`the pickle refers to memo ${k}, never stored`); stack.push(memo.get(k)); break; } // BINGET, LONG_BINGET
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x47: need(8); stack.push(buf.readDoubleBE(p)); p += 8; break; // BINFLOAT
      case 0x58: { const n = u32(); stack.push(take(n).toString('utf8')); break; } // BINUNICODE
      case 0x8c: { const n = u8(); stack.push(take(n).toString('utf8')); break; } // SHORT_BINUNICODE
      case 0x8d: { const n = u64(); stack.push(take(n).toString('utf8')); break; } // BINUNICODE8
      case 0x55: { const n = u8(); stack.push(take(n).toString('latin1')); break; } // SHORT_BINSTRING
      case 0x54: { const n = u32(); stack.push(take(n).toString('latin1')); break; } // BINSTRING
      case 0x43: { const n = u8(); stack.push(Buffer.from(take(n))); break; } // SHORT_BINBYTES
      case 0x42: { const n = u32(); stack.push(Buffer.from(take(n))); break; } // BINBYTES
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x63: { const module = line(); stack.push(global(module, line())); break; } // GLOBAL
      case 0x93: { const name = pop(); const module = pop(); stack.push(global(String(module), String(name))); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ
      case 0x62: { // BUILD: state set on an object. Only dicts get one in a state dict (its _metadata), dropped.
        pop();
        if (!(top() instanceof Map)) fail('state given to something that is not a dict');
        break;
      }
      case 0x51: { // BINPERSID: torch's ('storage', type, key, location, numel)
        const pid = pop();
        if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof Global)) fail('a persistent id that is not a torch storage');
        const t = (pid as unknown[])[1] as Global;
        stack.push({ kind: 'storage', type: t.name.replace(/^torch\./, ''), key: String((pid as unknown[])[2]), numel: Number((pid as unknown[])[4]) } satisfies StorageRef);
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      default:
        fail(`pickle opcode 0x${op.toString(16)} at byte ${p - 1} is not one torch.save writes`);
    }
  }
}
