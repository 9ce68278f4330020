// Errors of open_clip interop. One line for a person: what is wrong, where, and what to do.
import { CocaError } from '../util/errors.ts';

/** An open_clip checkpoint or config that cannot be imported, or a coca one that cannot be exported. */
export class InteropError extends CocaError {
  override name = 'InteropError';
}
