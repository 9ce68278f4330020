// The recorder's bind-group cache (src/gpu/recorder.ts): one bind group per (layout, uniform
// buffer, buffers, offsets), reused by every dispatch over the same buffers, with the uniform block
// reached through a dynamic offset. What must hold: each dispatch still sees its own uniforms; a
// pooled buffer released and handed out again is served by its cached group with the new
// contents; a buffer the pool destroys takes its groups with it, and the buffers made after it
// bind fresh ones without a validation error. Outputs are poisoned before every dispatch and
// compared with a CPU result.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu, type Kernel } from '../../src/gpu/gpu.ts';
import { BindGroupCache } from '../../src/gpu/recorder.ts';
import { matmul } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { testRng } from '../helpers/seed.ts';

// c[i] = (acc ? c[i] : 0) + scale·a[i] + b[i], over n elements.
const SOURCE = `struct P { n: u32, acc: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= p.n) { return; }
  let prev = select(0.0, c[i], p.acc == 1u);
  c[i] = prev + p.scale * a[i] + b[i];
}
`;
const n = 100; // not a multiple of the workgroup

let gpu: Gpu;
let kernel: Kernel;
beforeAll(async () => {
  // A device of its own: the counts below are this file's alone, and trim() destroys only its buffers.
  gpu = await Gpu.open();
  kernel = await gpu.compile({ file: 'bind-group-test', entry: 'main', bindings: ['read', 'read', 'rw'], source: SOURCE });
});
afterAll(() => gpu?.destroy());

function run(a: GPUBuffer | { buffer: GPUBuffer; offset: number }, b: GPUBuffer, c: GPUBuffer, scale: number, acc = false): void {
  const u = new ArrayBuffer(16);
  new Uint32Array(u).set([n, acc ? 1 : 0]);
  new Float32Array(u)[2] = scale;
  gpu.dispatch(kernel, new Uint32Array(u), [a, b, c], [Math.ceil(n / 64)], 'bind-group-test');
}

const random = (rng: ReturnType<typeof testRng>, len: number) => Float32Array.from({ length: len }, () => rng.normal());
const poison = (c: GPUBuffer) => gpu.write(c, new Float32Array(c.size / 4).fill(NaN));
const want = (a: Float32Array, b: Float32Array, scale: number, prev?: Float64Array) => Float64Array.from({ length: n }, (_, i) => (prev ? prev[i]! : 0) + scale * a[i]! + b[i]!);
const TOL = { atol: 1e-5, rtol: 1e-5 };

describe('bind-group cache', () => {
  it('gives every dispatch over the same buffers its own uniforms (one group, many slots)', async () => {
    const rng = testRng(1);
    const [ha, hb] = [random(rng, n), random(rng, n)];
    const a = gpu.upload(ha, 'a');
    const b = gpu.upload(hb, 'b');
    const c = gpu.alloc(n, 'c');
    poison(c);
    const before = gpu.bindGroupStats();
    run(a, b, c, 1);
    run(a, b, c, 2, true);
    run(a, b, c, 3, true);
    const got = await gpu.read(c, n);
    const after = gpu.bindGroupStats();
    expect(after.created - before.created).toBe(1);
    expect(after.reused - before.reused).toBe(2);
    expectClose(got, want(ha, hb, 3, want(ha, hb, 2, want(ha, hb, 1))), TOL, 'three dispatches, one bind group');
    for (const x of [a, b, c]) gpu.release(x);
  });

  it('keeps the uniforms of submits made back to back apart (one arena, rewritten per submit)', async () => {
    // More dispatches than the arena has slots: the recorder submits part-way and rewrites the
    // arena for the rest while the first part may still run. Small integers: every sum is exact.
    const rng = testRng(6);
    const ha = Float32Array.from({ length: n }, () => rng.int(7) - 3);
    const hb = Float32Array.from({ length: n }, () => rng.int(5) - 2);
    const a = gpu.upload(ha, 'a');
    const b = gpu.upload(hb, 'b');
    const c = gpu.alloc(n, 'c');
    poison(c);
    const submits = gpu.submits;
    const count = 1500;
    let expected = new Float64Array(n);
    for (let i = 0; i < count; i++) {
      const scale = (i % 4) - 1;
      run(a, b, c, scale, i > 0);
      expected = want(ha, hb, scale, i > 0 ? expected : undefined);
    }
    expect(await gpu.read(c, n)).toEqual(Float32Array.from(expected));
    expect(gpu.submits - submits).toBeGreaterThan(1);
    for (const x of [a, b, c]) gpu.release(x);
  });

  it('serves buffers released and handed out again by the pool with their cached group and new contents', async () => {
    // A step as a training loop runs it: intermediates from the pool, released at the end. The
    // pool hands out the same buffers every time (pool.ts), so after the first step every
    // dispatch finds its group; the data in them is new each step.
    const rng = testRng(2);
    let last: GPUBuffer[] = [];
    for (let step = 0; step < 4; step++) {
      const a = gpu.alloc(n, 'a');
      const b = gpu.alloc(n, 'b');
      const c = gpu.alloc(n, 'c');
      const [ha, hb] = [random(rng, n), random(rng, n)];
      gpu.write(a, ha);
      gpu.write(b, hb);
      poison(c);
      const before = gpu.bindGroupStats();
      run(a, b, c, 0.5 + step);
      expectClose(await gpu.read(c, n), want(ha, hb, 0.5 + step), TOL, `step ${step}`);
      if (step > 0) {
        [a, b, c].forEach((x, i) => expect(x).toBe(last[i]));
        expect(gpu.bindGroupStats().created).toBe(before.created);
      }
      last = [a, b, c];
      for (const x of last) gpu.release(x);
    }
  });

  it('tells bindings apart by offset', async () => {
    const rng = testRng(3);
    const head = 256 / 4; // minStorageBufferOffsetAlignment, in floats
    const ha = random(rng, head + n);
    const hb = random(rng, n);
    const a = gpu.upload(ha, 'a');
    const b = gpu.upload(hb, 'b');
    const c0 = gpu.alloc(n, 'c0');
    const c1 = gpu.alloc(n, 'c1');
    poison(c0);
    poison(c1);
    const before = gpu.bindGroupStats();
    run({ buffer: a, offset: 0 }, b, c0, 1);
    run({ buffer: a, offset: 256 }, b, c1, 1);
    run(a, b, c0, 1); // offset 0 given as a bare buffer: the first group again
    expect(gpu.bindGroupStats().created - before.created).toBe(2);
    expectClose(await gpu.read(c0, n), want(ha, hb, 1), TOL, 'offset 0');
    expectClose(await gpu.read(c1, n), want(ha.subarray(head), hb, 1), TOL, 'offset 256 bytes');
    for (const x of [a, b, c0, c1]) gpu.release(x);
  });

  it('drops the groups of buffers the pool destroys, and binds the buffers made after them', async () => {
    const rng = testRng(4);
    const [ha, hb] = [random(rng, n), random(rng, n)];
    const a = gpu.upload(ha, 'a');
    const b = gpu.upload(hb, 'b');
    const c = gpu.alloc(n, 'c');
    run(a, b, c, 1);
    await gpu.sync();
    const cachedBefore = gpu.bindGroupStats().cached;
    for (const x of [a, b, c]) gpu.release(x);
    gpu.pool.trim(); // destroys them
    expect(gpu.bindGroupStats().cached).toBeLessThan(cachedBefore);
    // Fresh buffers of the same sizes: new objects, fresh groups, no destroyed buffer bound.
    const [ha2, hb2] = [random(rng, n), random(rng, n)];
    const a2 = gpu.upload(ha2, 'a');
    const b2 = gpu.upload(hb2, 'b');
    const c2 = gpu.alloc(n, 'c');
    expect([a2, b2, c2].some((x) => x === a || x === b || x === c)).toBe(false);
    poison(c2);
    const created = gpu.bindGroupStats().created;
    run(a2, b2, c2, 2);
    expectClose(await gpu.read(c2, n), want(ha2, hb2, 2), TOL, 'after trim');
    expect(gpu.bindGroupStats().created).toBe(created + 1);
    for (const x of [a2, b2, c2]) gpu.release(x);
  });

  it('keeps a real launcher (matmul) right across release, re-acquire and trim', async () => {
    const rng = testRng(5);
    const [M, N, K] = [13, 37, 29];
    const tol = matmulTolerance(K);
    for (let round = 0; round < 4; round++) {
      const ha = random(rng, M * K);
      const hb = random(rng, K * N);
      const a = gpu.upload(ha, 'A');
      const b = gpu.upload(hb, 'B');
      const c = gpu.alloc(M * N, 'C');
      poison(c);
      matmul(gpu, { a: { buffer: a, shape: [M, K] }, b: { buffer: b, shape: [K, N] }, c: { buffer: c, shape: [M, N] } });
      expectClose(await gpu.read(c, M * N), matmulRef(ha, hb, { M, N, K, batch: 1, transA: false, transB: false }), tol, `round ${round}`);
      for (const x of [a, b, c]) gpu.release(x);
      if (round === 1) gpu.pool.trim();
    }
    await gpu.sync(); // no validation error from a group over a destroyed buffer
  });

  it('empties itself at its capacity and goes on serving correct groups', () => {
    const cache = new BindGroupCache(gpu.device, 3);
    const uniform = gpu.device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM });
    const bufs = Array.from({ length: 5 }, (_, i) => gpu.alloc(n, `x${i}`));
    const max = gpu.limits.maxStorageBufferBindingSize;
    const g0 = cache.get(kernel.layout, uniform, [bufs[0]!, bufs[1]!, bufs[2]!], max, 'g0');
    expect(cache.get(kernel.layout, uniform, [bufs[0]!, bufs[1]!, bufs[2]!], max, 'g0')).toBe(g0);
    cache.get(kernel.layout, uniform, [bufs[1]!, bufs[2]!, bufs[3]!], max, 'g1');
    cache.get(kernel.layout, uniform, [bufs[2]!, bufs[3]!, bufs[4]!], max, 'g2');
    expect(cache.size).toBe(3);
    cache.get(kernel.layout, uniform, [bufs[3]!, bufs[4]!, bufs[0]!], max, 'g3');
    expect(cache.size).toBe(1);
    expect(cache.get(kernel.layout, uniform, [bufs[0]!, bufs[1]!, bufs[2]!], max, 'g0')).not.toBe(g0);
    cache.forget(bufs[0]!);
    expect(cache.size).toBe(0);
    expect(cache.stats).toEqual({ created: 5, reused: 1 });
    for (const x of bufs) gpu.release(x);
    uniform.destroy();
  });
});
