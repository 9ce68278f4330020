// `coca info`: what the GPU layer sees — backend, adapter, driver, features, limits.
import type { Argv } from 'yargs';
import { kernelChoices, mixedPrecisionChoice } from '../../kernels/choices.ts';
import { Gpu } from '../gpu/gpu.ts';
import { probeAdapter, SUBGROUP_MATRIX_FEATURE, type AdapterProbe } from '../gpu/probe.ts';
import { kernelShapes } from './kernel-shapes.ts';

interface InfoArgs {
  json: boolean;
  brief: boolean;
  kernels: boolean;
}

function subgroupMatrixLine(p: AdapterProbe | null): string {
  if (!p) return 'not probed (no adapter with unsafe APIs allowed)';
  if (!p.subgroupMatrixConfigs) return `no (adapter lacks ${SUBGROUP_MATRIX_FEATURE})`;
  if (!p.subgroupMatrixConfigs.length) return 'feature listed, no configurations reported';
  return p.subgroupMatrixConfigs.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ');
}

/** The heuristics' choice per shape, as a table (or JSON rows). */
function printKernels(gpu: Gpu, json: boolean): void {
  const { matmuls, attentions } = kernelShapes();
  const rows = kernelChoices(gpu, matmuls, attentions);
  if (json) {
    console.log(JSON.stringify({ adapterClass: gpu.software ? 'software' : 'gpu', subgroupSize: gpu.subgroupSize, choices: rows, f16Products: mixedPrecisionChoice(gpu) }, null, 2));
    return;
  }
  const forced = [process.env.COCA_MATMUL && `COCA_MATMUL=${process.env.COCA_MATMUL}`, process.env.COCA_ATTENTION && `COCA_ATTENTION=${process.env.COCA_ATTENTION}`].filter(Boolean);
  console.log(`kernel choices for this adapter (${gpu.software ? 'software' : 'GPU'}, subgroup size ${gpu.subgroupSize || 'not fixed'})${forced.length ? `; forced by ${forced.join(', ')}` : ''}`);
  const w = Math.max(...rows.map((r) => r.shape.length));
  const ww = Math.max(...rows.map((r) => r.where.length));
  for (const op of ['matmul', 'attention'] as const) {
    console.log(op === 'matmul' ? 'matmul      M x N x K' : 'attention   B·H x Lq x Lk x D');
    for (const r of rows.filter((x) => x.op === op)) console.log(`  ${r.shape.padEnd(w)}  ${r.where.padEnd(ww)}  ${r.choice}`);
  }
  console.log(`matmul f16 (--precision f16's products, any shape): ${mixedPrecisionChoice(gpu)}`);
}

const SHOWN_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxBufferSize',
];

export const infoCommand = {
  command: 'info',
  describe: 'Show the WebGPU adapter coca uses: backend, driver, features and limits',
  builder: (y: Argv) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print everything as JSON' })
      .option('brief', { type: 'boolean', default: false, describe: 'one line: backend and adapter' })
      .option('kernels', {
        type: 'boolean',
        default: false,
        describe: "the matmul variant and attention path coca picks on this adapter for each preset's shapes and the bench sizes (with --json: as JSON)",
      }),
  handler: async (args: InfoArgs) => {
    const gpu = await Gpu.open();
    const a = gpu.adapter;
    if (args.kernels) {
      printKernels(gpu, args.json);
      gpu.destroy();
      return;
    }
    const probe = args.brief ? null : await probeAdapter(a.backend);
    if (args.json) {
      console.log(JSON.stringify({ ...a, waitMode: gpu.waiter.mode, subgroupSize: gpu.subgroupSize, adapterFeatures: probe?.features ?? null, subgroupMatrixConfigs: probe?.subgroupMatrixConfigs ?? null }, null, 2));
    } else if (args.brief) {
      console.log(`WebGPU adapter: ${a.backend} · ${a.vendor} ${a.architecture} · ${a.description || a.device} · features: ${a.features.join(', ') || 'none'}`);
    } else {
      const mib = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(0)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KiB` : String(n));
      console.log(`backend        ${a.backend}${a.isFallbackAdapter ? ' (software fallback adapter)' : ''}`);
      console.log(`vendor         ${a.vendor}`);
      console.log(`architecture   ${a.architecture}`);
      console.log(`device         ${a.device}`);
      console.log(`driver         ${a.description}`);
      console.log(`subgroups      ${gpu.has('subgroups') ? `size ${a.subgroupMinSize}${a.subgroupMaxSize !== a.subgroupMinSize ? `-${a.subgroupMaxSize}` : ''}` : 'no'}`);
      console.log(`shader-f16     ${gpu.has('shader-f16') ? 'yes' : 'no'}`);
      console.log(`timestamps     ${gpu.has('timestamp-query') ? 'yes' : 'no'}`);
      console.log(`subgroup matrix ${subgroupMatrixLine(probe)}`);
      console.log(`all features   ${probe ? probe.features.join(', ') : 'not probed'}`);
      console.log(`wait mode      ${gpu.waiter.mode} (COCA_WAIT=sleep|await)`);
      console.log('limits');
      for (const k of SHOWN_LIMITS) console.log(`  ${k.padEnd(36)} ${/(Storage|Binding|Buffer)Size$/.test(k) ? mib(a.limits[k] ?? 0) : a.limits[k]}`);
    }
    gpu.destroy();
  },
};
