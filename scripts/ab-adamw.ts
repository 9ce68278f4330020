// Device time per dispatch (GPU timestamps) of the AdamW update over tiny's flat parameter arena
// (2,416,640 decayed and 299,456 not), the vec4 entry point against the scalar one
// (COCA_ADAMW_VEC4=0), alternating call by call; medians and quartiles over ROUNDS (default 16):
//   npx tsx scripts/ab-adamw.ts
import { Gpu } from '../src/gpu/gpu.ts';
import { adamw } from '../kernels/adamw.ts';
import { printMedians } from './ab-report.ts';
const gpu = await Gpu.open();
const ROUNDS = Number(process.env.ROUNDS ?? 16);
const [decayed, rest] = [2416640, 299456];
const n = decayed + rest;
const rnd = () => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const [params, grads, m, v] = [rnd(), rnd(), new Float32Array(n), new Float32Array(n)].map((x) => gpu.upload(x, 'arena')) as GPUBuffer[];
gpu.enableProfiling({ byLabel: true });
for (let r = -1; r < ROUNDS; r++) {
  for (const value of r % 2 ? ['1', '0'] : ['0', '1']) {
    process.env.COCA_ADAMW_VEC4 = value;
    adamw(gpu, { params: params!, grads: grads!, m: m!, v: v!, segments: [{ offset: 0, length: decayed, decay: true }, { offset: decayed, length: rest, decay: false }], step: r + 2, hyper: { lr: 1e-4 }, label: r < 0 ? 'warm-up' : `adamw COCA_ADAMW_VEC4=${value}#${r}` });
    await gpu.sync();
  }
}
printMedians(gpu.profile());
gpu.destroy();
