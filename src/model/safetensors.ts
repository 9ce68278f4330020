// safetensors files (the format itself: safetensors-format.ts). Writes go to a temp file in the
// same folder, fsync'd, then renamed over the target, so a crash or a full disk never leaves a
// half-written checkpoint under the real name.
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsError } from './errors.ts';
import { entries, parseSafetensors, planSafetensors, type Safetensors, type TensorIn } from './safetensors-format.ts';

export * from './safetensors-format.ts';

export function readSafetensors(file: string): Safetensors {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new SafetensorsError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseSafetensors(bytes, file);
}

/** Writes atomically: temp file beside the target, fsync, rename. The target is untouched on error. */
export function writeSafetensors(file: string, tensors: Map<string, TensorIn> | Record<string, TensorIn>, metadata?: Record<string, string>): void {
  const { header, chunks } = planSafetensors(entries(tensors), metadata);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    fs.writeSync(fd, header);
    for (const c of chunks) {
      // writeSync may write less than asked for large buffers.
      for (let done = 0; done < c.length; ) done += fs.writeSync(fd, c, done, c.length - done);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new SafetensorsError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); nothing was changed`);
  }
}
