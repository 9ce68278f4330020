// Worker thread of the loader: prepares the images of the rows it is sent and returns each
// tensor (transferred, not copied), or the one-line reason a picture could not be read.
import { parentPort } from 'node:worker_threads';
import { readSource, tensorise, type PrepTask } from './prep.ts';

export interface PrepRequest {
  id: number;
  tasks: PrepTask[];
}

export interface PrepReply {
  id: number;
  results: ({ ok: true; data: Float32Array } | { ok: false; message: string })[];
}

parentPort!.on('message', async (req: PrepRequest) => {
  const results = await Promise.all(
    req.tasks.map(async (t) => {
      try {
        const data = new Float32Array(3 * t.pre.size * t.pre.size);
        tensorise(await readSource(t.source, t.train, t.pre), t, data, 0);
        return { ok: true as const, data };
      } catch (e) {
        return { ok: false as const, message: (e as Error).message.split('\n')[0]! };
      }
    }),
  );
  const transfer = results.flatMap((r) => (r.ok ? [r.data.buffer as ArrayBuffer] : []));
  parentPort!.postMessage({ id: req.id, results } satisfies PrepReply, transfer);
});
