// Errors of the GPU layer. Each carries one line meant for a person: what went wrong and
// what to do. The CLI prints `message` alone (no stack) for these.
import { CocaError } from '../util/errors.ts';

/** No WebGPU adapter could be had on this machine. */
export class NoAdapterError extends CocaError {
  override name = 'NoAdapterError';
}

/** A shader failed to compile or a pipeline failed to build; names file and entry point. */
export class ShaderError extends CocaError {
  override name = 'ShaderError';
}

/** A validation or out-of-memory error raised while GPU work was recorded or submitted. */
export class GpuRuntimeError extends CocaError {
  override name = 'GpuRuntimeError';
}

/** The device was lost (driver reset, out of memory at the driver level, destroyed). */
export class DeviceLostError extends CocaError {
  override name = 'DeviceLostError';
}

/** A kernel was called with shapes or buffers that do not fit; names the shapes. */
export class ShapeError extends CocaError {
  override name = 'ShapeError';
}
