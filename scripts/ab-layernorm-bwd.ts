// Device time per dispatch (GPU timestamps) of layernorm's backward at the tiny step's shapes,
// one subgroup per workgroup (layernorm_sg.wgsl) against the barrier kernel (COCA_LN_SG=0), the
// two alternating call by call; medians and quartiles over ROUNDS (default 16):
//   npx tsx scripts/ab-layernorm-bwd.ts
import { Gpu } from '../src/gpu/gpu.ts';
import { layernorm, layernormBackward } from '../kernels/layernorm.ts';
import { printMedians } from './ab-report.ts';
const gpu = await Gpu.open();
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const ROUNDS = Number(process.env.ROUNDS ?? 16);
gpu.enableProfiling({ byLabel: true });
for (const [rows, cols] of [[2080, 128], [1024, 128], [1056, 128]] as const) {
  const t = (buffer: GPUBuffer, shape: number[]) => ({ buffer, shape });
  const [x, dy, gamma, beta] = [rnd(rows * cols), rnd(rows * cols), rnd(cols), rnd(cols)].map((a) => gpu.upload(a, 'in')) as GPUBuffer[];
  const [y, mean, rstd, dx, dg, db] = [rows * cols, rows, rows, rows * cols, cols, cols].map((n) => gpu.alloc(n, 'out'));
  layernorm(gpu, { x: t(x!, [rows, cols]), gamma: t(gamma!, [cols]), beta: t(beta!, [cols]), y: t(y!, [rows, cols]), mean: t(mean!, [rows]), rstd: t(rstd!, [rows]) });
  for (let r = -1; r < ROUNDS; r++) {
    for (const v of r % 2 ? ['1', '0'] : ['0', '1']) {
      process.env.COCA_LN_SG = v;
      layernormBackward(gpu, { x: t(x!, [rows, cols]), gamma: t(gamma!, [cols]), mean: t(mean!, [rows]), rstd: t(rstd!, [rows]), dy: t(dy!, [rows, cols]), dx: t(dx!, [rows, cols]), dgamma: t(dg!, [cols]), dbeta: t(db!, [cols]), label: r < 0 ? 'warm-up' : `[${rows}, ${cols}] COCA_LN_SG=${v}#${r}` });
      await gpu.sync();
    }
  }
  for (const b of [x, dy, gamma, beta, y, mean, rstd, dx, dg, db]) gpu.release(b!);
}
printMedians(gpu.profile(), 3);
gpu.destroy();
