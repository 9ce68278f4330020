// Entry of the loader's worker threads: TypeScript hooks are per thread, so register tsx here
// before loading the TypeScript worker.
import { register } from 'tsx/esm/api';
register();
await import('./prep-worker.ts');
