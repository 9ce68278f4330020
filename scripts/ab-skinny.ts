// Device time per dispatch (GPU timestamps, by label) of the skinny matmul at a tiny decoding
// step's shapes (M = 1), with a COCA_* kernel setting two ways, interleaved in one process:
//   AB=COCA_SKINNY_SG npx tsx scripts/ab-skinny.ts      (default AB: COCA_VEC4B; values 0 and 1)
import { Gpu } from '../src/gpu/gpu.ts';
import { matmul } from '../kernels/matmul.ts';
const gpu = await Gpu.open();
const shapes: [string, number, number, boolean, boolean, boolean][] = [
  ['qkv+LN 384x128', 384, 128, true, true, false],
  ['out 128x128', 128, 128, true, false, false],
  ['fc+LN+GELU 512x128', 512, 128, true, true, true],
  ['proj 128x512', 128, 512, true, false, false],
  ['logits+LN 2048x128', 2048, 128, false, true, false],
  ['logits+LN 2048x128 Bt', 2048, 128, true, true, false],
];
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const REPS = 60;
gpu.enableProfiling({ byLabel: true });
for (let rep = 0; rep < 6; rep++) for (const v of (rep % 2 ? ['1', '0'] : ['0', '1'])) {
  process.env[process.env.AB ?? 'COCA_VEC4B'] = v;
  for (const [name, N, K, tB, ln, gl] of shapes) {
    const [a, b, g, be] = [rnd(K), rnd(N * K), rnd(K), rnd(K)].map((x, i) => gpu.upload(x, `in${i}`)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const c = gpu.alloc(N, 'c');
    const pre = gpu.alloc(N, 'pre');
    const call = () =>
      matmul(gpu, {
        label: `${name} ${process.env.AB ?? 'COCA_VEC4B'}=${v}`,
        a: { buffer: a, shape: [1, K] },
        b: { buffer: b, shape: tB ? [N, K] : [K, N] },
        c: { buffer: c, shape: [1, N] },
        transB: tB,
        ...(ln ? { layernorm: { gamma: { buffer: g }, beta: { buffer: be } } } : {}),
        ...(gl ? { gelu: { mode: 'apply' as const, preact: { buffer: pre } } } : {}),
      });
    for (let i = 0; i < REPS; i++) call();
    await gpu.sync();
    for (const x of [a, b, c, pre, g, be]) gpu.release(x);
  }
}
const prof = gpu.profile();
for (const [k, e] of [...prof].sort()) console.log(`${k.padEnd(40)} ${((e.ms / e.count) * 1000).toFixed(0)} µs a dispatch (${e.count})`);
