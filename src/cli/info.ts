// `coca info`: what the GPU layer sees — backend, adapter, driver, features, limits.
import type { Argv } from 'yargs';
import { Gpu } from '../gpu/gpu.ts';

interface InfoArgs {
  json: boolean;
  brief: boolean;
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
      .option('brief', { type: 'boolean', default: false, describe: 'one line: backend and adapter' }),
  handler: async (args: InfoArgs) => {
    const gpu = await Gpu.open();
    const a = gpu.adapter;
    if (args.json) {
      console.log(JSON.stringify({ ...a, waitMode: gpu.waiter.mode, subgroupSize: gpu.subgroupSize }, null, 2));
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
      console.log(`wait mode      ${gpu.waiter.mode} (COCA_WAIT=sleep|await)`);
      console.log('limits');
      for (const k of SHOWN_LIMITS) console.log(`  ${k.padEnd(36)} ${/(Storage|Binding|Buffer)Size$/.test(k) ? mib(a.limits[k] ?? 0) : a.limits[k]}`);
    }
    gpu.destroy();
  },
};
