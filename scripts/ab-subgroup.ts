// Device time per dispatch (GPU timestamps) of the subgroup matmul at the tiny step's shapes under
// each value of one setting (AB, default COCA_SG_VEC4; VALUES, default 0,1), dispatches of the
// values alternating one by one so that both see the same machine; medians and quartiles over
// ROUNDS (default 16). First, whether every value gives the bits of the first (outputs poisoned
// with NaN before each run):
//   AB=COCA_SG_NSUB VALUES=1,2 SHAPES=ln npx tsx scripts/ab-subgroup.ts
import { Gpu } from '../src/gpu/gpu.ts';
import { matmul } from '../kernels/matmul.ts';
import { printMedians } from './ab-report.ts';
const gpu = await Gpu.open();
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const AB = process.env.AB ?? 'COCA_SG_VEC4';
const values = (process.env.VALUES ?? '0,1').split(',');
const ROUNDS = Number(process.env.ROUNDS ?? 16);
// [M, N, K, transA, transB, layernorm prologue ('out': also writing the layernorm's outputs)]
type Shape = [number, number, number, boolean, boolean, boolean | 'out'];
const shapes: Shape[] = ([
  [2080, 384, 128, false, true, true],   // qkv with the layernorm prologue (W stored [N, K])
  [2080, 384, 128, false, true, 'out'],  // the same writing the layernorm's outputs, as in training
  [2080, 512, 128, false, true, 'out'],  // c_fc in training
  [2080, 512, 128, false, true, false],  // c_fc without
  [2080, 128, 512, false, true, false],  // c_proj
  [2080, 128, 512, false, false, false], // dx = dy·W
  [512, 128, 2080, true, false, false],  // dW = dyᵀ·x
] as Shape[]).filter(([, , , , , ln]) => !process.env.SHAPES || (process.env.SHAPES === 'ln') === !!ln);
const name = ([M, N, K, tA, tB, ln]: Shape) => `${M}x${N}x${K} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}${ln ? ` ln${ln === 'out' ? '+out' : ''}` : ''}`;
gpu.enableProfiling({ byLabel: true });
for (const shape of shapes) {
  const [M, N, K, tA, tB, ln] = shape;
  const [a, b, g, be] = [M * K, K * N, K, K].map((n, i) => gpu.upload(rnd(n), `in${i}`)) as GPUBuffer[];
  const c = gpu.alloc(M * N, 'c');
  const lo = gpu.alloc(M * K + 2 * M, 'ln-out');
  const run = (v: string, label: string) => {
    process.env[AB] = v;
    matmul(gpu, {
      a: { buffer: a!, shape: tA ? [K, M] : [M, K] }, b: { buffer: b!, shape: tB ? [N, K] : [K, N] }, c: { buffer: c, shape: [M, N] },
      transA: tA, transB: tB, variant: 'subgroup', label,
      ...(ln ? { layernorm: { gamma: { buffer: g! }, beta: { buffer: be! }, ...(ln === 'out' ? { out: { buffer: lo, y: 0, mean: M * K, rstd: M * K + M } } : {}) } } : {}),
    });
  };
  let first: Float32Array | undefined;
  for (const v of values) {
    gpu.write(c, new Float32Array(M * N).fill(NaN));
    gpu.write(lo, new Float32Array(M * K + 2 * M).fill(NaN));
    run(v, 'warm-up');
    const out = Float32Array.from([...(await gpu.read(c)), ...(ln === 'out' ? await gpu.read(lo) : [])]);
    if (!first) first = out;
    let diff = 0;
    for (let i = 0; i < out.length; i++) if (!Object.is(out[i], first[i])) diff++;
    console.log(`${name(shape)} ${AB}=${v}: ${diff} of ${out.length} values differ from ${AB}=${values[0]}`);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of r % 2 ? [...values].reverse() : values) {
      run(v, `${name(shape)} ${AB}=${v}#${r}`);
      await gpu.sync();
    }
  }
  for (const x of [a!, b!, g!, be!, c, lo]) gpu.release(x);
}
printMedians(gpu.profile());
gpu.destroy();
