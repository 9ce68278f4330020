// Every family `coca bench` knows, in the order `coca bench all` runs them. A new kernel family
// adds its BenchFamily here; the harness they share is kernels/bench/.
import { adamwBench } from '../../kernels/adamw.bench.ts';
import { attentionBench } from '../../kernels/attention.bench.ts';
import { crossEntropyBench } from '../../kernels/crossentropy.bench.ts';
import { embeddingBench } from '../../kernels/embedding.bench.ts';
import { matmulBench } from '../../kernels/matmul.bench.ts';
import { matmulF16Bench } from '../../kernels/matmul-f16.bench.ts';
import { pointwiseBench } from '../../kernels/pointwise.bench.ts';
import { reduceBench } from '../../kernels/reduce.bench.ts';
import { softmaxBench } from '../../kernels/softmax.bench.ts';
import { layernormBench } from '../../kernels/layernorm.bench.ts';
import { conv2dBench } from '../../kernels/conv2d.bench.ts';
import { poolBench } from '../../kernels/pool.bench.ts';
import { batchnormBench } from '../../kernels/batchnorm.bench.ts';
import { lstmBench } from '../../kernels/lstm.bench.ts';
import { decodeBench } from './decode.ts';
import type { BenchFamily } from '../../kernels/bench/harness.ts';
import { stepBench } from './step.ts';
import { precisionBench } from './precision.ts';
import { gradCacheBench } from './gradcache.ts';
import { openclipBench } from './openclip.ts';
import { webBench } from './web.ts';
import { openclipBeamBench } from './openclip-beam.ts';
import { waitBench } from '../../kernels/bench/wait.ts';

// One entry per line, so that families added side by side only insert lines.
export const BENCH_FAMILIES: BenchFamily[] = [
  matmulBench,
  matmulF16Bench,
  embeddingBench,
  crossEntropyBench,
  adamwBench,
  pointwiseBench,
  reduceBench,
  softmaxBench,
  layernormBench,
  attentionBench,
  conv2dBench,
  poolBench,
  batchnormBench,
  lstmBench,
  waitBench,
  decodeBench,
  stepBench,
  precisionBench,
  gradCacheBench,
  openclipBench,
  webBench,
  openclipBeamBench,
];
