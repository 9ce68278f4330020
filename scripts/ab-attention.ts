// Device time per dispatch (GPU timestamps) of the fused attention, forward and both backward
// kernels, at the tiny step's unmasked shapes under each value of one setting (AB, default
// COCA_ATTENTION_MASKS; VALUES, default 0,1), the values alternating call by call so that both see
// the same machine; medians and quartiles over ROUNDS (default 12). First, whether every value
// gives the bits of the first (outputs poisoned with NaN before each run):
//   AB=COCA_ATTENTION_ROWS VALUES=3,4 npx tsx scripts/ab-attention.ts
import { Gpu } from '../src/gpu/gpu.ts';
import { attention, attentionBackward, releaseAttentionSaved } from '../kernels/attention.ts';
import { printMedians } from './ab-report.ts';
const gpu = await Gpu.open();
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const AB = process.env.AB ?? 'COCA_ATTENTION_MASKS';
const values = (process.env.VALUES ?? '0,1').split(',');
const ROUNDS = Number(process.env.ROUNDS ?? 12);
const shapes: [number, number, number, number, number][] = [[32, 4, 65, 65, 32], [32, 4, 32, 65, 32]];
gpu.enableProfiling({ byLabel: true });
for (const [B, H, Lq, Lk, D] of shapes) {
  const name = `${B}x${H}x${Lq}x${Lk}x${D}`;
  const [q, dO] = [rnd(B * H * Lq * D), rnd(B * H * Lq * D)].map((x) => gpu.upload(x, 'in')) as GPUBuffer[];
  const [k, v] = [rnd(B * H * Lk * D), rnd(B * H * Lk * D)].map((x) => gpu.upload(x, 'in')) as GPUBuffer[];
  const outs = { o: B * H * Lq * D, dq: B * H * Lq * D, dk: B * H * Lk * D, dv: B * H * Lk * D };
  const o = gpu.alloc(outs.o, 'o');
  const dq = gpu.alloc(outs.dq, 'dq');
  const dk = gpu.alloc(outs.dk, 'dk');
  const dv = gpu.alloc(outs.dv, 'dv');
  const run = (value: string, label: string) => {
    process.env[AB] = value;
    const call = { B, H, Lq, Lk, D, q: { buffer: q! }, k: { buffer: k! }, v: { buffer: v! }, o: { buffer: o }, path: 'fused' as const, fusedLayout: 'rows' as const, label };
    const saved = attention(gpu, call);
    attentionBackward(gpu, { ...call }, saved, { dO: { buffer: dO! }, dQ: { buffer: dq }, dK: { buffer: dk }, dV: { buffer: dv } });
    releaseAttentionSaved(gpu, saved);
  };
  let first: Float32Array | undefined;
  for (const value of values) {
    for (const [buf, n] of [[o, outs.o], [dq, outs.dq], [dk, outs.dk], [dv, outs.dv]] as const) gpu.write(buf, new Float32Array(n).fill(NaN));
    run(value, 'warm-up');
    const out = Float32Array.from([...(await gpu.read(o)), ...(await gpu.read(dq)), ...(await gpu.read(dk)), ...(await gpu.read(dv))]);
    if (!first) first = out;
    let diff = 0;
    for (let i = 0; i < out.length; i++) if (!Object.is(out[i], first[i])) diff++;
    console.log(`${name} ${AB}=${value}: ${diff} of ${out.length} values (O, dQ, dK, dV) differ from ${AB}=${values[0]}`);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const value of r % 2 ? [...values].reverse() : values) {
      run(value, `${name} ${AB}=${value}#${r}`);
      await gpu.sync();
    }
  }
  for (const x of [q!, dO!, k!, v!, o, dq, dk, dv]) gpu.release(x);
}
printMedians(gpu.profile());
gpu.destroy();
