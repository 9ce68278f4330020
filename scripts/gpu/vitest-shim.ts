// The part of vitest's API that the kit's test suites use (test/kernels, test/model/parity,
// test/gpu), on Node's own runner (node:test). The run kit ships this as node_modules/vitest, so
// the compiled tests run with `node --test` on a machine without vitest, vite, rollup or their
// native binaries (docs/gpu-kit.md says why). A matcher or helper the suites start to use must be
// added here, or the kit's test stage fails with "is not a function".
import { after, before, describe as nodeDescribe, it as nodeIt } from 'node:test';

type Fn = () => unknown;
const TEST_TIMEOUT_MS = Number(process.env.COCA_TEST_TIMEOUT_MS ?? 600_000);

/** Callbacks registered by the running test through onTestFailed (tests of one file run in turn). */
let failureHooks: Fn[] = [];

export function onTestFailed(fn: Fn): void {
  failureHooks.push(fn);
}

function wrap(fn: (...args: unknown[]) => unknown, args: unknown[] = []): () => Promise<void> {
  return async () => {
    failureHooks = [];
    try {
      await fn(...args);
    } catch (e) {
      for (const h of failureHooks) h();
      throw e;
    } finally {
      failureHooks = [];
    }
  };
}

/** vitest's `%s`/`%d`/`%i`/`%j` placeholders, filled from the row in order. */
export function formatTitle(title: string, row: unknown[]): string {
  let k = 0;
  return title.replace(/%[sdij%]/g, (m) => {
    if (m === '%%') return '%';
    const v = row[k++];
    return m === '%j' ? JSON.stringify(v) : String(v);
  });
}

const rowArgs = (row: unknown): unknown[] => (Array.isArray(row) ? row : [row]);

type TestFn = (...args: any[]) => unknown;

function itImpl(name: string, fn: TestFn, timeout?: number): void {
  void nodeIt(name, { timeout: timeout ?? TEST_TIMEOUT_MS }, wrap(fn));
}
export const it = Object.assign(itImpl, {
  each:
    (rows: readonly unknown[]) =>
    (title: string, fn: TestFn, timeout?: number): void => {
      for (const row of rows) void nodeIt(formatTitle(title, rowArgs(row)), { timeout: timeout ?? TEST_TIMEOUT_MS }, wrap(fn, rowArgs(row)));
    },
});
export const test = it;

function describeImpl(name: string, fn: () => void): void {
  void nodeDescribe(name, () => fn());
}
export const describe = Object.assign(describeImpl, {
  each:
    (rows: readonly unknown[]) =>
    (title: string, fn: (...args: any[]) => void): void => {
      for (const row of rows) void nodeDescribe(formatTitle(title, rowArgs(row)), () => fn(...rowArgs(row)));
    },
});

export function beforeAll(fn: Fn, timeout?: number): void {
  before(wrap(fn), { timeout: timeout ?? TEST_TIMEOUT_MS });
}
export function afterAll(fn: Fn, timeout?: number): void {
  after(wrap(fn), { timeout: timeout ?? TEST_TIMEOUT_MS });
}

// ---- expect ------------------------------------------------------------------------------------

export class AssertionError extends Error {
  override name = 'AssertionError';
}

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'bigint') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'function') return `[function ${v.name}]`;
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (ArrayBuffer.isView(x) ? Array.from(x as unknown as ArrayLike<number>) : x));
    return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}…` : s;
  } catch {
    return String(v);
  }
};

/** vitest's toEqual: recursive, Object.is on primitives (so -0 ≠ 0), undefined properties ignored. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const arrA = Array.isArray(a) || ArrayBuffer.isView(a);
  const arrB = Array.isArray(b) || ArrayBuffer.isView(b);
  if (arrA !== arrB) return false;
  if (arrA) {
    const x = a as ArrayLike<unknown>;
    const y = b as ArrayLike<unknown>;
    if (x.length !== y.length || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i])) return false;
    return true;
  }
  if (a instanceof Map || b instanceof Map || a instanceof Set || b instanceof Set) {
    return Object.getPrototypeOf(a) === Object.getPrototypeOf(b) && deepEqual([...(a as Map<unknown, unknown>)], [...(b as Map<unknown, unknown>)]);
  }
  const keys = (o: object) => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function thrownMatches(err: unknown, expected: unknown): boolean {
  if (expected === undefined) return true;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof expected === 'string') return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (typeof expected === 'function') return err instanceof (expected as new () => unknown);
  if (expected instanceof Error) return message === expected.message;
  throw new AssertionError(`toThrow: cannot match against ${show(expected)}`);
}

type Check = [pass: boolean, what: string];

function matchers(actual: unknown): Record<string, (...args: any[]) => Check> {
  const num = (v: unknown) => v as number;
  return {
    toBe: (want: unknown) => [Object.is(actual, want), `to be ${show(want)}`],
    toEqual: (want: unknown) => [deepEqual(actual, want), `to equal ${show(want)}`],
    toBeNull: () => [actual === null, 'to be null'],
    toBeUndefined: () => [actual === undefined, 'to be undefined'],
    toBeDefined: () => [actual !== undefined, 'to be defined'],
    toBeTruthy: () => [Boolean(actual), 'to be truthy'],
    toBeFalsy: () => [!actual, 'to be falsy'],
    toBeGreaterThan: (n: number) => [num(actual) > n, `to be > ${n}`],
    toBeGreaterThanOrEqual: (n: number) => [num(actual) >= n, `to be >= ${n}`],
    toBeLessThan: (n: number) => [num(actual) < n, `to be < ${n}`],
    toBeLessThanOrEqual: (n: number) => [num(actual) <= n, `to be <= ${n}`],
    toBeCloseTo: (n: number, digits = 2) => [Math.abs(num(actual) - n) < 10 ** -digits / 2, `to be close to ${n} (${digits} digits)`],
    toContain: (item: unknown) => [
      typeof actual === 'string' ? actual.includes(String(item)) : Array.from(actual as Iterable<unknown>).includes(item),
      `to contain ${show(item)}`,
    ],
    toMatch: (re: RegExp | string) => [typeof re === 'string' ? String(actual).includes(re) : re.test(String(actual)), `to match ${String(re)}`],
    toHaveLength: (n: number) => [(actual as { length: number }).length === n, `to have length ${n}`],
    toThrow: (expected?: unknown) => {
      if (typeof actual !== 'function') throw new AssertionError('toThrow: expect() was not given a function');
      try {
        (actual as Fn)();
      } catch (e) {
        return [thrownMatches(e, expected), `to throw ${show(expected ?? 'anything')} (threw ${show(e instanceof Error ? e.message : e)})`];
      }
      return [false, `to throw ${show(expected ?? 'anything')} (threw nothing)`];
    },
  };
}

export interface Matchers {
  toBe(want: unknown): void;
  toEqual(want: unknown): void;
  toBeNull(): void;
  toBeUndefined(): void;
  toBeDefined(): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeGreaterThan(n: number): void;
  toBeGreaterThanOrEqual(n: number): void;
  toBeLessThan(n: number): void;
  toBeLessThanOrEqual(n: number): void;
  toBeCloseTo(n: number, digits?: number): void;
  toContain(item: unknown): void;
  toMatch(re: RegExp | string): void;
  toHaveLength(n: number): void;
  toThrow(expected?: unknown): void;
}
export interface AsyncMatchers {
  toThrow(expected?: unknown): Promise<void>;
}

function bind(actual: unknown, negate: boolean, message?: string): Matchers {
  const out: Record<string, (...args: unknown[]) => void> = {};
  for (const [name, m] of Object.entries(matchers(actual))) {
    out[name] = (...args: unknown[]) => {
      const [pass, what] = m(...args);
      if (pass === negate) {
        const subject = name === 'toThrow' ? 'function' : show(actual);
        throw new AssertionError(`${message ? `${message}: ` : ''}expected ${subject} ${negate ? 'not ' : ''}${what}`);
      }
    };
  }
  return out as unknown as Matchers;
}

function asyncBind(promise: unknown, negate: boolean, message?: string): AsyncMatchers {
  return {
    toThrow: async (expected?: unknown) => {
      let thrown: { e: unknown } | null = null;
      try {
        await promise;
      } catch (e) {
        thrown = { e };
      }
      const pass = thrown !== null && thrownMatches(thrown.e, expected);
      if (pass === negate) {
        const got = thrown ? `rejected with ${show(thrown.e instanceof Error ? thrown.e.message : thrown.e)}` : 'resolved';
        throw new AssertionError(`${message ? `${message}: ` : ''}expected promise ${negate ? 'not ' : ''}to reject with ${show(expected ?? 'anything')} (${got})`);
      }
    },
  };
}

type Expectation = Matchers & { not: Matchers; rejects: AsyncMatchers };

export const expect = Object.assign(
  (actual: unknown, message?: string): Expectation => ({
    ...bind(actual, false, message),
    not: bind(actual, true, message),
    rejects: asyncBind(actual, false, message),
  }),
  {
    fail(message: string): never {
      throw new AssertionError(message);
    },
  },
);
