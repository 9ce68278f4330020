// Errors of the model layer. One line for a person: what is wrong, where, and what to do.
import { CocaError } from '../util/errors.ts';

/** A model config that cannot be used: names the key path (`vision_cfg.width`) and the problem. */
export class ConfigError extends CocaError {
  override name = 'ConfigError';
}

/** A safetensors file that cannot be read or written: names the file and the problem. */
export class SafetensorsError extends CocaError {
  override name = 'SafetensorsError';
}

/** A checkpoint folder that cannot be read or written: names the folder or file and the problem. */
export class CheckpointError extends CocaError {
  override name = 'CheckpointError';
}
