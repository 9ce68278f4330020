// `coca serve`: the web page and JSON API over one checkpoint (or several, captioning side by
// side) and one GPU device. Loopback unless told otherwise; SIGTERM/SIGINT stop taking requests,
// let those in flight finish, then exit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Argv } from 'yargs';
import { getGpu } from '../gpu/gpu.ts';
import { builtinIndexData } from '../infer/builtin-index.ts';
import { InferError, openCheckpoint, resolveCheckpointDir, type OpenCheckpoint } from '../infer/load.ts';
import { isBuiltinModelDir } from '../model/builtin.ts';
import { loadIndex, type RetrievalIndex } from '../infer/retrieval.ts';
import { checkpointArch } from '../model/arch.ts';
import { openCaptioner } from '../model/captioners/checkpoint.ts';
import { buildServer, DEFAULTS, type OtherCheckpoint } from '../serve/server.ts';
import { exportWeb } from '../web/export.node.ts';
import { checkNumber } from './numbers.ts';
import { builtinIndexOf } from './retrieve.ts';

interface ServeArgs {
  checkpoint?: string[];
  index?: string;
  port: number;
  host: string;
  'max-upload-mb': number;
  'max-pixels-mp': number;
  'max-batch': number;
  'batch-window-ms': number;
  'max-wait-s': number;
  'max-queue': number;
  log: boolean;
  web: boolean;
}

/** Why the server could not listen, in one line with what to do. */
function listenError(e: unknown, host: string, port: number): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new InferError(`port ${port} on ${host} is in use by another program; stop it or pick another --port (0 takes any free one)`);
  if (code === 'EACCES') return new InferError(`port ${port} on ${host} needs privileges this user lacks; pick a --port above 1023`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new InferError(`--host ${host} is not an address of this machine; use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)`);
  return e as Error;
}

/** The built-in test pictures' index for the built-in model; without built-in data the service starts with retrieval off, saying why. */
async function builtinIndexOrNone(ck: OpenCheckpoint): Promise<RetrievalIndex | null> {
  try {
    builtinIndexData();
  } catch (e) {
    console.error(`coca serve: ${(e as Error).message}; starting without retrieval`);
    return null;
  }
  return builtinIndexOf(ck);
}

export const serveCommand = {
  command: 'serve',
  describe: 'Serve a web page and JSON API: captions, retrieval, zero-shot classification',
  builder: (y: Argv) =>
    y
      .option('checkpoint', {
        type: 'string',
        array: true,
        describe:
          "checkpoint or run folder; give it several times to caption with each model side by side (any --arch; retrieval and zero-shot labels use the first, which must be a coca model) [default: the index's own, else the newest under runs/, else the built-in model (models/builtin), which searches the built-in test pictures when there is no index]",
      })
      .option('index', { type: 'string', describe: "retrieval index made by 'coca index build' [default: ./index if it exists]" })
      .option('port', { type: 'number', default: 8080, describe: 'TCP port (0 = any free one)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on; 0.0.0.0 exposes the service to the network' })
      .option('max-upload-mb', { type: 'number', default: 10, describe: 'largest upload accepted' })
      .option('max-pixels-mp', { type: 'number', default: DEFAULTS.maxPixels / 1e6, describe: 'largest picture accepted, in megapixels (decompression bombs are refused from the header)' })
      .option('max-batch', { type: 'number', default: DEFAULTS.maxBatch, describe: 'most caption requests decoded together in one GPU pass' })
      .option('batch-window-ms', { type: 'number', default: DEFAULTS.windowMs, describe: 'how long an idle device waits for more requests to batch' })
      .option('max-wait-s', { type: 'number', default: DEFAULTS.maxWaitMs / 1000, describe: 'a request not started on the GPU within this gets 503 with Retry-After' })
      .option('max-queue', { type: 'number', default: DEFAULTS.maxQueue, describe: 'requests waiting beyond this get 503 at once' })
      .option('log', { type: 'boolean', default: false, describe: 'log every request (JSON lines on stdout)' })
      .option('web', { type: 'boolean', default: false, describe: "also serve the checkpoint's static site (as coca export web writes it, with the index) at /web/: captions, labels and search on the visitor's GPU" })
      .example('$0 serve', 'http://127.0.0.1:8080 with the newest checkpoint and ./index')
      .example('$0 serve --index idx --port 0 --max-batch 32', 'any free port, bigger batches')
      .example('$0 serve --checkpoint runs/coca --checkpoint runs/sat', "each model's caption of a picture side by side"),
  handler: async (a: ServeArgs) => {
    const positive = (name: string, v: number, int = true) => {
      if (!(v > 0) || (int && !Number.isInteger(v))) throw new InferError(`--${name} must be a positive ${int ? 'integer' : 'number'}, got ${v}`);
    };
    positive('max-upload-mb', a['max-upload-mb'], false);
    positive('max-pixels-mp', a['max-pixels-mp'], false);
    positive('max-batch', a['max-batch']);
    positive('max-wait-s', a['max-wait-s'], false);
    positive('max-queue', a['max-queue']);
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new InferError(`--port must be 0..65535, got ${a.port}`);
    checkNumber('batch-window-ms', a['batch-window-ms'], { min: 0, max: 1000 });
    const indexDir = a.index ?? (fs.existsSync('index/items.json') ? 'index' : undefined);
    const [first, ...rest] = a.checkpoint ?? [];
    let ckArg = first;
    if (!ckArg && indexDir) {
      // Without --checkpoint, the index is read with the weights that built it.
      const meta = loadIndex(indexDir);
      if (fs.existsSync(meta.checkpoint.dir)) ckArg = meta.checkpoint.dir;
    }
    // Which checkpoint failed is named when there are several; one keeps its own message.
    const named = (arg: string | undefined, e: unknown) => (rest.length > 0 && e instanceof Error ? new InferError(`--checkpoint ${arg}: ${e.message}`) : e);
    if (rest.length > 0) {
      try {
        const arch = checkpointArch(resolveCheckpointDir(ckArg));
        if (arch !== 'coca') throw new InferError(`it holds a ${arch} model, but the first checkpoint answers retrieval and zero-shot labels, which need a coca model; put a coca checkpoint first`);
      } catch (e) {
        throw named(ckArg, e);
      }
    }
    const gpu = await getGpu();
    let ck: OpenCheckpoint;
    try {
      ck = openCheckpoint(gpu, ckArg);
    } catch (e) {
      throw named(ckArg, e);
    }
    const others: OtherCheckpoint[] = [];
    const releaseAll = () => {
      for (const o of others) o.ck.release();
      ck.release();
    };
    let index: RetrievalIndex | null = null;
    try {
      for (const arg of rest) {
        try {
          const dir = resolveCheckpointDir(arg);
          const arch = checkpointArch(dir);
          if (arch === 'devise') throw new InferError('it holds a devise model, which ranks labels and does not caption; coca serve shows captions: give checkpoints of the architectures that caption (coca classify takes a devise one)');
          others.push(arch === 'coca' ? { name: arg, arch, ck: openCheckpoint(gpu, dir) } : { name: arg, arch, ck: openCaptioner(gpu, dir) });
        } catch (e) {
          throw named(arg, e);
        }
      }
      // The built-in model without an index searches the built-in test pictures (cached after the first start).
      index = indexDir ? loadIndex(indexDir, ck.id) : isBuiltinModelDir(ck.dir) ? await builtinIndexOrNone(ck) : null;
    } catch (e) {
      releaseAll();
      throw e;
    }
    // The site is written to a temporary folder for the life of the process.
    const web = a.web ? fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-web-')) : undefined;
    const removeWeb = () => web && fs.rmSync(web, { recursive: true, force: true });
    if (web) {
      try {
        await exportWeb(ck.dir, web, index ? index.dir : undefined);
      } catch (e) {
        removeWeb();
        releaseAll();
        throw e;
      }
    }
    const served = await buildServer(gpu, ck, index, {
      maxUploadBytes: Math.round(a['max-upload-mb'] * 1048576),
      maxPixels: Math.round(a['max-pixels-mp'] * 1e6),
      maxBeams: DEFAULTS.maxBeams,
      maxBatch: a['max-batch'],
      windowMs: a['batch-window-ms'],
      maxWaitMs: a['max-wait-s'] * 1000,
      maxQueue: a['max-queue'],
      logger: a.log,
      web,
      ...(first !== undefined ? { name: first } : {}),
    }, others);
    let url: string;
    try {
      url = await served.app.listen({ port: a.port, host: a.host });
    } catch (e) {
      await served.close();
      releaseAll();
      gpu.destroy();
      removeWeb();
      throw listenError(e, a.host, a.port);
    }
    console.log(`coca serve: ${url}  checkpoint ${ck.dir} (${ck.id})${index ? `, index ${index.dir} (${index.items.length} pictures)` : ', no index (retrieval off)'}${web ? `; the site at ${url}/web/` : ''}`);
    for (const o of others) console.log(`coca serve: also captioning with ${o.name} (${o.arch}, ${o.ck.dir})`);
    if (a.host !== '127.0.0.1' && a.host !== 'localhost' && a.host !== '::1') console.log(`coca serve: listening on ${a.host}: reachable from the network, with no authentication`);
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`coca serve: ${sig}: finishing requests in flight, then exiting`);
      await served.close();
      releaseAll();
      gpu.destroy();
      removeWeb();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
    // The handler returns; the listening socket keeps the process alive.
  },
};
