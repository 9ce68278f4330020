// Every family `coca bench` knows, in the order `coca bench all` runs them. A new kernel family
// adds its BenchFamily here.
import { matmulBench } from '../../kernels/matmul.bench.ts';
import type { BenchFamily } from './family.ts';
import { waitBench } from './wait.ts';

export const BENCH_FAMILIES: BenchFamily[] = [matmulBench, waitBench];
