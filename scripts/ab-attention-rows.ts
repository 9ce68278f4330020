// Device time per dispatch (GPU timestamps, by label) of the fused attention forward ('rows'
// layout) at the tiny step's shapes with R, the query rows per lane, forced through
// COCA_ATTENTION_ROWS, the values interleaved in one process:
//   npx tsx scripts/ab-attention-rows.ts            (RF_LIST=4,3,2,1 by default)
import { Gpu } from '../src/gpu/gpu.ts';
import { attention, releaseAttentionSaved } from '../kernels/attention.ts';
const gpu = await Gpu.open();
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const rows = (process.env.RF_LIST ?? '4,3,2,1').split(',');
const shapes: [number, number, number, number][] = [[32, 4, 65, 32], [32, 4, 33, 32]];
const REPS = 6;
for (let rep = -1; rep < 6; rep++) {
  if (rep === 0) gpu.enableProfiling({ byLabel: true });
  for (const [B, H, L, D] of shapes) {
    const n = B * H * L * D;
    const [q, k, v] = [rnd(n), rnd(n), rnd(n)].map((x, i) => gpu.upload(x, `in${i}`)) as GPUBuffer[];
    const o = gpu.alloc(n, 'o');
    for (const r of rep % 2 ? [...rows].reverse() : rows) {
      process.env.COCA_ATTENTION_ROWS = r;
      for (let i = 0; i < REPS; i++) {
        const saved = attention(gpu, { B, H, Lq: L, Lk: L, D, q: { buffer: q! }, k: { buffer: k! }, v: { buffer: v! }, o: { buffer: o }, path: 'fused', fusedLayout: 'rows', label: `${B}x${H}x${L}x${D} R=${r}` });
        releaseAttentionSaved(gpu, saved);
      }
      await gpu.sync();
    }
    for (const x of [q!, k!, v!, o]) gpu.release(x);
  }
}
for (const [key, e] of [...gpu.profile()].sort()) console.log(`${key.padEnd(24)} ${(e.ms / e.count).toFixed(2)} ms a forward (${e.count})`);
gpu.destroy();
