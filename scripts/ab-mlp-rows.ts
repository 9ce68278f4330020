// Wall time of a pre-norm MLP of M rows (tiny's 128 → 512 → 128, no tape) in one dispatch
// (kernels/mlp_rows.ts) against the two matmuls (COCA_MLP_ROWS=0), the two alternating round by
// round; each round records CALLS calls and waits for them. Medians and quartiles per M:
//   npx tsx scripts/ab-mlp-rows.ts [M,...]
import { Gpu } from '../src/gpu/gpu.ts';
import { mlpGelu } from '../src/tensor/ops/linear.ts';
import { noGrad } from '../src/tensor/tape.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/prng.ts';
import { quantile } from './ab-report.ts';

const rowsList = (process.argv[2] ?? '1,2,4,8,16').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 12);
const CALLS = 20;
const [K, H] = [128, 512];
const gpu = await Gpu.open();
const rng = new Rng(1);
const t = (n: number, shape: number[], s = 1) => Tensor.fromArray(gpu, rng.floats(n, -s, s), shape, 'in');
const [w1, b1, w2, b2, g, be] = [t(H * K, [H, K], 0.1), t(H, [H]), t(K * H, [K, H], 0.05), t(K, [K]), t(K, [K]), t(K, [K])];
for (const M of rowsList) {
  const x = t(M * K, [M, K]);
  const ms: Record<string, number[]> = { one: [], two: [] };
  for (let r = -1; r < ROUNDS; r++) {
    for (const way of r % 2 ? ['two', 'one'] : ['one', 'two']) {
      process.env.COCA_MLP_ROWS = way === 'one' ? String(M) : '0';
      const t0 = performance.now();
      for (let i = 0; i < CALLS; i++) noGrad(() => mlpGelu({ x, norm: { weight: g!, bias: be! } }, w1!, b1!, w2!, b2!, x)).release();
      await gpu.sync();
      if (r >= 0) ms[way]!.push((performance.now() - t0) / CALLS);
    }
  }
  const show = (a: number[]) => `${quantile(a, 0.5).toFixed(3)} ms (quartiles ${quantile(a, 0.25).toFixed(3)}–${quantile(a, 0.75).toFixed(3)})`;
  console.log(`M = ${M}: one dispatch ${show(ms.one!)}, two matmuls ${show(ms.two!)}`);
  x.release();
}
gpu.destroy();
