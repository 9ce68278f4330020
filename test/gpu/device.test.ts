// The device layer: adapter and limits, readable shader errors, the buffer pool, batching of
// dispatches into few submits, and device loss.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError, ShaderError } from '../../src/gpu/errors.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { matmul } from '../../kernels/matmul.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

describe('device', () => {
  it('requests the adapter maximum limits, not the defaults', () => {
    // Dawn's defaults are 16 KiB of workgroup memory and 256 invocations; every adapter we
    // support offers more, and the fast kernels rely on it.
    expect(gpu.limits.maxComputeWorkgroupStorageSize).toBe(gpu.adapter.limits.maxComputeWorkgroupStorageSize);
    expect(gpu.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(gpu.adapter.features).toEqual([...gpu.adapter.features].sort());
    expect(['vulkan', 'opengl']).toContain(gpu.adapter.backend);
  });

  it('names the shader file, line and entry point of a compile error', async () => {
    const source = 'struct Params { n: u32, }\n@group(0) @binding(0) var<uniform> p: Params;\n\n@compute @workgroup_size(1)\nfn broken() {\n  let x: f32 = undefined_thing;\n}\n';
    const own = await Gpu.open();
    try {
      await expect(own.compile({ file: 'broken', entry: 'broken', bindings: [], source })).rejects.toThrow(ShaderError);
      await expect(own.compile({ file: 'broken', entry: 'broken', bindings: [], source })).rejects.toThrow(/shaders\/broken\.wgsl:6:\d+: .*undefined_thing.*\(entry point broken\)/);
      // The same error also surfaces at the next sync of work that did not await compile().
      await expect(own.sync()).rejects.toThrow(/shaders\/broken\.wgsl:6/);
    } finally {
      own.destroy();
    }
  });

  it('names a missing entry point', async () => {
    const own = await Gpu.open();
    try {
      await expect(own.compile({ file: 'matmul', entry: 'no_such_entry', bindings: ['read', 'read', 'read', 'rw'] })).rejects.toThrow(/shaders\/matmul\.wgsl.*no_such_entry/);
    } finally {
      own.destroy();
    }
  });

  it('rejects a define that matches no constant (a typo would silently do nothing)', () => {
    expect(() => gpu.kernel({ file: 'matmul', entry: 'matmul_naive', defines: { TRANS_Q: true }, bindings: ['read', 'read', 'read', 'rw'] })).toThrow(/define TRANS_Q matches no module-scope const/);
  });

  it('reports a lost device in one line at the next use', async () => {
    const own = await Gpu.open();
    own.destroy();
    expect(() => own.alloc(4, 'x')).not.toThrow(); // the pool still hands out objects...
    expect(() => own.flush()).toThrow(DeviceLostError); // ...but no work is accepted
  });
});

describe('buffer pool', () => {
  it('reuses released buffers of the same size class and tracks the peak', () => {
    const before = gpu.pool.snapshot();
    const a = gpu.alloc(1000, 'a');
    const b = gpu.alloc(1000, 'b');
    gpu.release(a);
    const c = gpu.alloc(990, 'c'); // same size class as a
    expect(c).toBe(a);
    expect(c.label).toBe('c');
    const after = gpu.pool.snapshot();
    expect(after.reused - before.reused).toBeGreaterThanOrEqual(1);
    expect(after.peakInUseBytes).toBeGreaterThanOrEqual(after.inUseBytes);
    gpu.release(b);
    gpu.release(c);
    expect(() => gpu.release(c)).toThrow(/released twice/);
  });

  it('serves a training-loop pattern without new allocations after the first step', () => {
    const step = () => {
      const bufs = [gpu.alloc(4096, 'x'), gpu.alloc(777, 'y'), gpu.alloc(12345, 'z')];
      for (const b of bufs) gpu.release(b);
    };
    step();
    const created = gpu.pool.snapshot().created;
    for (let i = 0; i < 10; i++) step();
    expect(gpu.pool.snapshot().created).toBe(created);
  });

  it('hands out the same buffers for the same requests, whatever order they were released in', () => {
    // What lets a step's bind groups be reused (recorder.ts): the pool serves the free buffer made
    // first, not the one released last.
    const take = () => [gpu.alloc(3000, 'p'), gpu.alloc(3000, 'q'), gpu.alloc(3000, 'r'), gpu.alloc(100, 's')];
    const first = take();
    for (const b of first) gpu.release(b);
    const again = take();
    for (const b of [...again].reverse()) gpu.release(b);
    const third = take();
    for (const b of [third[2]!, third[0]!, third[3]!, third[1]!]) gpu.release(b);
    const fourth = take();
    again.forEach((b, i) => expect(b).toBe(first[i]));
    third.forEach((b, i) => expect(b).toBe(first[i]));
    fourth.forEach((b, i) => expect(b).toBe(first[i]));
    for (const b of fourth) gpu.release(b);
    expect(() => gpu.release(fourth[0]!)).toThrow(/released twice/);
    // Many of one class, released in a scrambled order, come back in the order they were made.
    const many = Array.from({ length: 23 }, () => gpu.alloc(5000, 'm'));
    for (let i = 0; i < many.length; i++) gpu.release(many[(i * 7) % many.length]!);
    const back = Array.from({ length: many.length }, () => gpu.alloc(5000, 'm'));
    back.forEach((b, i) => expect(b).toBe(many[i]));
    for (const b of back) gpu.release(b);
  });
});

describe('recording', () => {
  it('batches many dispatches into one submit and runs them in order', async () => {
    const n = 8;
    const ones = gpu.upload(new Float32Array(n * n).fill(1), 'ones');
    const acc = gpu.upload(new Float32Array(n * n), 'acc');
    const submits = gpu.submits;
    // Each call adds ones·ones (every element n) into acc; order matters only in that every
    // call must see the previous one's result.
    for (let i = 0; i < 20; i++) {
      matmul(gpu, { a: { buffer: ones, shape: [n, n] }, b: { buffer: ones, shape: [n, n] }, c: { buffer: acc, shape: [n, n] }, accumulate: true, variant: 'naive' });
    }
    const out = await gpu.read(acc, n * n);
    expect(gpu.submits - submits).toBe(1);
    expect([...out]).toEqual(new Array(n * n).fill(20 * n));
    gpu.release(ones);
    gpu.release(acc);
  });
});

describe('profiling', () => {
  it('times every dispatch by kernel with GPU timestamps', async () => {
    const own = await Gpu.open();
    try {
      if (!own.has('timestamp-query')) return expect(() => own.enableProfiling()).toThrow(/timestamp-query/);
      own.enableProfiling();
      const a = own.upload(new Float32Array(64 * 64).fill(1), 'a');
      const c = own.alloc(64 * 64, 'c');
      for (let i = 0; i < 3; i++) matmul(own, { a: { buffer: a, shape: [64, 64] }, b: { buffer: a, shape: [64, 64] }, c: { buffer: c, shape: [64, 64] }, variant: 'naive' });
      await own.sync();
      const p = own.profile();
      const naive = [...p].find(([k]) => k.includes('matmul_naive'));
      expect(naive?.[1].count).toBe(3);
      expect(naive![1].ms).toBeGreaterThan(0);
    } finally {
      own.destroy();
    }
  });
});

afterAll(() => gpu?.pool.trim());
